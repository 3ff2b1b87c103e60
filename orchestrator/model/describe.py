"""How a run's history names the model's conductor requests: their arguments, and what a read
returned, one small dict per row (the history's ``read``; the recorder adds each instance's
server name). The nova system's counterpart is ``orchestrator.nova.describe``."""

from __future__ import annotations

from typing import Any

HIDDEN = ("devices", "host")  # the host is the record's own; a device list says little here


def describe(op: str, body: dict[str, Any], reply: Any, error: str | None) -> dict[str, Any]:
    """The history record's fields of one request: ``args``, and ``read`` when it read rows."""
    out: dict[str, Any] = {}
    args = {k: v for k, v in body.items() if k not in HIDDEN}
    if args:
        out["args"] = args
    rows = _rows(op, reply) if error is None else None
    if rows is not None:
        out["read"] = rows
    return out


def _rows(op: str, reply: Any) -> list[dict[str, Any]] | None:
    """What a read returned (None: the op reads nothing worth it)."""
    if op in ("instance.list_by_host", "instance.get"):
        items = reply if isinstance(reply, list) else [reply]
        return [
            {"table": "instances", "key": i["uuid"], "name": i.get("name"), "host": i.get("host")}
            for i in items
            if isinstance(i, dict) and "uuid" in i
        ]
    if op in ("migration.query", "migration.get"):
        items = reply if isinstance(reply, list) else [reply]
        return [
            {
                "table": "migrations",
                "key": str(m["id"]),
                "instance": m.get("instance_uuid"),
                "status": m.get("status"),
            }
            for m in items
            if isinstance(m, dict) and "id" in m
        ]
    if op == "pci.get" and isinstance(reply, list):
        return [
            {"table": "pci_devices", "key": d.get("address"), "status": d.get("status")}
            for d in reply
            if isinstance(d, dict)
        ]
    return None
