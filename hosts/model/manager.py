"""The compute manager, after ``nova/compute/manager.py``: what a host does with a command,
and what ``init_host`` cleans up after a crash.

It must not touch devices except through the resource tracker (which takes the lock) nor the
state except through the conductor client: the race lives in those two paths.

What the model does is its code and the set of fixes the host runs with (``cluster.fixes``,
``testbed.fixes``); nothing else picks a version of it. The one seam for a variant of the
model, such as a test's planted race: subclass ``ResourceTracker`` (asking ``bug in
self.fixes`` where the variant differs, as the tracker does), and run the hosts with it through
a host entry of your own (``cluster.host_entry = "module:main"``) whose ``main`` sets
``ComputeManager.tracker_class`` to the subclass and then calls ``hosts.process.main``. The
variant lives only in the hosts that entry starts. ``tests/planted_race.py`` is one."""

from __future__ import annotations

import logging

from hosts.conductor_api import ConductorAPI
from hosts.injection import Injector
from hosts.model.moves import Moves
from hosts.model.pci import PciDevTracker, make_devices
from hosts.model.resource_tracker import ResourceTracker
from testbed.config import Config
from testbed.system import command
from testbed.vocabulary import MigrationStatus, VmState

log = logging.getLogger("testbed.host.manager")

# an evacuation to us that never finished
INCOMING_CUT_OFF = [MigrationStatus.ACCEPTED, MigrationStatus.PRE_MIGRATING]


class ComputeManager(Moves):
    tracker_class: type[ResourceTracker] = ResourceTracker  # the seam for a variant (above)

    def __init__(self, host: str, config: Config, conductor: ConductorAPI, inject: Injector):
        self.host, self.config = host, config
        self.conductor, self.inject = conductor, inject
        self.rt: ResourceTracker | None = None  # made by init_host

    # -- start ----------------------------------------------------------------------------
    def init_host(self) -> None:
        """Load this host's devices, clean up after evacuations, then audit once (Nova's
        ``init_host`` followed by ``pre_start_hook``)."""
        records = self.conductor.pci_get()
        if records:
            pci = PciDevTracker.from_records(records)
        else:
            d = self.config.devices
            pci = PciDevTracker(make_devices(d.count(self.host), d.vendor_id, d.product_id))
            self.conductor.pci_save(pci.to_records())
        fixes = self.config.cluster.fixes
        self.rt = self.tracker_class(self.host, pci, self.conductor, self.inject, fixes)
        self.inject("init_host.cleanup")
        self._destroy_evacuated_instances()
        self._fail_interrupted_evacuations()
        self._error_out_interrupted_builds()
        self.update_available_resource()

    def _destroy_evacuated_instances(self) -> None:
        """Servers evacuated away while we were down: free what we held (done -> completed)."""
        away = self.conductor.migration_query(source=self.host, statuses=[MigrationStatus.DONE])
        for mig in away:
            log.info("freeing devices of %s, evacuated away from here", mig["instance_uuid"])
            self.rt.free_instance(mig["instance_uuid"])
            self.conductor.migration_save(mig["id"], MigrationStatus.COMPLETED)

    def _fail_interrupted_evacuations(self) -> None:
        """Evacuations to us that our crash cut off: migration failed, server error, claim freed."""
        for mig in self.conductor.migration_query(dest=self.host, statuses=INCOMING_CUT_OFF):
            uuid = mig["instance_uuid"]
            log.warning("evacuation of %s was cut off; marking it failed", uuid)
            self.conductor.migration_save(mig["id"], MigrationStatus.FAILED)
            self.conductor.instance_save(
                uuid, vm_state=VmState.ERROR, task_state=None, migration_context=None
            )
            self.rt.free_instance(uuid)

    def _error_out_interrupted_builds(self) -> None:
        """Nova ``_error_out_instances_whose_build_was_interrupted``: a build our crash cut off
        puts its server in error; the server keeps its devices here until it is deleted."""
        for inst in self.conductor.instance_list_by_host():
            if inst["vm_state"] == VmState.BUILDING:
                log.warning("build of %s was cut off; marking it error", inst["uuid"])
                self.conductor.instance_save(inst["uuid"], vm_state=VmState.ERROR, task_state=None)

    # -- commands -------------------------------------------------------------------------
    @command("build")
    def build_and_run_instance(self, uuid: str) -> None:
        instance = self.conductor.instance_get(uuid)
        try:
            self.inject("build.claim")
            self.rt.instance_claim(instance)
        except Exception:
            self.conductor.instance_save(uuid, vm_state=VmState.ERROR, task_state=None)
            raise
        self.inject("build.spawn")  # the fake driver spawns nothing
        self.inject("build.active")
        self.conductor.instance_save(uuid, vm_state=VmState.ACTIVE, task_state=None)

    @command("rebuild")
    def rebuild_instance(self, uuid: str) -> None:
        """Rebuild on the same host: the server keeps its devices."""
        self.inject("rebuild.spawn")
        self.conductor.instance_save(uuid, vm_state=VmState.ACTIVE, task_state=None)

    @command("evacuate")
    def evacuate_instance(self, uuid: str, migration: int) -> None:
        """``rebuild_instance`` with ``recreate=True`` on the destination: claim, spawn, finish."""
        instance = self.conductor.instance_get(uuid)
        mig = self.conductor.migration_get(migration)
        try:
            self.rt.rebuild_claim(instance, mig)
            self.inject("evacuate.spawn")  # the fake driver spawns nothing
            self.inject("evacuate.finish")
            self.rt.finish_evacuation(instance, mig)
        except Exception:
            self.conductor.migration_save(migration, MigrationStatus.FAILED)
            self.conductor.instance_save(
                uuid, vm_state=VmState.ERROR, task_state=None, migration_context=None
            )
            self.rt.free_instance(uuid)
            raise
        self.conductor.instance_save(uuid, vm_state=VmState.ACTIVE, task_state=None)

    @command("delete")
    def terminate_instance(self, uuid: str) -> None:
        self.rt.free_instance(uuid)
        self.conductor.instance_save(uuid, vm_state=VmState.DELETED, task_state=None, deleted=True)

    def update_available_resource(self) -> list[str]:
        return self.rt.update_available_resource()

    def pci_view(self) -> list[dict]:
        """This host's own view of its devices (for comparing with the orchestrator's).

        Read without the lock so a long audit cannot stall the command loop; callers compare
        views when the cluster is quiet."""
        return self.rt.pci_tracker.to_records() if self.rt else []
