"""A host-model variant with a race planted where the explorer was never told to look: the
build path against the audit, on one host, with the evacuation path left fixed.

The planted bug: the audit counts a server that is still building among those whose devices
may be removed (``ALLOW_RESOURCE_REMOVAL``), as if it were deleted. A build claims and
allocates its devices under the lock, spawns, and only then marks the server active: an audit
that lists the host's servers between the claim and that save frees the new server's devices.
Its fixed twin marks the server active inside the claim's critical section, so the audit can
never see it building with devices.

Used as ``cluster.host_entry = "planted_race:main"`` (``tests/`` is on the path of the test
session and of the hosts it forks): ``buggy`` is the planted variant, ``fixed`` its twin.
"""

from __future__ import annotations

from typing import Any

from hosts import process
from hosts.model import resource_tracker as rt
from testbed.vocabulary import VmState


class PlantedRace(rt.ResourceTracker):
    ALLOW_RESOURCE_REMOVAL = (*rt.ResourceTracker.ALLOW_RESOURCE_REMOVAL, VmState.BUILDING)


class PlantedRaceFixed(PlantedRace):
    def instance_claim(self, instance: dict[str, Any]) -> None:
        self.inject("build.claim")
        with self.lock:
            self.pci_tracker.claim_instance(instance["uuid"], instance["pci_count"])
            self.pci_tracker.allocate_instance(instance["uuid"])
            self._save()
            self.conductor.instance_save(instance["uuid"], vm_state=VmState.ACTIVE)


def main(*args: Any) -> None:
    rt.TRACKERS.update(buggy=PlantedRace, fixed=PlantedRaceFixed)
    process.main(*args)
