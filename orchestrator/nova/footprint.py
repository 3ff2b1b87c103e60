"""Footprints of Nova's object calls, derived from the call itself: the object's class (which
table), the method (a read or a write), its arguments (which rows) and the changed fields
(which columns). One small table per Nova object class (``CLASSES``); no call site is named.

- A class method's arguments are bound to the method's own signature (Nova's, read with
  ``inspect``); each argument named like a column of the class's table (or an alias the table
  gives) selects rows by equality (``InstanceList.get_by_host_and_node(host, node)`` reads
  ``instances(host=..., node=...)``); a method whose name starts with ``get`` reads, any other
  writes. ``MigrationList.get_in_progress_and_error(host, node)`` names no column of
  ``migrations`` (its host is the source or the destination): every row.
- An object's method (``object_action``) selects the object's row by its key fields from the
  data it carries; ``save`` writes the changed fields (and what Nova's save writes whether
  changed or not: ``Instance.pci_requests``), ``refresh`` and lazy loads read, any other
  method writes the columns the class's table gives it (``drop_migration_context``), or the
  row (``create``, ``destroy``...).
- Instance's extra fields (``instance_extra``) are columns of ``instances`` here, so the
  classes that read or write one of them (``InstancePCIRequests``...) meet ``Instance.save``.
  An Instance read names the fields it reads: all but the optional ones not in
  ``expected_attrs`` (a lazy load is a call of its own); asked for, ``pci_devices`` reads the
  devices' rows too.

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

    name: str  # the table (Instance's extra fields are columns of ``instances`` here)
    keys: tuple[str, ...] = ()  # the object's fields that select its row
    aliases: dict[str, str] = {}  # argument or field name -> column
    columns: tuple[str, ...] = ()  # the only columns it reads and writes ((): its fields)
    saved: tuple[str, ...] = ()  # fields ``save`` writes whenever set, changed or not
    methods: dict[str, tuple[str, ...]] = {}  # an object method -> the columns it writes


# One entry per Nova object class (its List shares it); no call site is named.
UUID = {"instance_uuid": "uuid"}
CLASSES: dict[str, Table] = {
    # Instance.save hands pci_requests and info_cache to their own savers every time
    "Instance": Table("instances", ("uuid",), UUID, saved=("pci_requests", "info_cache"),
                      methods={"drop_migration_context": ("migration_context",)}),
    "Migration": Table("migrations", ("id",), {"migration_id": "id"}),
    "ComputeNode": Table("compute_nodes", ("id",), {"compute_id": "id", "compute_uuid": "uuid",
                                                     "nodename": "hypervisor_hostname"}),
    # its class methods' ``uuid`` is the instance's (``PciDeviceList.get_by_instance_uuid``)
    "PciDevice": Table("pci_devices", ("compute_node_id", "address"),
                       {"node_id": "compute_node_id", "dev_addr": "address",
                        "uuid": "instance_uuid"}),
    "Service": Table("services", ("host", "binary")),
    # instance_extra columns, each the instance row's field of that name
    "InstancePCIRequests": Table("instances", ("instance_uuid",), UUID, ("pci_requests",)),
    "MigrationContext": Table("instances", ("instance_uuid",), UUID, ("migration_context",)),
    "InstanceNUMATopology": Table("instances", ("instance_uuid",), UUID, ("numa_topology",)),
}  # fmt: skip
READS = ("refresh", "obj_load_attr")  # an object's methods that write nothing
# Instance fields kept in other tables' rows, read only when asked for (``expected_attrs``)
OPTIONAL = frozenset(instance._INSTANCE_EXTRA_FIELDS) | {"pci_devices"}


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


def _instance_reads(table: Table, bound: dict[str, Any], rows: dict[str, Any]) -> list[Access]:
    """An Instance read: every field but the optional ones not asked for (a lazy load later is
    a call of its own), and the devices' rows when ``pci_devices`` is asked for."""
    asked = bound.get("expected_attrs") or []
    asked = set(asked) if isinstance(asked, list) else set()
    fields = frozenset(objects.Instance.fields) - (OPTIONAL - asked)
    out = [Access(table.name, False, rows, fields)]
    if "pci_devices" in asked:  # joined: the devices bound to the instance
        bound_to = {"instance_uuid": rows["uuid"]} if "uuid" in rows else {}
        out.append(reads("pci_devices", **bound_to))
    return out


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
    if table.name == "instances" and not table.columns:
        return _instance_reads(table, bound, rows)
    return [reads(table.name, *table.columns, **rows)]


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
    if method == "save":  # the changed fields, and what Nova's save writes whatever changed
        changed = table.columns or (inst.get("nova_object.changes") or [])
        changed = [*changed, *(f for f in table.saved if f in data)]
        # nothing changed: Nova writes nothing and reads the row back
        return [(writes if changed else reads)(table.name, *changed, **rows)]
    return [writes(table.name, *table.methods.get(method, table.columns), **rows)]


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
