"""The nova system's requests as the run's history names them: Nova's object calls by their
own names (``InstanceList.get_by_host_and_node``, ``Instance.save``, ``Migration.save``,
``MigrationList.get_in_progress_and_error``), their arguments by the method's parameter names,
the rows a read returned (one small dict per object), and a failure by Nova's exception class
and message. Plain data from the request's body and reply; it reads no database."""

from __future__ import annotations

import json
from typing import Any

from orchestrator.nova.footprint import _class, _parameters, _scalar

NAME, DATA = "nova_object.name", "nova_object.data"
SHOWN = ("uuid", "display_name", "host", "node", "status", "address", "instance_uuid",
         "source_compute", "dest_compute", "task_state", "vm_state")  # fmt: skip


def _row(obj: dict[str, Any]) -> dict[str, Any]:
    data = obj.get(DATA) or {}
    table, keys = _class(obj.get(NAME, ""))[:2]
    key = "/".join(str(data.get(k)) for k in keys) if keys else "?"
    row = {"table": table, "key": data.get("address", key) if table == "pci_devices" else key}
    row |= {k: data[k] for k in SHOWN if k in data and _scalar(data[k])}
    if "display_name" in row:
        row["name"] = row.pop("display_name")
    return row


def _rows(reply: Any) -> list[dict[str, Any]] | None:
    if not isinstance(reply, dict) or NAME not in reply:
        return None
    items = (reply.get(DATA) or {}).get("objects")
    return [_row(o) for o in items if isinstance(o, dict)] if items is not None else [_row(reply)]


def _error(error: str) -> str:
    _, _, form = error.partition("RemoteError: ")
    try:
        failure = json.loads(form)
    except ValueError:
        return error[:300]
    return f"{failure.get('class')}: {str(failure.get('message', ''))[:200]}"


# The audit's two lists, by the calls that read them (the history's why names them)
AUDIT_LISTS = {
    ("InstanceList", "get_by_host_and_node"): "instances",
    ("MigrationList", "get_in_progress_and_error"): "migrations",
}


def describe(op: str, body: dict[str, Any], reply: Any, error: str | None) -> dict[str, Any]:
    """The history record's fields of one object call: ``call``, ``args``, ``read``, ``error``."""
    out: dict[str, Any] = {}
    if op == "object_class_action_versions":
        objname, method = body.get("objname", "?"), body.get("objmethod", "?")
        names = _parameters(objname, method)
        args = dict(zip(names, body.get("args") or [], strict=False)) | (body.get("kwargs") or {})
        out["call"] = f"{objname}.{method}"
        out["args"] = {k: v for k, v in args.items() if _scalar(v)}
        if (objname, method) in AUDIT_LISTS:  # what the audit's clean_usage keeps
            out["lists"] = AUDIT_LISTS[objname, method]
    else:
        inst = body.get("objinst") or {}
        method = body.get("objmethod", "backport")
        out["call"] = f"{inst.get(NAME, '?')}.{method}"
        row = _row(inst)
        out["args"] = {"key": row["key"]} | (
            {"fields": inst.get("nova_object.changes")} if inst.get("nova_object.changes") else {}
        )
    rows = _rows(reply) if error is None and out["call"].split(".")[1].startswith("get") else None
    if rows is not None:
        out["read"] = rows
    if error is not None:
        out["error"] = _error(error)
    return out
