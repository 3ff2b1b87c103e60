"""``NovaObject.indirection_api`` over the testbed's transport: the client half of Nova's
conductor object API (``nova.conductor.rpcapi.ConductorAPI``'s three object methods).

Arguments and results go through Nova's own RPC serializer
(``RequestContextSerializer(NovaObjectSerializer())``) and ``oslo_serialization.jsonutils`` to
JSON primitives, as oslo.messaging puts them on a bus; no pickle. A failure comes back in
oslo.messaging's remote-exception form and is raised here as Nova's RPC layer raises it
(``ComputeHostNotFound`` arrives as ``ComputeHostNotFound_Remote``, still a ``NotFound``), so
the tracker's ``except`` clauses behave as in Nova.
"""

from __future__ import annotations

from typing import Any, Protocol

from nova import rpc
from nova.objects import base
from oslo_messaging._drivers import common as rpc_common
from oslo_serialization import jsonutils

from testbed.transport import RemoteError

SERIALIZER = rpc.RequestContextSerializer(base.NovaObjectSerializer())


class Caller(Protocol):
    """What carries a request to the orchestrator (``hosts.conductor_api.ConductorAPI``)."""

    def call(self, op: str, **body: Any) -> Any: ...


def to_wire(context: Any, **entities: Any) -> dict[str, Any]:
    """The body of one object call: the context and each entity as JSON primitives."""
    body = {k: SERIALIZER.serialize_entity(context, v) for k, v in entities.items()}
    body["context"] = SERIALIZER.serialize_context(context)
    return jsonutils.to_primitive(body, convert_instances=True)


def raise_remote(error: str) -> None:
    """Raise the exception a reply carries, as oslo.messaging would; a transport error (not in
    the remote-exception form) is raised as it came. The conductor sends the form as the text
    of its error reply (``RemoteError: {...}``)."""
    _, _, form = error.partition("RemoteError: ")
    if form.startswith("{"):
        raise rpc_common.deserialize_remote_exception(form, rpc.get_allowed_exmods())
    raise RemoteError(error)


class ObjectClient:
    """Nova's conductor object API, each call a request to the orchestrator's conductor."""

    def __init__(self, caller: Caller) -> None:
        self.caller = caller

    def _call(self, context: Any, op: str, **entities: Any) -> Any:
        try:
            result = self.caller.call(op, **to_wire(context, **entities))
        except RemoteError as exc:
            raise_remote(str(exc))
        return SERIALIZER.deserialize_entity(context, result)

    def object_class_action_versions(
        self,
        context: Any,
        objname: str,
        objmethod: str,
        object_versions: dict,
        args: tuple,
        kwargs: dict,
    ) -> Any:
        return self._call(
            context,
            "object_class_action_versions",
            objname=objname,
            objmethod=objmethod,
            object_versions=object_versions,
            args=args,
            kwargs=kwargs,
        )

    def object_action(
        self, context: Any, objinst: Any, objmethod: str, args: tuple, kwargs: dict
    ) -> Any:
        return self._call(
            context, "object_action", objinst=objinst, objmethod=objmethod, args=args, kwargs=kwargs
        )

    def object_backport_versions(self, context: Any, objinst: Any, object_versions: dict) -> Any:
        return self._call(
            context, "object_backport_versions", objinst=objinst, object_versions=object_versions
        )
