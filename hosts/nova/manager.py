"""Nova's compute manager's part, with Nova's own resource tracker: each command is the call
sequence ``nova/compute/manager.py`` (nova 34.0.0) makes around the tracker, trimmed of what
touches no shared state (networks, volumes, notifications, the hypervisor).

Its commands are marked as the seam marks them (``testbed.system.command``); the host process
serves them (``hosts.nova.system``). Every object call goes through
``NovaObject.indirection_api`` to the orchestrator; the injection points fire inside these
sequences (``hosts.nova.tracing``).

Fixes: 1896463 is Nova's as shipped; with it off, ``finish_evacuation`` runs without its lock
(the function ``@utils.synchronized`` decorated, kept as ``__wrapped__``: no edited copy of
Nova). Nova 34 has every other fix of the catalogue, and none of them is reverted here yet.
"""

from __future__ import annotations

import logging
import types
from typing import Any

from nova import context as nova_context
from nova import objects
from nova.compute import resource_tracker, task_states, vm_states

from hosts.nova.driver import make_driver_class
from hosts.nova.setup import StubReportClient
from hosts.nova.tracing import Tracer, install
from testbed.config import Config
from testbed.system import command

log = logging.getLogger("testbed.host.nova")

EXPECTED_ATTRS = ["flavor", "pci_requests", "numa_topology", "migration_context", "pci_devices"]


class NovaComputeManager:
    def __init__(self, host: str, config: Config, inject: Any) -> None:
        self.host, self.node, self.config = host, host, config
        self.inject = inject
        self.tracer = Tracer(inject)
        install(self.tracer)
        self.driver = make_driver_class(host, config)(virtapi=None)
        self.rt = resource_tracker.ResourceTracker(host, self.driver, StubReportClient())
        if "1896463" not in config.cluster.fixes:  # Nova before the fix: no lock
            unlocked = resource_tracker.ResourceTracker.finish_evacuation.__wrapped__
            self.rt.finish_evacuation = types.MethodType(unlocked, self.rt)

    @staticmethod
    def _context() -> Any:
        return nova_context.get_admin_context()

    # -- start ----------------------------------------------------------------------------
    def init_host(self) -> None:
        """Nova ``init_host`` (the service record, ``_destroy_evacuated_instances``) and then
        ``pre_start_hook``'s first audit (``startup=True``)."""
        ctx = self._context()
        self.driver.init_host(self.host)
        service = objects.Service.get_by_host_and_binary(ctx, self.host, "nova-compute")
        if service is None:  # nova.service.Service.start makes it on first start
            service = objects.Service(ctx, host=self.host, binary="nova-compute", topic="compute")
            service.create()
        self.rt.set_service_ref(service)  # pre_start_hook
        self.inject("init_host.cleanup")
        self._destroy_evacuated_instances(ctx)
        self.rt.update_available_resource(ctx, self.node, startup=True)

    def _destroy_evacuated_instances(self, ctx: Any) -> None:
        """Servers evacuated away while this host was down: their migrations become
        ``completed``; the next audit frees their devices here (neither listed nor migrating)."""
        filters = {
            "source_compute": self.host,
            "status": ["accepted", "pre-migrating", "done"],
            "migration_type": "evacuation",
        }
        for migration in objects.MigrationList.get_by_filters(ctx, filters):
            if migration.status == "done":
                log.info("%s was evacuated away from here", migration.instance_uuid)
                migration.status = "completed"
                migration.save()

    # -- commands -------------------------------------------------------------------------
    @command("build")
    def build_and_run_instance(self, uuid: str) -> None:
        """``_build_and_run_instance``: the claim (sets host and node), spawn, active."""
        ctx = self._context()
        instance = objects.Instance.get_by_uuid(ctx, uuid, expected_attrs=EXPECTED_ATTRS)
        try:
            self.inject("build.claim")
            self.rt.instance_claim(ctx, instance, self.node, None, limits=None)
        except Exception:
            instance.vm_state, instance.task_state = vm_states.ERROR, None
            instance.save()
            raise
        self.inject("build.spawn")
        instance.task_state = task_states.SPAWNING
        instance.save(expected_task_state=[task_states.SCHEDULING, None])
        self.inject("build.active")
        instance.vm_state, instance.task_state = vm_states.ACTIVE, None
        instance.save(expected_task_state=task_states.SPAWNING)

    @command("evacuate")
    def evacuate_instance(self, uuid: str, migration: int) -> None:
        """``rebuild_instance`` with ``evacuate=True`` on the destination: ``rebuild_claim``
        with the migration, the task-state saves, spawn, then ``finish_evacuation``."""
        ctx = self._context()
        instance = objects.Instance.get_by_uuid(ctx, uuid, expected_attrs=EXPECTED_ATTRS)
        migration = objects.Migration.get_by_id(ctx, migration)
        try:
            self.inject("evacuate.claim")
            self.rt.rebuild_claim(
                ctx, instance, self.node, None, limits=None,
                image_meta=instance.image_meta, migration=migration,
            )  # fmt: skip
            steps = (
                (task_states.REBUILDING, task_states.REBUILDING),
                (task_states.REBUILD_BLOCK_DEVICE_MAPPING, task_states.REBUILDING),
                (task_states.REBUILD_SPAWNING, task_states.REBUILD_BLOCK_DEVICE_MAPPING),
            )
            for state, expected in steps:  # _do_rebuild_instance's saves
                instance.task_state = state
                instance.save(expected_task_state=[expected])
            self.inject("evacuate.spawn")
            instance.vm_state, instance.task_state = vm_states.ACTIVE, None
            instance.save(expected_task_state=[task_states.REBUILD_SPAWNING])
        except Exception:
            migration.status = "failed"
            migration.save()
            raise
        self.inject("evacuate.finish")
        with self.tracer.on("finish_evacuation"):
            self.rt.finish_evacuation(instance, self.node, migration)

    @command("rebuild")
    def rebuild_instance(self, uuid: str) -> None:
        """Rebuild on the same host: no claim, the server keeps its devices."""
        ctx = self._context()
        instance = objects.Instance.get_by_uuid(ctx, uuid)
        self.inject("rebuild.spawn")
        instance.vm_state, instance.task_state = vm_states.ACTIVE, None
        instance.save()

    @command("delete")
    def terminate_instance(self, uuid: str) -> None:
        """``_delete_instance``: deleted state saved, the tracker's ``update_usage`` frees the
        devices, the instance destroyed."""
        ctx = self._context()
        instance = objects.Instance.get_by_uuid(ctx, uuid, expected_attrs=EXPECTED_ATTRS)
        instance.vm_state, instance.task_state = vm_states.DELETED, None
        instance.save()
        self.inject("delete.free")
        self.rt.update_usage(ctx, instance, self.node)
        instance.destroy()

    def update_available_resource(self) -> list[str]:
        """The periodic (and on-demand) audit: ``update_available_resource``."""
        self.inject("audit.start")
        with self.tracer.on("audit"):
            self.rt.update_available_resource(self._context(), self.node)
        return []

    def pci_view(self) -> list[dict[str, Any]]:
        """This host's own view of its devices, read without the lock (as the model's)."""
        tracker = self.rt.pci_tracker
        if tracker is None:
            return []
        return [
            {
                "address": d.address,
                "vendor_id": d.vendor_id,
                "product_id": d.product_id,
                "status": d.status,
                "instance_uuid": d.instance_uuid,
            }
            for d in tracker.pci_devs
        ]
