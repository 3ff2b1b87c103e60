"""The model's host side of the seam (``testbed.system.HostSystem``): the compute manager,
with the task commands its methods declare (``testbed.system.command``).

It adds nothing to what the manager does: it only says, in the seam's words, how the host
process starts it, audits, shows its devices and describes itself."""

from __future__ import annotations

from typing import Any

from hosts.model.manager import ComputeManager
from hosts.model.pci import PciDeviceUnavailable
from hosts.seam import ManagerSeam
from testbed.system import commands_of


class ModelHost(ManagerSeam, ComputeManager):
    expected_failures = (PciDeviceUnavailable,)

    def report(self) -> dict[str, Any]:
        return {"system": "model", "tracker": self.config.cluster.tracker}


ModelHost.commands = commands_of(ModelHost)
