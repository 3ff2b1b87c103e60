"""Nova bug 1896463 as a small in-process program: an evacuation to host2 and host2's periodic
resource audit, each a thread, sharing one resource lock and the records a real compute host
reads from its database (docs/design.md, "The race").

The evacuation makes its move claim under the lock, then finishes outside it (the bug): it
sets the instance's host, drops its migration context and marks the migration done. The audit,
under the lock for its whole run, lists the instances of host2, then the in-progress migrations
to host2, and frees every device bound to an instance in neither list. With the fix, the
evacuation's finish takes the lock too. The check: the instance keeps its device on host2.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field


@dataclass
class Host2:
    """host2's records: the instance, its migration, and the PCI device bindings."""

    fixed: bool = False
    lock: threading.Lock = field(default_factory=lambda: threading.Lock())  # patched or not
    instance_host: str = "host1"
    migration_context: bool = False
    migration_status: str = "accepted"
    bound: dict[str, str] = field(default_factory=dict)  # device -> instance

    # -- the evacuation (rebuild on host2) ----------------------------------------------------
    def evacuate(self) -> None:
        with self.lock:  # move claim
            self.migration_context = True
            self.migration_status = "running"
            self.bound["0000:81:00.0"] = "vm1"
        if self.fixed:
            with self.lock:
                self._finish()
        else:
            self._finish()

    def _finish(self) -> None:
        self.instance_host = "host2"
        self.migration_context = False
        self.migration_status = "done"

    # -- the periodic audit (update_available_resource) -----------------------------------------
    def audit(self) -> None:
        with self.lock:
            instances = {"vm1"} if self.instance_host == "host2" else set()
            migrations = {"vm1"} if self.migration_status in ("accepted", "running") else set()
            keep = instances | migrations
            for device, instance in list(self.bound.items()):
                if instance not in keep:
                    del self.bound[device]

    def holds(self) -> bool:
        """The evacuated instance still has its device on host2."""
        return self.bound.get("0000:81:00.0") == "vm1"


def buggy() -> Host2:
    return Host2(fixed=False)


def fixed() -> Host2:
    return Host2(fixed=True)
