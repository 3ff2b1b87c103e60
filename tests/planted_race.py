"""A host-model variant with a race planted where the explorer was never told to look: the
build path against the audit, on one host.

The planted bug: the audit counts a server that is still building among those whose devices
may be removed (``allow_resource_removal``), as if it were deleted. A build claims and
allocates its devices under the lock, spawns, and only then marks the server active: an audit
that lists the host's servers between the claim and that save frees the new server's devices.

Like every difference of the model, the set of fixes decides it: the planted race is bug
2025480's mistake (the audit frees the devices of a server that is just starting) on another
path, so that fix's switch covers it too. With 2025480 on (``fixed``), a building server keeps
its resources and the variant is the model itself; with it off (``buggy``), the race is there.

Planted through the model's one seam (``hosts.model.manager``): used as ``cluster.host_entry =
"planted_race:main"`` (``tests/`` is on the path of the test session and of the hosts it forks).
"""

from __future__ import annotations

from typing import Any

from hosts import process
from hosts.model.manager import ComputeManager
from hosts.model.resource_tracker import ResourceTracker
from testbed.vocabulary import VmState

FIX = "2025480"


class PlantedRace(ResourceTracker):
    def _allow_resource_removal(self, instance: dict[str, Any]) -> bool:
        if instance["vm_state"] == VmState.BUILDING and FIX not in self.fixes:
            return True  # the planted bug
        return super()._allow_resource_removal(instance)


def main(*args: Any) -> None:
    ComputeManager.tracker_class = PlantedRace
    process.main(*args)
