"""Footprints of Nova's object calls, derived from the call itself: the object's class (which
table), the method (a read or a write), its arguments (which rows) and the changed fields
(which columns). One small table per Nova object class (``CLASSES``); no call site is named.
They name Nova's own tables and columns, as its database API touches them: the check of
footprints (``cluster.check_footprints``) holds each call to what it really touched.

- A class method's arguments are bound to the method's own signature (Nova's, read with
  ``inspect``); each argument named like a column of the class's table (or an alias the table
  gives) selects rows by equality (``InstanceList.get_by_host_and_node(host, node)`` reads
  ``instances(host=..., node=...)``); a method whose name starts with ``get`` reads, any other
  writes. ``MigrationList.get_in_progress_and_error(host, node)`` names no column of
  ``migrations`` (its host is the source or the destination): every row; it loads each
  migration's instance with its system metadata too.
- An object's method (``object_action``) selects the object's row by its key fields from the
  data it carries; ``save`` writes the changed fields' columns and ``updated_at``, ``refresh``
  and lazy loads read, any other method writes the row (``create``...).
  ``Instance.drop_migration_context`` writes the instance's ``migration_context``,
  ``Instance.destroy`` every row that names the instance (``DESTROYED``).
- An instance is rows of several tables, each selected by the instance's uuid: ``instances``,
  its extra fields in ``instance_extra`` (``InstancePCIRequests``... read one column of it),
  its info cache, metadata, system metadata, security groups, faults, tags, devices
  (``JOINED``). An Instance read reads its row's fields and the tables Nova joins; read by
  host, the joined tables' rows are not known from the call: every row, of the columns asked
  for. ``Instance.save`` writes each changed field where Nova keeps it (``pci_requests`` always,
  changed or not) and reads the instance back.

Too wide is allowed (more schedules), too narrow is not (a missed race)."""

from __future__ import annotations

import functools
import inspect
from typing import Any, NamedTuple

from nova import objects
from nova.db.main import models
from nova.objects import instance

from orchestrator.cluster.footprint import Access, reads, writes


class Table(NamedTuple):
    """What a Nova object class touches of the database, as footprints name it."""

    name: str  # the table
    keys: tuple[str, ...] = ()  # the object's fields that select its row
    aliases: dict[str, str] = {}  # argument or field name -> column
    columns: tuple[str, ...] = ()  # the only columns it reads and writes ((): its fields)
    joins: dict[str, tuple[str, ...]] = {}  # a class method -> the other tables it reads


# One entry per Nova object class (its List shares it); no call site is named.
UUID = {"instance_uuid": "uuid"}
CLASSES: dict[str, Table] = {
    "Instance": Table("instances", ("uuid",), UUID),
    # the in-progress lists load each migration's instance and its system metadata
    "Migration": Table("migrations", ("id",), {"migration_id": "id"}, joins=dict.fromkeys(
        ("get_in_progress_by_host_and_node", "get_in_progress_and_error"),
        ("instances", "instance_system_metadata"))),
    "ComputeNode": Table("compute_nodes", ("id",), {"compute_id": "id", "compute_uuid": "uuid",
                                                     "nodename": "hypervisor_hostname",
                                                     "pci_device_pools": "pci_stats",
                                                     "supported_hv_specs": "supported_instances"}),
    # its class methods' ``uuid`` is the instance's (``PciDeviceList.get_by_instance_uuid``)
    "PciDevice": Table("pci_devices", ("compute_node_id", "address"),
                       {"node_id": "compute_node_id", "dev_addr": "address",
                        "uuid": "instance_uuid"}),
    "Service": Table("services", ("host", "binary")),
    "BlockDeviceMapping": Table("block_device_mapping", ("id",)),
    "InstanceInfoCache": Table("instance_info_caches", ("instance_uuid",), {},
                               ("network_info",)),
    # instance_extra columns, each the instance's field of that name
    "InstancePCIRequests": Table("instance_extra", ("instance_uuid",), {}, ("pci_requests",)),
    "MigrationContext": Table("instance_extra", ("instance_uuid",), {}, ("migration_context",)),
    "InstanceNUMATopology": Table("instance_extra", ("instance_uuid",), {}, ("numa_topology",)),
    "Resource": Table("instance_extra", ("instance_uuid",), {}, ("resources",)),
}  # fmt: skip
READS = ("refresh", "obj_load_attr")  # an object's methods that write nothing
EXTRA = frozenset(instance._INSTANCE_EXTRA_FIELDS)  # Instance fields in instance_extra's row
FLAVORS = {"flavor", "old_flavor", "new_flavor"}  # one column: instance_extra.flavor
OPTIONAL = EXTRA | frozenset(instance._INSTANCE_OPTIONAL_JOINED_FIELDS)
# Instance fields kept in other tables: table, and the column that names the instance
JOINED: dict[str, tuple[tuple[str, str], ...]] = {
    "metadata": (("instance_metadata", "instance_uuid"),),
    "system_metadata": (("instance_system_metadata", "instance_uuid"),),
    "info_cache": (("instance_info_caches", "instance_uuid"),),
    "security_groups": (("security_group_instance_association", "instance_uuid"),
                        ("security_groups", ""), ("security_group_rules", "")),
    "pci_devices": (("pci_devices", "instance_uuid"),),
    "fault": (("instance_faults", "instance_uuid"),),
    "tags": (("tags", "resource_id"),),
    "services": (("services", ""),),
}  # fmt: skip
# the rows Nova's instance_destroy deletes with an instance: table, the column naming it
DESTROYED = tuple((t, "instance_uuid") for t in (
    "security_group_instance_association", "instance_info_caches", "instance_metadata",
    "instance_faults", "instance_extra", "instance_system_metadata", "block_device_mapping",
    "migrations", "virtual_interfaces", "console_auth_tokens")) + (
    ("instance_id_mappings", "uuid"), ("tags", "resource_id"))
