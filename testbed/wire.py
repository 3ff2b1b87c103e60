"""The wire format: versioned JSON envelopes, validated on receipt. Never pickle.

A request is ``{"v": 1, "id": ID, "op": OP, "body": {...}}``; its reply is
``{"v": 1, "id": ID, "ok": true, "body": ...}`` or ``{"v": 1, "id": ID, "ok": false,
"error": "..."}``. This module knows the envelope only: which ops exist and what their bodies
hold is declared by each server at its handlers (``testbed.operations``), and checked there
before any handler runs.

Every conductor request passes here twice each way, so the JSON work is the standard
library's C encoder and scanner, built once, and the envelope's fixed keys are written around
the encoded values (the same bytes ``json`` would write for the whole document).
"""

from __future__ import annotations

import itertools
import json
import os
from dataclasses import dataclass, field
from json.encoder import c_make_encoder
from json.encoder import encode_basestring_ascii as _quote
from typing import Any

VERSION = 1
_HEAD = f'{{"v":{VERSION},"id":'  # how every envelope starts, as json writes it
_full = json.JSONEncoder(separators=(",", ":"))
_loads = json.JSONDecoder().decode
_scan = json.JSONDecoder().scan_once  # C scanner: the document at index 0, no whitespace
# The C encoder made once (JSONEncoder.encode builds one per call); None without the C
# accelerator. No circular-reference markers: shared between threads they would be unsafe; a
# cycle (never in a message of ours) ends in RecursionError instead.
_chunks = (
    None
    if c_make_encoder is None
    else c_make_encoder(None, _full.default, _quote, None, ":", ",", False, False, True)
)


def dumps(value: Any) -> str:
    """``value`` as compact ASCII JSON; TypeError/ValueError/RecursionError if it cannot be."""
    if _chunks is None or isinstance(value, str):
        return _full.encode(value)
    return "".join(_chunks(value, 0))


class WireError(ValueError):
    """A message that cannot be accepted; ``msg_id`` is set when an error reply is possible."""

    def __init__(self, reason: str, msg_id: str | None = None) -> None:
        super().__init__(reason)
        self.msg_id = msg_id


_DEFAULT = object()  # "no body given": a request's body is then a new empty object


@dataclass(frozen=True, init=False)
class Message:
    id: str
    op: str | None = None  # set on requests
    body: Any = field(default_factory=dict)
    ok: bool | None = None  # set on replies
    error: str | None = None

    def __init__(
        self,
        id: str,  # noqa: A002 (the envelope's name for it)
        op: str | None = None,
        body: Any = _DEFAULT,
        ok: bool | None = None,
        error: str | None = None,
    ) -> None:
        # Straight into the instance's dict: the generated frozen __init__ pays an
        # object.__setattr__ per field, on every message.
        d = self.__dict__
        d["id"], d["op"], d["ok"], d["error"] = id, op, ok, error
        d["body"] = {} if body is _DEFAULT else body

    @property
    def is_reply(self) -> bool:
        return self.ok is not None


_seq = itertools.count()
_prefix = os.urandom(8).hex()


def _reseed() -> None:
    global _seq, _prefix
    _seq, _prefix = itertools.count(), os.urandom(8).hex()


os.register_at_fork(after_in_child=_reseed)  # a forked host must not repeat its parent's ids


def new_id() -> str:
    """Unique: a random prefix per process and a counter (32 hex digits, as uuid4's; no
    system call per message, as os.urandom would make)."""
    return f"{_prefix}{next(_seq):016x}"


def request(op: str, body: dict[str, Any] | None = None) -> Message:
    return Message(new_id(), op, body or {})


def reply(to: Message, body: Any = None, error: str | None = None) -> Message:
    return error_reply(to.id, error) if error is not None else ok_reply(to.id, body)


def ok_reply(msg_id: str, body: Any = None) -> Message:
    return Message(msg_id, body=body, ok=True)


def error_reply(msg_id: str, error: str) -> Message:
    return Message(msg_id, ok=False, error=error)


def encode_request(msg_id: str, op: str, body: Any) -> bytes:
    return f'{_HEAD}{_quote(msg_id)},"op":{_quote(op)},"body":{dumps(body)}}}'.encode()


def encode_reply(msg_id: str, body: Any = None, error: str | None = None) -> bytes:
    """An ok reply carrying ``body``; with ``error`` set, an error reply."""
    return _reply(msg_id, True, body) if error is None else _reply(msg_id, False, error)


def _reply(msg_id: str, ok: bool, value: Any) -> bytes:
    fields = '"ok":true,"body":' if ok else '"ok":false,"error":'
    return f"{_HEAD}{_quote(msg_id)},{fields}{dumps(value)}}}".encode()


def encode(msg: Message) -> bytes:
    if msg.ok is None:
        return encode_request(msg.id, msg.op, msg.body)  # type: ignore[arg-type]
    return _reply(msg.id, msg.ok, msg.body if msg.ok else msg.error)


def _parse(text: str) -> Any:
    try:
        doc, end = _scan(text, 0)
        if end == len(text):
            return doc
    except (StopIteration, ValueError, RecursionError):
        pass
    return _loads(text)  # whitespace, extra data or an error: the full parser says which


def decode(data: bytes) -> Message:
    """Parse and validate one frame; raises WireError saying what is wrong."""
    try:
        doc = _parse(data.decode())  # UTF-8, as encode writes it
    except (ValueError, RecursionError):  # bad UTF-8 or JSON, huge ints, absurd nesting
        raise WireError("not a JSON document") from None
    if type(doc) is not dict:
        raise WireError("not a JSON object")
    msg_id = doc.get("id")
    if type(msg_id) is not str or not msg_id:
        raise WireError("missing message id")
    v = doc.get("v")
    if type(v) is not int or v != VERSION:  # true == 1 in Python
        raise WireError(f"unsupported version {v!r} (expected {VERSION})", msg_id)
    ok = doc.get("ok")
    if ok is not None or "ok" in doc:
        if type(ok) is not bool:
            raise WireError("reply field 'ok' must be true or false", msg_id)
        if ok:
            return Message(msg_id, body=doc.get("body"), ok=True)
        return Message(msg_id, ok=False, error=str(doc.get("error", "error")))
    op = doc.get("op")
    if type(op) is not str:
        raise WireError("request without 'op'", msg_id)
    body = doc.get("body", _DEFAULT)
    if body is _DEFAULT:
        body = {}
    elif type(body) is not dict:
        raise WireError(f"op '{op}': body must be an object", msg_id)
    return Message(msg_id, op, body)
