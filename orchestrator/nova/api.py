"""The API's part of each user action, done with Nova's objects on the run's database, as
nova-api and the scheduler do it before a host is asked: a server's records (an instance with a
flavor asking for PCI devices through the alias), an evacuation's (the source service forced
down, a ``Migration`` of type ``evacuation`` in status ``accepted``, the instance's task state
``rebuilding``), a scheduler pick. And the checks' reading of allocations: Nova's
``pci_devices`` rows, per host, per server, devices bound (claimed or allocated)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from nova import exception, objects
from nova.compute import task_states, vm_states
from nova.pci import request as pci_request
from oslo_utils import uuidutils

from testbed.nova_conf import pci_extra_spec

BOUND = ("claimed", "allocated")


def make_flavor(pci: int) -> objects.Flavor:
    """A flavor asking for ``pci`` devices through the alias (kept with the instance; the API
    database, where Nova keeps flavors, is not needed)."""
    return objects.Flavor(
        id=1, flavorid="testbed", name="testbed", memory_mb=512, vcpus=1, root_gb=1,
        ephemeral_gb=0, swap=0, rxtx_factor=1.0, vcpu_weight=0, disabled=False,
        is_public=True, description=None, extra_specs=pci_extra_spec(pci),
    )  # fmt: skip


def create_server(ctx: Any, name: str, pci: int) -> str:
    """The instance record as the API writes it (building, scheduling); returns its uuid."""
    flavor = make_flavor(pci)
    instance = objects.Instance(
        context=ctx, uuid=uuidutils.generate_uuid(), display_name=name, hostname=name,
        project_id="testbed", user_id="testbed", vm_state=vm_states.BUILDING,
        task_state=task_states.SCHEDULING, power_state=0, image_ref="", flavor=flavor,
        instance_type_id=flavor.id, memory_mb=flavor.memory_mb, vcpus=flavor.vcpus,
        root_gb=flavor.root_gb, ephemeral_gb=flavor.ephemeral_gb, system_metadata={},
        numa_topology=None, pci_requests=pci_request.get_pci_requests_from_flavor(flavor),
    )  # fmt: skip
    instance.create()
    return instance.uuid


def server_host(ctx: Any, uuid: str) -> str | None:
    return objects.Instance.get_by_uuid(ctx, uuid).host


def force_down(ctx: Any, host: str) -> None:
    """Mark a host's compute service down (``os-services`` force-down)."""
    service = objects.Service.get_by_compute_host(ctx, host)
    service.forced_down = True
    service.save()


def start_evacuation(ctx: Any, uuid: str, dest: str) -> int:
    """The API's and conductor's part of an evacuation before the destination runs it: the
    migration (``evacuation``, ``accepted``) and the task state ``rebuilding``."""
    instance = objects.Instance.get_by_uuid(ctx, uuid, expected_attrs=["flavor"])
    source = objects.Service.get_by_compute_host(ctx, instance.host)
    if not source.forced_down:
        raise exception.ComputeServiceInUse(host=instance.host)
    node = objects.ComputeNode.get_by_host_and_nodename(ctx, dest, dest)
    migration = objects.Migration(
        context=ctx, source_compute=instance.host, source_node=instance.node,
        dest_compute=dest, dest_node=dest, dest_compute_id=node.id, dest_host=None,
        instance_uuid=uuid,
        status="accepted", migration_type="evacuation",
        old_instance_type_id=instance.flavor.id, new_instance_type_id=instance.flavor.id,
    )  # fmt: skip
    migration.create()
    instance.task_state = task_states.REBUILDING
    instance.save(expected_task_state=[None])
    return migration.id


def pick_host(ctx: Any, pci: int, exclude: tuple[str, ...] = ()) -> str:
    """The scheduler's pick: the first up host (by name) with ``pci`` free devices."""
    for service in sorted(
        objects.ServiceList.get_by_binary(ctx, "nova-compute"), key=lambda s: s.host
    ):
        if service.host in exclude or service.forced_down:
            continue
        free = [d for d in devices(ctx, service.host) if d.status == "available"]
        if len(free) >= pci:
            return service.host
    raise LookupError(f"no host with {pci} free PCI device(s)")


def devices(ctx: Any, host: str) -> list[objects.PciDevice]:
    """A host's ``pci_devices`` rows."""
    try:
        node = objects.ComputeNode.get_by_host_and_nodename(ctx, host, host)
    except exception.ComputeHostNotFound:
        return []
    return list(objects.PciDeviceList.get_by_compute_node(ctx, node.id))


def bound(ctx: Any, host: str) -> dict[str, int]:
    """Per instance uuid, the devices of ``host`` bound to it (claimed or allocated)."""
    return dict(Counter(d.instance_uuid for d in devices(ctx, host) if d.status in BOUND))
