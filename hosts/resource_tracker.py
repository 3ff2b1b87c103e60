"""The resource tracker, after ``nova/compute/resource_tracker.py``.

One lock (Nova's ``COMPUTE_RESOURCE_SEMAPHORE``) guards every claim and the whole periodic
audit. Two trackers ship: ``fixed`` finishes an evacuation under the lock, as Nova's fix for
bug 1896463 does; ``buggy`` finishes it outside the lock, as Nova did before. They must not
differ anywhere else: that one difference is what the scenarios tell apart."""

from __future__ import annotations

import logging
import threading
from typing import Any

from hosts.conductor_api import ConductorAPI
from hosts.injection import Injector
from hosts.pci import PciDevTracker
from testbed.vocabulary import Event, MigrationStatus, VmState

log = logging.getLogger("testbed.host.resource_tracker")


class TracedLock:
    """The resource lock. On a traced host every request, wait, acquisition and release is
    reported, so the orchestrator can order lock holders and see who blocks whom."""

    def __init__(self, inject: Injector) -> None:
        self._lock = threading.Lock()
        self.inject = inject

    def __enter__(self) -> TracedLock:
        self.inject.lock_event(Event.LOCK_REQUEST)
        if not self._lock.acquire(blocking=False):
            self.inject.lock_event(Event.LOCK_WAIT)
            self._lock.acquire()
        self.inject.lock_event(Event.LOCK_ACQUIRED)
        return self

    def __exit__(self, *exc: object) -> None:
        self._lock.release()
        self.inject.lock_event(Event.LOCK_RELEASED)

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        return self._lock.acquire(blocking, timeout)

    def release(self) -> None:
        self._lock.release()

    def locked(self) -> bool:
        return self._lock.locked()


class ResourceTracker:
    def __init__(self, host: str, pci: PciDevTracker, conductor: ConductorAPI, inject: Injector):
        self.host, self.pci_tracker = host, pci
        self.conductor, self.inject = conductor, inject
        self.lock = TracedLock(inject)  # COMPUTE_RESOURCE_SEMAPHORE

    def _save(self) -> None:
        """Nova ``_update``: write the compute node's device states back."""
        self.conductor.pci_save(self.pci_tracker.to_records())

    # -- claims -------------------------------------------------------------------------
    def instance_claim(self, instance: dict[str, Any]) -> None:
        """Build: claim the instance's devices and allocate them (Nova ``instance_claim``)."""
        self.inject("build.claim")
        with self.lock:
            self.pci_tracker.claim_instance(instance["uuid"], instance["pci_count"])
            self.pci_tracker.allocate_instance(instance["uuid"])
            self._save()

    def rebuild_claim(self, instance: dict[str, Any], migration: dict[str, Any]) -> None:
        """Evacuation: a move claim on the destination (Nova ``rebuild_claim``/``_move_claim``).

        The instance gets a migration context; its host is still the source."""
        self.inject("evacuate.claim")
        with self.lock:
            devs = self.pci_tracker.claim_instance(instance["uuid"], instance["pci_count"])
            self._save()
            context = {
                "migration": migration["id"],
                "source": migration["source"],
                "dest": self.host,
                "pci": [d.address for d in devs],
            }
            self.conductor.instance_save(instance["uuid"], migration_context=context)
            self.conductor.migration_save(migration["id"], MigrationStatus.PRE_MIGRATING)

    def free_instance(self, uuid: str) -> None:
        """Delete (and clean-up): free the instance's devices on this host."""
        self.inject("delete.free")
        with self.lock:
            if self.pci_tracker.free_instance(uuid):
                self._save()

    # -- the evacuation's last steps ------------------------------------------------------
    def finish_evacuation(self, instance: dict[str, Any], migration: dict[str, Any]) -> None:
        """Nova's fix: the last steps run under the lock the audit holds for its whole run."""
        with self.lock:
            self._finish_evacuation(instance, migration)

    def _finish_evacuation(self, instance: dict[str, Any], migration: dict[str, Any]) -> None:
        # Simplified: Nova also applies the migration context (instance.pci_devices).
        uuid = instance["uuid"]
        self.inject("evacuate.set_host")
        self.conductor.instance_save(uuid, host=self.host, node=self.host)
        self.inject("instance.drop_migration_context")
        self.conductor.instance_save(uuid, migration_context=None)
        self.inject("evacuate.migration_done")
        self.conductor.migration_save(migration["id"], MigrationStatus.DONE)

    # -- the periodic audit -------------------------------------------------------------
    # Nova's _update_usage_from_instances leaves out instances whose state allows their
    # resources to be removed; clean_usage then frees what they held.
    ALLOW_RESOURCE_REMOVAL: tuple[str, ...] = (VmState.DELETED, VmState.SHELVED_OFFLOADED)

    def _tracked(self, instances: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [i for i in instances if i["vm_state"] not in self.ALLOW_RESOURCE_REMOVAL]

    def update_available_resource(self) -> list[str]:
        """Nova ``update_available_resource`` -> ``_update_available_resource``, all under the
        lock. Returns the uuids whose devices ``clean_usage`` freed."""
        self.inject("audit.start")
        with self.lock:
            self.inject("audit.instance_list")
            instances = self._tracked(self.conductor.instance_list_by_host())
            self.inject("audit.update_usage")
            for inst in instances:  # _update_usage_from_instances
                self.pci_tracker.update_pci_for_instance(inst["uuid"])
            self.inject("audit.migration_list")
            migrations = self.conductor.migration_get_in_progress_and_error()
            # _update_usage_from_migrations: claims of incoming (and outgoing) in-progress
            # migrations are kept, by naming their instances to clean_usage below.
            self.inject("audit.clean_usage")
            listed = [i["uuid"] for i in instances], [m["instance_uuid"] for m in migrations]
            bound = {d.address: (d.instance_uuid, d.status) for d in self.pci_tracker.pci_devs}
            freed = self.pci_tracker.clean_usage(*listed)
            self.inject.record(  # the history's why: what the lists held, what went free
                "clean_usage",
                instances=listed[0],
                migrations=listed[1],
                freed=freed,
                devices=[
                    {"address": a, "instance": u, "before": st, "after": "available"}
                    for a, (u, st) in bound.items()
                    if u in freed
                ],
            )
            if freed:
                log.info("clean_usage freed the devices of %s", ", ".join(freed))
            self.inject("audit.save")
            self._save()
        return freed


class BuggyResourceTracker(ResourceTracker):
    def finish_evacuation(self, instance: dict[str, Any], migration: dict[str, Any]) -> None:
        """Nova before the fix: ``rebuild_instance`` finished the evacuation without the lock,
        so these steps can fall between the audit's instance list and its migration list."""
        self._finish_evacuation(instance, migration)


TRACKERS = {"fixed": ResourceTracker, "buggy": BuggyResourceTracker}
