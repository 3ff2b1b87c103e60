"""The compute manager's move operations, after ``nova/compute/manager.py``: cold migration
(resize without a new flavor) with confirm and revert, live migration, shelve offload and
unshelve. Mixed into ``hosts.model.manager.ComputeManager``.

Nova's hosts call each other over RPC; here the orchestrator's API sends each host its part,
one task after the other, in Nova's order:

- resize: ``prep_resize`` (destination: move claim) -> ``resize_instance`` (source) ->
  ``finish_resize`` (destination: the server runs there, awaiting confirm or revert);
- confirm: ``confirm_resize`` (source: migration confirmed, the source's claim dropped);
- revert: ``revert_resize`` (destination: migration reverted, its claim dropped) ->
  ``finish_revert_resize`` (source: the server runs there again, on the devices it kept);
- live migration: ``pre_live_migration`` (destination: the claim Nova makes while checking the
  destination, the driver's preparation, then ``post_live_migration_at_destination``, which
  Nova's source calls synchronously once the fake driver has moved nothing) ->
  ``post_live_migration`` (source: Nova's ``_post_live_migration`` frees what it held);
- shelve: ``shelve_offload_instance`` (the server leaves its host and frees its devices);
- unshelve: ``unshelve_instance`` on the chosen host (claim, spawn, active).

Like the rest of the manager it touches devices only through the resource tracker and the
state only through the conductor client.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from testbed.system import command
from testbed.vocabulary import MigrationStatus, TaskState, VmState

if TYPE_CHECKING:
    from hosts.conductor_api import ConductorAPI
    from hosts.injection import Injector
    from hosts.model.resource_tracker import ResourceTracker

log = logging.getLogger("testbed.host.moves")


class Moves:
    host: str
    conductor: ConductorAPI
    inject: Injector
    rt: ResourceTracker

    def _fail_migration(self, uuid: str, migration: int) -> None:
        """A move that raised: migration error, server error, this host's claim freed."""
        self.conductor.migration_save(migration, MigrationStatus.ERROR)
        self.conductor.instance_save(uuid, vm_state=VmState.ERROR, task_state=None)
        self.rt.free_instance(uuid)

    # -- cold migration ---------------------------------------------------------------------
    @command("prep_resize")
    def prep_resize(self, uuid: str, migration: int) -> None:
        """Destination: the move claim (Nova ``prep_resize`` -> ``resize_claim``)."""
        instance = self.conductor.instance_get(uuid)
        mig = self.conductor.migration_get(migration)
        try:
            self.rt.resize_claim(instance, mig)
        except Exception:
            self._fail_migration(uuid, migration)
            raise

    @command("resize_instance")
    def resize_instance(self, uuid: str, migration: int) -> None:
        """Source: the fake driver's ``migrate_disk_and_power_off``; the server is handed over
        (Nova ``resize_instance``). The source keeps its devices until confirm or revert."""
        self.inject("resize.migrate_disk")
        self.conductor.migration_save(migration, MigrationStatus.POST_MIGRATING)

    @command("finish_resize")
    def finish_resize(self, uuid: str, migration: int) -> None:
        """Destination: the server runs here, awaiting confirm or revert (Nova
        ``finish_resize``); its migration context stays until then."""
        self.inject("resize.finish")
        self.conductor.instance_save(
            uuid, host=self.host, node=self.host, vm_state=VmState.RESIZED, task_state=None
        )
        self.conductor.migration_save(migration, MigrationStatus.FINISHED)

    @command("confirm_resize")
    def confirm_resize(self, uuid: str, migration: int) -> None:
        """Source: confirm (Nova ``_confirm_resize``): the source's claim is dropped."""
        instance = self.conductor.instance_get(uuid)
        mig = self.conductor.migration_get(migration)
        self.rt.drop_move_claim_at_source(instance, mig)
        self.inject("confirm.finish")
        self.conductor.instance_save(
            uuid, migration_context=None, vm_state=VmState.ACTIVE, task_state=None
        )

    @command("revert_resize")
    def revert_resize(self, uuid: str, migration: int) -> None:
        """Destination: revert (Nova ``revert_resize``): the destination's claim is dropped."""
        instance = self.conductor.instance_get(uuid)
        mig = self.conductor.migration_get(migration)
        self.rt.drop_move_claim_at_dest(instance, mig)

    @command("finish_revert_resize")
    def finish_revert_resize(self, uuid: str, migration: int) -> None:
        """Source: the server runs here again (Nova ``finish_revert_resize``), on the devices
        the source kept for it."""
        self.inject("revert.finish")
        self.conductor.instance_save(
            uuid,
            host=self.host,
            node=self.host,
            migration_context=None,
            vm_state=VmState.ACTIVE,
            task_state=None,
        )

    # -- live migration ---------------------------------------------------------------------
    @command("pre_live_migration")
    def pre_live_migration(self, uuid: str, migration: int) -> None:
        """Destination: the claim (Nova ``check_can_live_migrate_destination`` ->
        ``live_migration_claim``), ``pre_live_migration``, then
        ``post_live_migration_at_destination``."""
        self.inject("live_migration.start")
        instance = self.conductor.instance_get(uuid)
        mig = self.conductor.migration_get(migration)
        try:
            self.rt.live_migration_claim(instance, mig)
            self.inject("live_migration.pre")  # the fake driver prepares nothing
            self.rt.post_live_migration_at_destination(instance)
        except Exception:
            self._fail_migration(uuid, migration)
            raise

    @command("post_live_migration")
    def post_live_migration(self, uuid: str, migration: int) -> None:
        """Source: Nova ``_post_live_migration``: free what this host held for the server,
        complete the migration."""
        self.inject("live_migration.post_source")
        self.rt.free_instance(uuid)
        self.conductor.migration_save(migration, MigrationStatus.COMPLETED)

    # -- shelve -----------------------------------------------------------------------------
    @command("shelve_offload")
    def shelve_offload_instance(self, uuid: str) -> None:
        """Nova ``shelve_offload_instance``: the state first (so that the tracker may remove
        the resources), then the tracker frees them, then host and node are cleared."""
        self.inject("shelve.offload")
        self.conductor.instance_save(uuid, vm_state=VmState.SHELVED_OFFLOADED, task_state=None)
        instance = self.conductor.instance_get(uuid)
        self.inject("shelve.free")
        self.rt.update_usage(instance)
        self.inject("shelve.clear_host")
        self.conductor.instance_save(uuid, host=None, node=None)

    @command("unshelve")
    def unshelve_instance(self, uuid: str) -> None:
        """Nova ``unshelve_instance``: spawning, the claim here (which sets the host), spawn,
        active. Until that last save the server is still shelved-offloaded."""
        self.inject("unshelve.start")
        self.conductor.instance_save(uuid, task_state=TaskState.SPAWNING)
        instance = self.conductor.instance_get(uuid)
        try:
            self.inject("unshelve.claim")
            self.rt.instance_claim(instance)
        except Exception:
            self.conductor.instance_save(uuid, vm_state=VmState.ERROR, task_state=None)
            raise
        self.inject("unshelve.spawn")  # the fake driver spawns nothing
        self.inject("unshelve.active")
        self.conductor.instance_save(uuid, vm_state=VmState.ACTIVE, task_state=None)
