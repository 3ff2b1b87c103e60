"""Operations: every request a server takes, declared once, at its handler.

A server (the conductor, a host's command loop, the control server) keeps one ``Operations``
table. ``@table.declare("instance.get")`` on a handler makes it an operation: the body it
takes comes from the handler's signature (each parameter after the first is a field, typed by
its annotation, required unless it has a default), its doc from the docstring, and anything
else the server wants to know about it (a conductor operation's footprint, a control
command's help) from the decorator's keywords. So adding an operation is one decorated
function; the dispatch table, the validation of incoming bodies, the wire tests and the
control command line are all derived from the table.

A body is checked before its handler runs; a bad one raises ``WireError`` naming the op and
the field, which the transport answers as a malformed message. This module must not import
anything above the kernel, nor run handlers' side effects at declaration time.
"""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from testbed import fields
from testbed.wire import WireError

_SCALARS = (str, int, float, bool, list, dict)


def _wire_type(annotation: Any, where: str) -> type:
    """The JSON type a parameter annotation stands for: ``list[str]`` -> list,
    ``str | None`` -> str (None is never sent: an absent field is the default)."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return _wire_type(args[0], where)
    elif origin in (list, dict):
        return origin
    elif annotation in _SCALARS:
        return annotation
    raise TypeError(f"{where}: annotation {annotation!r} has no wire type")


@dataclass(frozen=True)
class Field:
    name: str
    type: type
    required: bool
    default: Any = None


def signature_fields(fn: Callable, where: str, skip: tuple[str, ...] = ()) -> dict[str, Field]:
    """The parameters of ``fn`` after its first (the object it acts on) as fields: typed by
    their annotations, required unless they have a default; ``skip`` names those left out."""
    fields = {}
    for p in list(inspect.signature(fn).parameters.values())[1:]:
        if p.name in skip:
            continue
        required = p.default is inspect.Parameter.empty
        annotation = p.annotation
        if isinstance(annotation, str):  # postponed: resolve where the function lives
            annotation = eval(annotation, fn.__globals__)  # noqa: S307
        kind = _wire_type(annotation, f"{where}, parameter '{p.name}'")
        fields[p.name] = Field(p.name, kind, required, None if required else p.default)
    return fields


@dataclass(frozen=True)
class Operation:
    name: str
    handler: Callable[..., Any]
    fields: dict[str, Field]
    doc: str = ""
    meta: dict[str, Any] = field(default_factory=dict)
    context: tuple[str, ...] = ()  # the server-filled parameters this handler takes

    def check(self, body: Any) -> dict[str, Any]:
        """The body, validated against the fields; raises ``WireError`` naming what is wrong."""
        if not isinstance(body, dict):
            raise WireError(f"op '{self.name}': body must be an object")
        found = 0
        for f in self.fields.values():
            if f.name not in body:
                if f.required:
                    raise WireError(f"op '{self.name}': missing field '{f.name}'")
                continue
            found += 1
            try:
                fields.check(body[f.name], f.type)
            except fields.FieldError as exc:
                why = f"field '{f.name}' has the wrong type ({exc})"
                raise WireError(f"op '{self.name}': {why}") from None
        if found != len(body):  # a key that is no field (counted: no set per request)
            extra = sorted(set(body) - set(self.fields))
            raise WireError(f"op '{self.name}': unknown field '{extra[0]}'")
        return body


class Operations:
    """One server's operations, in declaration order.

    ``context`` names keyword-only handler parameters the server fills in (never sent);
    ``requires`` names the ``meta`` keys every declaration must give (the conductor's
    footprint)."""

    def __init__(
        self, server: str, context: tuple[str, ...] = (), requires: tuple[str, ...] = ()
    ) -> None:
        self.server, self.context, self.requires = server, context, requires
        self._ops: dict[str, Operation] = {}

    def declare(
        self, name: str, extra: dict[str, type] | None = None, **meta: Any
    ) -> Callable[[Callable], Callable]:
        """Declare the decorated handler as operation ``name``. ``extra`` fields are part of
        the body but not the handler's parameters (a host command's ``task`` id, which the
        command loop keeps for itself)."""
        missing = [k for k in self.requires if k not in meta]
        if missing:
            raise TypeError(f"{self.server} op '{name}' declares no {missing[0]}")

        def decorate(handler: Callable) -> Callable:
            params = list(inspect.signature(handler).parameters.values())[1:]
            body = {n: Field(n, t, True) for n, t in (extra or {}).items()}
            context = tuple(p.name for p in params if p.name in self.context)
            body |= signature_fields(handler, f"{self.server} op '{name}'", skip=context)
            doc = inspect.cleandoc(handler.__doc__ or "").split("\n\n")[0].replace("\n", " ")
            self.add(Operation(name, handler, body, doc, meta, context))
            return handler

        return decorate

    def add(self, op: Operation) -> None:
        """Add an operation whose fields are declared elsewhere (a user action's)."""
        if op.name in self._ops:
            raise TypeError(f"{self.server} op '{op.name}' is declared twice")
        self._ops[op.name] = op

    def call(self, target: Any, op: str | None, body: Any, **context: Any) -> Any:
        """Check the body and run the handler on ``target`` (the server object)."""
        operation = self.find(op or "")
        args = operation.check(body)
        if not operation.context:
            return operation.handler(target, **args)
        given = {k: v for k, v in context.items() if k in operation.context}
        return operation.handler(target, **args, **given)

    def find(self, name: str) -> Operation:
        op = self._ops.get(name)
        if op is None:
            raise WireError(f"unknown op '{name}'")
        return op

    def __iter__(self) -> Iterator[Operation]:
        return iter(self._ops.values())

    def __contains__(self, name: object) -> bool:
        return name in self._ops

    def names(self) -> list[str]:
        return list(self._ops)