ALWAYS = ("info_cache", "security_groups")  # joined by every read of one instance


def _class(objname: str) -> Table:
    item = objname.removesuffix("List")
    return CLASSES.get(item, Table(item.lower()))


def _columns(table: str) -> frozenset[str]:
    t = models.BASE.metadata.tables.get(table)
    return frozenset(c.name for c in t.columns) if t is not None else frozenset()


@functools.cache
def _parameters(objname: str, method: str) -> tuple[str, ...]:
    """The method's parameters after the class and the context (Nova's signature)."""
    fn = getattr(getattr(objects, objname, None), method, None)
    if fn is None:
        return ()
    return tuple(list(inspect.signature(fn).parameters)[1:])


def _scalar(value: Any) -> bool:
    return isinstance(value, (str, int, float, bool)) or value is None


# the fields of an Instance that are columns of its row
INSTANCE_COLUMNS = frozenset(objects.Instance.fields) & _columns("instances")


def _extra_column(field: str) -> str:
    return "flavor" if field in FLAVORS else field


def instance_rows(uuid: Any, fields: frozenset[str] | set[str], asked: set[str]) -> list[Access]:
    """An instance read: its row's ``fields`` (of ``instances``) and the rows Nova joins for
    the optional fields ``asked`` for (and those it always joins). ``uuid``: the instance's,
    or None when the call selects instances otherwise (every row of the joined tables)."""
    rows = {} if uuid is None else {"uuid": uuid}
    out = [Access("instances", False, rows, frozenset(fields))]
    extra = {_extra_column(f) for f in asked & (EXTRA | FLAVORS)}
    if extra:
        by = {} if uuid is None else {"instance_uuid": uuid}
        out.append(reads("instance_extra", "instance_uuid", *sorted(extra), **by))
    always = set(ALWAYS) if uuid is not None else set()  # a list by host joins what it asks
    for f in sorted((asked | always) & set(JOINED)):
        for table, column in JOINED[f]:
            out.append(reads(table, **({column: uuid} if column and uuid is not None else {})))
    return out


def _instance_reads(bound: dict[str, Any], rows: dict[str, Any]) -> list[Access]:
    """An Instance read: every field but the optional ones not asked for (a lazy load later is
    a call of its own), and the rows of the tables Nova joins for what is asked."""
    asked = bound.get("expected_attrs")
    asked = set(asked) if isinstance(asked, list) else {"metadata", "system_metadata"}
    found = instance_rows(rows.get("uuid"), INSTANCE_COLUMNS, asked)
    return [Access("instances", False, rows, INSTANCE_COLUMNS), *found[1:]]


def class_action(body: dict[str, Any]) -> list[Access]:
    """``object_class_action_versions``: ``objname.objmethod(*args, **kwargs)``."""
    objname, method = body["objname"], body["objmethod"]
    table = _class(objname)
    bound = dict(zip(_parameters(objname, method), body.get("args") or [], strict=False))
    bound |= body.get("kwargs") or {}
    columns = _columns(table.name)
    rows = {
        table.aliases.get(k, k): v
        for k, v in bound.items()
        if table.aliases.get(k, k) in columns and _scalar(v)
    }
    if not method.startswith("get"):
        return [writes(table.name, *table.columns, **rows)]
    if table.name == "instances":
        return _instance_reads(bound, rows)
    return [reads(table.name, *table.columns, **rows), *map(reads, table.joins.get(method, ()))]


