"""Footprints derived from Nova's object calls (class, method, arguments, changed fields): wide
enough that no race is missed, narrow enough that what cannot meet commutes."""

from __future__ import annotations

import pytest

pytest.importorskip("nova.version", reason="the nova system needs: pip install '.[nova]'")

import orchestrator.nova.system  # noqa: E402,F401  (registers Nova's objects)
from orchestrator.cluster.footprint import conflicts  # noqa: E402
from orchestrator.nova import footprint  # noqa: E402

AUDIT_ATTRS = ["system_metadata", "numa_topology", "flavor", "migration_context", "resources"]


def call(objname: str, method: str, *args: object, **kwargs: object) -> list:
    body = {"objname": objname, "objmethod": method, "args": list(args), "kwargs": kwargs}
    return footprint.class_action(body)


def action(objname: str, method: str, data: dict, changes: list[str] | None = None) -> list:
    inst = {"nova_object.name": objname, "nova_object.data": data}
    if changes is not None:
        inst["nova_object.changes"] = changes
    return footprint.object_action({"objinst": inst, "objmethod": method, "args": [], "kwargs": {}})


def test_the_audit_reads_the_instances_of_its_node_and_the_fields_it_asks_for() -> None:
    read, extra, *joined = call("InstanceList", "get_by_host_and_node", "host2", "host2",
                                AUDIT_ATTRS)  # fmt: skip
    assert (read.table, dict(read.rows), read.write) == (
        "instances",
        {"host": "host2", "node": "host2"},
        False,
    )
    assert {"host", "task_state", "vm_state", "node"} <= read.columns
    # the extra fields asked for, of instance_extra's rows (whose instances: not known)
    assert str(extra) == (
        "read instance_extra(*) [flavor,instance_uuid,migration_context,numa_topology,resources]"
    )
    assert [str(a) for a in joined] == ["read instance_system_metadata(*)"]


def test_instance_save_meets_the_reads_of_what_it_changes() -> None:
    audit = call("InstanceList", "get_by_host_and_node", "host2", "host2", AUDIT_ATTRS)
    set_host = action("Instance", "save", {"uuid": "u1", "host": "host2"}, ["host", "node"])
    assert str(set_host[0]) == "write instances(uuid=u1) [host,node,updated_at]"
    # Nova reads the instance back, with what it always joins
    assert {str(a) for a in set_host[1:]} >= {
        "read instance_info_caches(instance_uuid=u1)",
        "read instance_system_metadata(instance_uuid=u1)",
    }
    assert conflicts(audit, set_host)  # the save moves a row into the audit's selection
    assert not conflicts(set_host, action("Instance", "save", {"uuid": "u2"}, ["task_state"]))
    # a read of one extra field meets only saves that write it
    requests = call("InstancePCIRequests", "get_by_instance_uuid", "u1")
    assert [str(a) for a in requests] == ["read instance_extra(instance_uuid=u1) [pci_requests]"]
    context = call("MigrationContext", "get_by_instance_uuid", "u1")
    state = action("Instance", "save", {"uuid": "u1"}, ["task_state"])
    assert not conflicts(requests, state) and not conflicts(context, state)
    dropped = action("Instance", "drop_migration_context", {"uuid": "u1"})
    assert [str(a) for a in dropped] == [
        "write instance_extra(instance_uuid=u1) [migration_context,updated_at]"
    ]
    assert conflicts(context, dropped) and not conflicts(requests, dropped)
    # Nova's save writes pci_requests whenever the instance carries them, changed or not
    carried = action("Instance", "save", {"uuid": "u1", "pci_requests": {}}, ["task_state"])
    assert "write instance_extra(instance_uuid=u1) [pci_requests,updated_at]" in map(str, carried)
    assert conflicts(requests, carried)


def test_migration_reads_and_saves() -> None:
    migrations = call("MigrationList", "get_in_progress_and_error", "host2", "host2")
    # source or dest: every row; Nova loads each one's instance with its system metadata
    assert [str(a) for a in migrations] == [
        "read migrations(*)", "read instances(*)", "read instance_system_metadata(*)"]  # fmt: skip
    done = action("Migration", "save", {"id": 1}, ["status"])
    assert [str(a) for a in done] == ["write migrations(id=1) [status,updated_at]"]
    assert conflicts(migrations, done)
    # the instance rows it reads: an instance's save meets it
    assert conflicts(migrations, action("Instance", "save", {"uuid": "u1"}, ["task_state"]))
    by_id = call("Migration", "get_by_id", 1)
    assert [str(a) for a in by_id] == ["read migrations(id=1)"]
    assert conflicts(by_id, done) and not conflicts(call("Migration", "get_by_id", 2), done)


def test_an_instance_destroyed_writes_every_row_that_names_it() -> None:
    gone = {str(a) for a in action("Instance", "destroy", {"uuid": "u1"}) if a.write}
    assert {"write instances(uuid=u1)", "write instance_extra(instance_uuid=u1)",
            "write migrations(instance_uuid=u1)", "write tags(resource_id=u1)"} <= gone  # fmt: skip


def test_compute_node_and_device_saves_meet_only_their_own_rows() -> None:
    node = action("ComputeNode", "save", {"id": 2, "host": "host2"}, ["pci_device_pools"])
    assert [str(a) for a in node] == ["write compute_nodes(id=2) [pci_stats,updated_at]"]
    assert not conflicts(call("ComputeNode", "get_by_id", 1), node)
    assert conflicts(call("ComputeNode", "get_by_id", 2), node)
    assert not conflicts(call("Instance", "get_by_uuid", "u1"), node)
    device = action("PciDevice", "save", {"compute_node_id": 2, "address": "0000:81:00.0"},
                    ["status", "instance_uuid"])  # fmt: skip
    assert not conflicts(call("PciDeviceList", "get_by_compute_node", 1), device)
    assert conflicts(call("PciDeviceList", "get_by_compute_node", 2), device)
    assert not conflicts(call("Instance", "get_by_uuid", "u1"), device)
    assert not conflicts(node, device) and not conflicts(audit_list(), device)
    # an instance read with its devices joined reads their rows too
    assert conflicts(call("Instance", "get_by_uuid", "u1", ["pci_devices"]), device)
    assert conflicts(call("PciDeviceList", "get_by_instance_uuid", "u1"), device)


def audit_list() -> list:
    return call("InstanceList", "get_by_host_and_node", "host2", "host2", AUDIT_ATTRS)
