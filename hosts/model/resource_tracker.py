"""The resource tracker, after ``nova/compute/resource_tracker.py``.

One lock (Nova's ``COMPUTE_RESOURCE_SEMAPHORE``) guards every claim and the whole periodic
audit. The tracker runs with a set of named fixes (``testbed.fixes``, the host's
``cluster.fixes``), and that set alone decides what it does: where Nova's code changed to fix
one of its audit races, the tracker asks ``bug in self.fixes`` and does what Nova did before or
after. It must not differ anywhere else: those differences are what the scenarios tell apart.
There is one tracker class; ``fixed`` and ``buggy`` are only names of two sets
(``testbed.fixes.PRESETS``). A variant of it (a test's planted race) is planted through the
compute manager's one seam, ``hosts.model.manager``.

Simplified: no flavors. A resize is a cold migration to another host with the same request
(N devices); Nova's ``old_flavor``/``new_flavor`` become "this host's devices of the instance",
which is what a drop by flavor frees."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from typing import Any

from hosts.conductor_api import ConductorAPI
from hosts.injection import Injector
from hosts.model.pci import PciDevTracker
from testbed.vocabulary import Event, MigrationStatus, TaskState, VmState

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
    def __init__(
        self,
        host: str,
        pci: PciDevTracker,
        conductor: ConductorAPI,
        inject: Injector,
        fixes: Iterable[str],
    ):
        self.host, self.pci_tracker = host, pci
        self.conductor, self.inject = conductor, inject
        self.fixes = frozenset(fixes)
        self.lock = TracedLock(inject)  # COMPUTE_RESOURCE_SEMAPHORE
        # Nova's tracked_migrations: the migrations this tracker accounts for, by instance.
        # Filled by a move claim made here and by the audit (from the in-progress migrations);
        # a drop of a move claim without a flavor frees only what is tracked here (bug 1818914).
        self.tracked_migrations: dict[str, dict[str, Any]] = {}

    def _save(self) -> None:
        """Nova ``_update``: write the compute node's device states back."""
        self.conductor.pci_save(self.pci_tracker.to_records())

    # -- claims -------------------------------------------------------------------------
    def instance_claim(self, instance: dict[str, Any]) -> None:
        """Build, unshelve: claim the instance's devices and allocate them, and set its host
        when it has none here yet (Nova ``instance_claim``, ``_set_instance_host_and_node``)."""
        with self.lock:
            self.pci_tracker.claim_instance(instance["uuid"], instance["pci_count"])
            self.pci_tracker.allocate_instance(instance["uuid"])
            self._save()
            if instance["host"] != self.host:
                self.conductor.instance_save(instance["uuid"], host=self.host, node=self.host)

    def _move_claim(self, instance: dict[str, Any], migration: dict[str, Any], status: str) -> None:
        """Nova ``_move_claim``: claim on this host (the destination), give the instance a
        migration context, track the migration, move the migration to ``status``."""
        devs = self.pci_tracker.claim_instance(instance["uuid"], instance["pci_count"])
        self._save()
        self.tracked_migrations[instance["uuid"]] = migration
        context = {
            "migration": migration["id"],
            "source": migration["source"],
            "dest": self.host,
            "pci": [d.address for d in devs],
        }
        self.conductor.instance_save(instance["uuid"], migration_context=context)
        self.conductor.migration_save(migration["id"], status)

    def resize_claim(self, instance: dict[str, Any], migration: dict[str, Any]) -> None:
        """Cold migration: the destination's move claim (Nova ``resize_claim``)."""
        self.inject("resize.claim")
        with self.lock:
            self._move_claim(instance, migration, MigrationStatus.PRE_MIGRATING)

    def live_migration_claim(self, instance: dict[str, Any], migration: dict[str, Any]) -> None:
        """Live migration: the destination's claim (Nova ``live_migration_claim``)."""
        self.inject("live_migration.claim")
        with self.lock:
            self._move_claim(instance, migration, MigrationStatus.PREPARING)

    def rebuild_claim(self, instance: dict[str, Any], migration: dict[str, Any]) -> None:
        """Evacuation: a move claim on the destination (Nova ``rebuild_claim``/``_move_claim``).

        The instance gets a migration context; its host is still the source."""
        self.inject("evacuate.claim")
        with self.lock:
            self._move_claim(instance, migration, MigrationStatus.PRE_MIGRATING)

    def free_instance(self, uuid: str) -> None:
        """Delete (and clean-up): free the instance's devices on this host."""
        self.inject("delete.free")
        with self.lock:
            if self.pci_tracker.free_instance(uuid):
                self._save()

    def update_usage(self, instance: dict[str, Any]) -> None:
        """Nova ``update_usage`` for one instance: free its devices here if its state allows
        its resources to be removed (a shelve offload)."""
        with self.lock:
            if self._allow_resource_removal(instance) and self.pci_tracker.free_instance(
                instance["uuid"]
            ):
                self._save()

    # -- dropping a move claim (confirm, revert) ------------------------------------------
    def _drop_move_claim(self, uuid: str, by_flavor: bool) -> None:
        """Nova ``drop_move_claim``: without a flavor it drops only a tracked migration's
        usage (an untracked one stays until an audit frees it); with one, always."""
        tracked = self.tracked_migrations.pop(uuid, None) is not None
        if not (tracked or by_flavor):
            log.info("no tracked migration of %s here: its claim is not dropped", uuid)
            return
        if self.pci_tracker.free_instance(uuid):
            self._save()

    def drop_move_claim_at_source(
        self, instance: dict[str, Any], migration: dict[str, Any]
    ) -> None:
        """Confirm, on the source: mark the migration confirmed, drop the source's claim.
        Fix 1879878 does both under the lock; fix 1818914 drops by the old flavor."""
        by_flavor = "1818914" in self.fixes
        if "1879878" in self.fixes:
            self.inject("confirm.drop_claim")
            with self.lock:
                self.inject("confirm.migration_confirmed")
                self.conductor.migration_save(migration["id"], MigrationStatus.CONFIRMED)
                self._drop_move_claim(instance["uuid"], by_flavor)
            return
        self.inject("confirm.migration_confirmed")  # Nova before: status first, then the drop
        self.conductor.migration_save(migration["id"], MigrationStatus.CONFIRMED)
        self.inject("confirm.drop_claim")
        with self.lock:
            self._drop_move_claim(instance["uuid"], by_flavor)

    def drop_move_claim_at_dest(self, instance: dict[str, Any], migration: dict[str, Any]) -> None:
        """Revert, on the destination: mark the migration reverted, drop the destination's
        claim. Fix 1879878 does both under the lock, dropping by the instance's flavor."""
        if "1879878" in self.fixes:
            self.inject("revert.drop_claim")
            with self.lock:
                self.inject("revert.migration_reverted")
                self.conductor.migration_save(migration["id"], MigrationStatus.REVERTED)
                self._drop_move_claim(instance["uuid"], by_flavor=True)
            return
        self.inject("revert.migration_reverted")  # Nova before: status first, then the drop
        self.conductor.migration_save(migration["id"], MigrationStatus.REVERTED)
        self.inject("revert.drop_claim")
        with self.lock:
            self._drop_move_claim(instance["uuid"], by_flavor=False)

    def post_live_migration_at_destination(self, instance: dict[str, Any]) -> None:
        """The server is set on this host and its migration context dropped (one save, as
        Nova's ``post_live_migration_at_destination``). Under the lock, unlike Nova: otherwise
        an audit here could list instances before this save and migrations after the source
        completes the migration, and free the server's claim (the window of bug 1896463,
        which Nova's live migration still has). No fix of the catalogue covers it."""
        with self.lock:
            self.inject("live_migration.post_dest")
            self.conductor.instance_save(
                instance["uuid"],
                host=self.host,
                node=self.host,
                migration_context=None,
                vm_state=VmState.ACTIVE,
                task_state=None,
            )

    # -- the evacuation's last steps ------------------------------------------------------
    def finish_evacuation(self, instance: dict[str, Any], migration: dict[str, Any]) -> None:
        """Nova's fix for 1896463: the last steps run under the lock the audit holds for its
        whole run. Before it, ``rebuild_instance`` finished the evacuation without the lock,
        so these steps could fall between the audit's instance list and its migration list."""
        if "1896463" not in self.fixes:
            self._finish_evacuation(instance, migration)
            return
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

    def _allow_resource_removal(self, instance: dict[str, Any]) -> bool:
        """Nova ``vm_states.allow_resource_removal``. Fix 2025480: a shelved-offloaded server
        that is spawning (being unshelved here) keeps its resources."""
        if instance["vm_state"] not in self.ALLOW_RESOURCE_REMOVAL:
            return False
        unshelving = (
            instance["vm_state"] == VmState.SHELVED_OFFLOADED
            and instance.get("task_state") == TaskState.SPAWNING
        )
        return not ("2025480" in self.fixes and unshelving)

    def _tracked(self, instances: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [i for i in instances if not self._allow_resource_removal(i)]

    def _update_usage_from_migrations(self, migrations: list[dict[str, Any]]) -> None:
        """Nova ``_update_usage_from_migrations`` (and ``_populate_assigned_resources``):
        track every in-progress migration of this host whose instance has arrived. Nova reads each
        migration's instance and its migration context; before fix 1849165 it did so without
        asking whether the context exists yet (``_populate_assigned_resources``), and a
        migration whose destination has not claimed yet made the audit raise ``TypeError``."""
        self.tracked_migrations.clear()
        for mig in migrations:
            context = self.conductor.instance_get(mig["instance_uuid"])["migration_context"]
            if context is None and "1849165" in self.fixes:
                continue  # the instance has not arrived here yet: nothing to account
            if "pci" in context:  # Nova: 'new_resources' in mig_ctx
                self.tracked_migrations[mig["instance_uuid"]] = mig

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
            self._update_usage_from_migrations(migrations)
            # Nova's clean_usage keeps the claims of every in-progress migration's instance,
            # tracked or not
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