def _instance_save(uuid: Any, data: dict[str, Any], changed: list[str]) -> list[Access]:
    """``Instance.save``: each changed field where Nova keeps it (``pci_requests`` whenever
    set), then the instance read back with the fields it has."""
    by = {} if uuid is None else {"instance_uuid": uuid}
    plain = [f for f in changed if f not in OPTIONAL]
    extra = {_extra_column(f) for f in changed if f in EXTRA | FLAVORS}
    extra |= {"pci_requests"} if "pci_requests" in data else set()
    out = []
    if plain:
        out.append(writes("instances", *plain, "updated_at", **({"uuid": uuid} if by else {})))
    if extra:
        out.append(writes("instance_extra", *sorted(extra), "updated_at", **by))
    for f in ("metadata", "system_metadata"):
        if f in changed:
            out.append(writes(JOINED[f][0][0], **by))
    if "info_cache" in changed:
        out.append(writes("instance_info_caches", "network_info", "updated_at", **by))
    asked = {f for f in data if f in OPTIONAL} - {"pci_devices"} | {"system_metadata"}
    return out + instance_rows(uuid, INSTANCE_COLUMNS, asked)


def _instance_destroy(uuid: Any, hard: bool) -> list[Access]:
    """``Instance.destroy``: Nova reads the instance, then deletes its row and every row that
    names it (``DESTROYED``; soft or hard, the same rows; hard, its actions too)."""
    out = instance_rows(uuid, INSTANCE_COLUMNS, {"metadata", "system_metadata"})
    out.append(writes("instances", **({} if uuid is None else {"uuid": uuid})))
    actions = (("instance_actions", "instance_uuid"), ("instance_actions_events", ""))
    for table, column in DESTROYED + (actions if hard else ()):
        out.append(writes(table, **({column: uuid} if column and uuid is not None else {})))
    return out


def object_action(body: dict[str, Any], method: str | None = None) -> list[Access]:
    """``object_action`` (and a backport, a read): the object's own row."""
    inst = body["objinst"]
    table = _class(inst.get("nova_object.name", ""))
    data = inst.get("nova_object.data") or {}
    rows = {table.aliases.get(k, k): data[k] for k in table.keys
            if k in data and _scalar(data[k])}  # fmt: skip
    if len(rows) < len(table.keys):
        rows = {}  # a new object (no id yet): any row
    method = body.get("objmethod") if method is None else method
    if method in READS or method == "backport":
        return [reads(table.name, *table.columns, **rows)]
    changed = list(inst.get("nova_object.changes") or [])
    kwargs = body.get("kwargs") or {}
    if table.name == "instances":
        if method == "save":
            return _instance_save(rows.get("uuid"), data, changed)
        if method == "destroy":
            return _instance_destroy(rows.get("uuid"), bool(kwargs.get("hard_delete")))
        if method == "drop_migration_context":
            by = {"instance_uuid": rows["uuid"]} if rows else {}
            return [writes("instance_extra", "migration_context", "updated_at", **by)]
    if method == "save":  # the changed fields, and when a field changed, the row's time
        columns = table.columns or [table.aliases.get(f, f) for f in changed]
        if not columns:  # nothing changed: Nova writes nothing and reads the row back
            return [reads(table.name, **rows)]
        return [writes(table.name, *columns, "updated_at", **rows)]
    return [writes(table.name, *table.columns, **rows)]


def call(body: dict[str, Any]) -> str:
    """The object call a request makes (``InstanceList.get_by_host_and_node``,
    ``Instance.save``): what a footprint check names it by."""
    if "objinst" not in body:
        return f"{body['objname']}.{body['objmethod']}"
    return f"{body['objinst'].get('nova_object.name', '?')}.{body.get('objmethod', 'backport')}"


def changes(body: dict[str, Any]) -> tuple[str, str, dict[str, Any]] | None:
    """(table, row key, {field: new value}) of a write by an object's method, for the run's
    history; None for a read or a class method."""
    inst = body.get("objinst")
    if not inst or body.get("objmethod") in READS:
        return None
    table = _class(inst.get("nova_object.name", ""))
    data = inst.get("nova_object.data") or {}
    key = "/".join(str(data.get(k)) for k in table.keys) or "?"
    fields = inst.get("nova_object.changes") or list(data)
    return table.name, key, {f: data[f] if _scalar(data.get(f)) else "…" for f in fields}
