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
  data it carries; ``save`` writes the changed fields, ``refresh`` and lazy loads read, any
  other method (``create``, ``destroy``...) writes the row.

Too wide is allowed (more schedules), too narrow is not (a missed race)."""

from __future__ import annotations

import functools
import inspect
from typing import Any

from nova import objects
from nova.db.main import models

from orchestrator.cluster.footprint import Access, reads, writes

# class -> (table, key fields, {argument name: column})
CLASSES: dict[str, tuple[str, tuple[str, ...], dict[str, str]]] = {
    "Instance": ("instances", ("uuid",), {"instance_uuid": "uuid"}),
    "Migration": ("migrations", ("id",), {"migration_id": "id"}),
    "ComputeNode": ("compute_nodes", ("id",), {"nodename": "hypervisor_hostname"}),
    "PciDevice": ("pci_devices", ("compute_node_id", "address"), {"node_id": "compute_node_id"}),
    "Service": ("services", ("host", "binary"), {}),
    "InstancePCIRequests": ("instance_extra", ("instance_uuid",), {}),
    "MigrationContext": ("instance_extra", ("instance_uuid",), {}),
    "InstanceNUMATopology": ("instance_extra", ("instance_uuid",), {}),
}
READS = ("refresh", "obj_load_attr")  # an object's methods that write nothing


def _class(objname: str) -> tuple[str, tuple[str, ...], dict[str, str]]:
    item = objname.removesuffix("List")
    return CLASSES.get(item, (item.lower(), (), {}))


@functools.cache
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


def class_action(body: dict[str, Any]) -> list[Access]:
    """``object_class_action_versions``: ``objname.objmethod(*args, **kwargs)``."""
    objname, method = body["objname"], body["objmethod"]
    table, _, aliases = _class(objname)
    bound = dict(zip(_parameters(objname, method), body.get("args") or [], strict=False))
    bound |= body.get("kwargs") or {}
    columns = _columns(table)
    rows = {
        aliases.get(k, k): v
        for k, v in bound.items()
        if aliases.get(k, k) in columns and _scalar(v)
    }
    return [(reads if method.startswith("get") else writes)(table, **rows)]


def object_action(body: dict[str, Any], method: str | None = None) -> list[Access]:
    """``object_action`` (and a backport, a read): the object's own row."""
    inst = body["objinst"]
    table, keys, _ = _class(inst.get("nova_object.name", ""))
    data = inst.get("nova_object.data") or {}
    rows = {k: data[k] for k in keys if k in data and _scalar(data[k])}
    if len(rows) < len(keys):
        rows = {}  # a new object (no id yet): any row
    method = body.get("objmethod") if method is None else method
    if method in READS or method == "backport":
        return [reads(table, **rows)]
    changed = (inst.get("nova_object.changes") or []) if method == "save" else []
    return [writes(table, *changed, **rows)]


def changes(body: dict[str, Any]) -> tuple[str, str, dict[str, Any]] | None:
    """(table, row key, {field: new value}) of a write by an object's method, for the run's
    history; None for a read or a class method."""
    inst = body.get("objinst")
    if not inst or body.get("objmethod") in READS:
        return None
    table, keys, _ = _class(inst.get("nova_object.name", ""))
    data = inst.get("nova_object.data") or {}
    key = "/".join(str(data.get(k)) for k in keys) or "?"
    fields = inst.get("nova_object.changes") or list(data)
    return table, key, {f: data[f] if _scalar(data.get(f)) else "…" for f in fields}
