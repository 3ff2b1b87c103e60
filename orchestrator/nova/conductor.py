"""The nova system's conductor operations: Nova's conductor object API, the three methods a
compute host's ``NovaObject.indirection_api`` calls, answered by
``nova.conductor.manager.ConductorManager``'s own methods on the run's Nova database. The
cluster's conductor serves them beside its generic operations, each with its footprint derived
from the call (``orchestrator.nova.footprint``).

``ConductorManager.__init__`` builds a ``ComputeTaskManager``, which makes a placement client
(keystoneauth) and fails without one; the three object methods use nothing of it (only
``_object_dispatch``), so the manager is made without running ``__init__``
(``ConductorManager.__new__``). That is tied to nova 34.0.0, which the extra pins.

Bodies are Nova's RPC serializer's primitives in JSON (no pickle); a failure goes back in
oslo.messaging's remote-exception form inside the testbed's error reply
(``RemoteError``), so the host raises what Nova's RPC layer would (``hosts.nova.objects_client``).
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import oslo_messaging as messaging
from nova import rpc
from nova.conductor import manager as conductor_manager
from nova.objects import base
from oslo_messaging._drivers import common as rpc_common
from oslo_serialization import jsonutils

from orchestrator.nova import footprint
from orchestrator.nova.store import NovaStore
from testbed.operations import Operations
from testbed.transport import RemoteError

log = logging.getLogger("testbed.conductor.nova")

SERIALIZER = rpc.RequestContextSerializer(base.NovaObjectSerializer())
MANAGER = conductor_manager.ConductorManager.__new__(conductor_manager.ConductorManager)

OPS = Operations("conductor", requires=("footprint",))


def _answer(store: NovaStore, op: str, body: dict[str, Any]) -> Any:
    """One object call on the store's database: the result's primitives, or ``RemoteError``
    carrying the failure as oslo.messaging sends it. Under the store's lock (the API reads the
    same file from other threads), and every write wakes the waiters and tells the history."""
    entities = {k: v for k, v in body.items() if k != "context"}
    with store.lock:
        ctx = store.context(SERIALIZER.deserialize_context(body.get("context") or {}))
        kwargs = {k: SERIALIZER.deserialize_entity(ctx, v) for k, v in entities.items()}
        if "args" in kwargs:
            kwargs["args"] = tuple(kwargs["args"])
        try:
            result = getattr(MANAGER, op)(ctx, **kwargs)
        except messaging.ExpectedException as exc:  # _object_dispatch wraps the object's
            raise RemoteError(rpc_common.serialize_remote_exception(exc.exc_info)) from None
        except Exception:
            log.exception("%s failed", op)
            raise RemoteError(rpc_common.serialize_remote_exception(sys.exc_info())) from None
        store.written(body)
        return jsonutils.to_primitive(
            SERIALIZER.serialize_entity(ctx, result), convert_instances=True
        )


@OPS.declare(
    "object_class_action_versions", footprint=footprint.class_action, named=footprint.call
)
def object_class_action_versions(
    store: NovaStore,
    context: dict,
    objname: str,
    objmethod: str,
    object_versions: dict,
    args: list,
    kwargs: dict,
) -> Any:
    """A class method of a Nova object (``InstanceList.get_by_host_and_node``...)."""
    body = {"objname": objname, "objmethod": objmethod, "object_versions": object_versions}
    return _answer(store, "object_class_action_versions", body | {
        "context": context, "args": args, "kwargs": kwargs})  # fmt: skip


@OPS.declare("object_action", footprint=footprint.object_action, named=footprint.call)
def object_action(
    store: NovaStore, context: dict, objinst: dict, objmethod: str, args: list, kwargs: dict
) -> Any:
    """A method of a Nova object (``Instance.save``, ``Migration.save``...)."""
    body = {"context": context, "objinst": objinst, "objmethod": objmethod}
    return _answer(store, "object_action", body | {"args": args, "kwargs": kwargs})


@OPS.declare(
    "object_backport_versions",
    footprint=lambda b: footprint.object_action(b, "backport"),
    named=footprint.call,
)
def object_backport_versions(
    store: NovaStore, context: dict, objinst: dict, object_versions: dict
) -> Any:
    """An object sent back at the versions the host knows."""
    body = {"context": context, "objinst": objinst, "object_versions": object_versions}
    return _answer(store, "object_backport_versions", body)
