"""The wire format: versioned JSON envelopes, validated on receipt. Never pickle.

A request is ``{"v": 1, "id": ID, "op": OP, "body": {...}}``; its reply is
``{"v": 1, "id": ID, "ok": true, "body": ...}`` or ``{"v": 1, "id": ID, "ok": false,
"error": "..."}``. This module knows the envelope only: which ops exist and what their bodies
hold is declared by each server at its handlers (``testbed.operations``), and checked there
before any handler runs.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

VERSION = 1
_dumps = json.JSONEncoder(separators=(",", ":")).encode  # built once, not per message
_loads = json.JSONDecoder().decode


class WireError(ValueError):
    """A message that cannot be accepted; ``msg_id`` is set when an error reply is possible."""

    def __init__(self, reason: str, msg_id: str | None = None) -> None:
        super().__init__(reason)
        self.msg_id = msg_id


@dataclass(frozen=True)
class Message:
    id: str
    op: str | None = None  # set on requests
    body: Any = field(default_factory=dict)
    ok: bool | None = None  # set on replies
    error: str | None = None

    @property
    def is_reply(self) -> bool:
        return self.ok is not None


def request(op: str, body: dict[str, Any] | None = None) -> Message:
    return Message(id=os.urandom(16).hex(), op=op, body=body or {})  # unique; cheaper than uuid4


def reply(to: Message, body: Any = None, error: str | None = None) -> Message:
    return error_reply(to.id, error) if error is not None else ok_reply(to.id, body)


def ok_reply(msg_id: str, body: Any = None) -> Message:
    return Message(id=msg_id, ok=True, body=body)


def error_reply(msg_id: str, error: str) -> Message:
    return Message(id=msg_id, ok=False, error=error)


def encode(msg: Message) -> bytes:
    doc: dict[str, Any] = {"v": VERSION, "id": msg.id}
    if msg.is_reply:
        doc["ok"] = msg.ok
        doc["body" if msg.ok else "error"] = msg.body if msg.ok else msg.error
    else:
        doc["op"], doc["body"] = msg.op, msg.body
    return _dumps(doc).encode()


def decode(data: bytes) -> Message:
    """Parse and validate one frame; raises WireError saying what is wrong."""
    try:
        doc = _loads(data.decode())  # UTF-8, as encode writes it
    except (ValueError, RecursionError):  # bad UTF-8 or JSON, huge ints, absurd nesting
        raise WireError("not a JSON document") from None
    if not isinstance(doc, dict):
        raise WireError("not a JSON object")
    msg_id = doc.get("id")
    if not isinstance(msg_id, str) or not msg_id:
        raise WireError("missing message id")
    if type(doc.get("v")) is not int or doc["v"] != VERSION:  # true == 1 in Python
        raise WireError(f"unsupported version {doc.get('v')!r} (expected {VERSION})", msg_id)
    if "ok" in doc:
        if not isinstance(doc["ok"], bool):
            raise WireError("reply field 'ok' must be true or false", msg_id)
        if doc["ok"]:
            return Message(id=msg_id, ok=True, body=doc.get("body"))
        return Message(id=msg_id, ok=False, error=str(doc.get("error", "error")))
    op = doc.get("op")
    if not isinstance(op, str):
        raise WireError("request without 'op'", msg_id)
    body = doc.get("body", {})
    if not isinstance(body, dict):
        raise WireError(f"op '{op}': body must be an object", msg_id)
    return Message(id=msg_id, op=op, body=body)
