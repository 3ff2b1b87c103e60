"""The nova system's API: the part of each user action that is nova-api's, the scheduler's and
nova-conductor's before a host is asked, done with Nova's objects on the run's Nova database;
then the host commands (``hosts.nova``'s). It extends the cluster's generic API (waits, hosts,
tasks) and implements ``testbed.system.SystemAPI``; the checks' reading (allocations,
invariants, status) is ``orchestrator.nova.views``'.

A server: an instance with a flavor asking for PCI devices through the alias (kept with the
instance: the API database, where Nova keeps flavors, is not needed). An evacuation: only off a
host that is down (the testbed's liveness, as Nova's service group), a ``Migration`` of type
``evacuation`` in status ``accepted``, the task state ``rebuilding``. A scheduler pick: the
first up host, by name, with enough available ``pci_devices`` rows."""

from __future__ import annotations

from typing import Any

from nova import objects
from nova.compute import task_states, vm_states
from nova.pci import request as pci_request
from oslo_utils import uuidutils

from orchestrator.nova.store import NovaStore, configure
from orchestrator.nova.views import Views
from testbed.errors import ApiError
from testbed.systems.nova import pci_extra_spec
from testbed.vocabulary import HostState, Until


def make_flavor(pci: int) -> objects.Flavor:
    return objects.Flavor(
        id=1, flavorid="testbed", name="testbed", memory_mb=512, vcpus=1, root_gb=1,
        ephemeral_gb=0, swap=0, rxtx_factor=1.0, vcpu_weight=0, disabled=False,
        is_public=True, description=None, extra_specs=pci_extra_spec(pci),
    )  # fmt: skip


class NovaAPI(Views):
    state: NovaStore

    def __init__(self, state: NovaStore, commands: Any, config: Any, exited: Any) -> None:
        super().__init__(state, commands, config, exited)
        configure(config, state)

    # -- servers --------------------------------------------------------------------------
    def _instance(self, name: str) -> objects.Instance:
        found = self._named(name)
        if found is None:
            raise ApiError(f"no server named '{name}'")
        return found

    def _named(self, name: str) -> objects.Instance | None:
        """The live instance named ``name`` (compared here: Nova's name filter is a regular
        expression, which needs the database's type from Nova's own configuration)."""
        with self.state.lock:
            found = objects.InstanceList.get_by_filters(
                self.state.context(), {"deleted": False},
                expected_attrs=["flavor", "migration_context"],
            )  # fmt: skip
        return next((i for i in found if i.display_name == name), None)

    def server(self, name: str) -> dict[str, Any]:
        return self.record(self._instance(name))

    def _pick(self, count: int, exclude: str | None = None) -> str:
        """The up host with the most free devices that fit, ties to the first name (the
        model's scheduler rule, so that scenarios place servers alike on both systems)."""
        up = [h for h, s in self.host_states().items() if s == HostState.UP and h != exclude]
        free = self.free_devices()
        fits = sorted((h for h in up if free.get(h, 0) >= count), key=lambda h: (-free[h], h))
        if not fits:
            raise ApiError(f"no host up with {count} free PCI device(s)")
        return fits[0]

    def create_server(
        self, name: str, host: str | None = None, pci: int | None = None, wait: bool = True
    ) -> dict[str, Any]:
        pci = self.config.devices.per_server if pci is None else pci
        if self._named(name) is not None:
            raise ApiError(f"a server named '{name}' exists already")
        host = self.known(host) if host else self._pick(pci)
        flavor = make_flavor(pci)
        with self.state.lock:
            instance = objects.Instance(
                context=self.state.context(), uuid=uuidutils.generate_uuid(),
                display_name=name, hostname=name, project_id="testbed", user_id="testbed",
                vm_state=vm_states.BUILDING, task_state=task_states.SCHEDULING, power_state=0,
                image_ref="", flavor=flavor, instance_type_id=flavor.id,
                memory_mb=flavor.memory_mb, vcpus=flavor.vcpus, root_gb=flavor.root_gb,
                ephemeral_gb=flavor.ephemeral_gb, system_metadata={}, numa_topology=None,
                pci_requests=pci_request.get_pci_requests_from_flavor(flavor),
            )  # fmt: skip
            instance.create()
            self.state.written({})
            # the history names the server from here on, as the model's new row does
            self.state._note("instances", instance.uuid, {}, {"name": name})
        task = self._task(host, "build", uuid=instance.uuid)
        if wait:
            self.wait_task(task)
        return self.server(name)

    def evacuate(
        self, name: str, target: str | None = None, until: str = Until.DONE
    ) -> dict[str, Any]:
        instance = self._instance(name)
        source = instance.host
        self.check_evacuation(name, source, target, until)
        target = target or self._pick(self.record(instance)["pci_count"], exclude=source)
        with self.state.lock:
            ctx = self.state.context()
            node = objects.ComputeNode.get_by_host_and_nodename(ctx, target, target)
            migration = objects.Migration(
                context=ctx, source_compute=source, source_node=instance.node,
                dest_compute=target, dest_node=target, dest_compute_id=node.id, dest_host=None,
                instance_uuid=instance.uuid, status="accepted", migration_type="evacuation",
                old_instance_type_id=instance.flavor.id, new_instance_type_id=instance.flavor.id,
            )  # fmt: skip
            migration.create()
            instance.task_state = task_states.REBUILDING
            instance.save(expected_task_state=[None])
            self.state.written({})
        task = self._task(target, "evacuate", uuid=instance.uuid, migration=migration.id)
        if until == Until.CLAIMED:  # the claim's devices saved (the tracker's _update), or failed
            count = self.record(instance)["pci_count"]

            def claimed() -> bool:
                status = self._migration(migration.id)["status"]
                bound = sum(d["host"] == target and d["instance_uuid"] == instance.uuid
                            for d in self.devices())  # fmt: skip
                return status in ("failed", "error") or (status != "accepted" and bound >= count)

            self.wait_for(f"the move claim of {name} on {target}", claimed)
        elif until == Until.DONE:
            self.wait_task(task)
        return {"migration": migration.id, "task": task, "source": source, "dest": target}

    def _migration(self, mid: int) -> dict[str, Any]:
        with self.state.lock:
            return dict(objects.Migration.get_by_id(self.state.context(), mid).obj_to_primitive()
                        ["nova_object.data"])  # fmt: skip

    def delete(self, name: str) -> None:
        """On a live host the host frees the devices; on a down host the instance is deleted
        here (Nova's local delete) and the host frees them when it returns."""
        instance = self._instance(name)
        if self.is_up(instance.host):
            self.wait_task(self._task(instance.host, "delete", uuid=instance.uuid))
            return
        with self.state.lock:
            instance.vm_state, instance.task_state = vm_states.DELETED, None
            instance.save()
            instance.destroy()
            self.state.written({})

    def rebuild(self, name: str) -> None:
        instance = self._instance(name)
        with self.state.lock:
            instance.task_state = task_states.REBUILDING
            instance.save()
            self.state.written({})
        self.wait_task(self._task(instance.host, "rebuild", uuid=instance.uuid))

    def force_down(self, host: str, down: bool = True) -> None:
        """The testbed's service record and Nova's (``os-services`` force-down)."""
        super().force_down(host, down)
        with self.state.lock:
            try:
                service = objects.Service.get_by_compute_host(self.state.context(), host)
            except Exception:  # the host never started: it has no Nova service yet
                return
            service.forced_down = down
            service.save()
            self.state.written({})
