"""Nova's conductor object API served over the testbed's transport: the hosts' object calls
(``NovaObject.indirection_api``) answered by ``nova.conductor.manager.ConductorManager``'s own
``object_class_action_versions``, ``object_action`` and ``object_backport_versions`` on the
run's SQLite file.

``ConductorManager.__init__`` builds a ``ComputeTaskManager``, which makes a placement client
(keystoneauth) and fails without one; the three object methods use nothing of it (only
``_object_dispatch``), so the manager is made without running ``__init__``
(``ConductorManager.__new__``). That is tied to nova 34.0.0, which the extra pins.

Bodies are Nova's RPC serializer's primitives in JSON (no pickle); a failure goes back as
oslo.messaging sends it (``serialize_remote_exception``), so the host raises what Nova would.
Other ops (the testbed's own: ``trace``, ``task.done``, heartbeats) are served by the handlers
given, each ``(body, route, msg_id) -> result`` or ``DEFER``.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import oslo_messaging as messaging
import zmq
from nova import rpc
from nova.conductor import manager as conductor_manager
from nova.objects import base
from oslo_messaging._drivers import common as rpc_common
from oslo_serialization import jsonutils

from testbed import wire
from testbed.ratelimit import RateLimited
from testbed.transport import DEFER, bind, send_reply, serve_one

log = logging.getLogger("testbed.conductor.nova")

SERIALIZER = rpc.RequestContextSerializer(base.NovaObjectSerializer())
OBJECT_OPS = ("object_class_action_versions", "object_action", "object_backport_versions")
ExtraHandler = Callable[[dict[str, Any], tuple[bytes, ...], str], Any]


def object_manager() -> conductor_manager.ConductorManager:
    """A ``ConductorManager`` for its object methods only (see the module's doc)."""
    return conductor_manager.ConductorManager.__new__(conductor_manager.ConductorManager)


def answer(manager: Any, db: Any, op: str, body: dict[str, Any]) -> tuple[bool, Any]:
    """One object call on database ``db`` (``orchestrator.nova.state.Database``): (True,
    result primitives) or (False, the failure in oslo.messaging's remote-exception form)."""
    body = dict(body)
    ctx = db.context(SERIALIZER.deserialize_context(body.pop("context", {})))
    kwargs = {k: SERIALIZER.deserialize_entity(ctx, v) for k, v in body.items()}
    if op == "object_class_action_versions":
        kwargs["args"] = tuple(kwargs.get("args", ()))
    try:
        result = getattr(manager, op)(ctx, **kwargs)
    except messaging.ExpectedException as exc:  # _object_dispatch wraps the object's failure
        return False, rpc_common.serialize_remote_exception(exc.exc_info)
    except Exception:
        log.exception("%s failed", op)
        return False, rpc_common.serialize_remote_exception(sys.exc_info())
    return True, jsonutils.to_primitive(
        SERIALIZER.serialize_entity(ctx, result), convert_instances=True
    )


class NovaConductor:
    """A ROUTER served by its own thread; ``take_replies`` (optional) gives held replies to
    send between requests (the hold board's)."""

    def __init__(
        self,
        ctx: zmq.Context,
        db: Any,
        transport: str,
        ipc_dir: str,
        extra: dict[str, ExtraHandler] | None = None,
        take_replies: Callable[[], list] | None = None,
    ) -> None:
        self.manager, self.db = object_manager(), db
        self.extra = extra or {}
        self.take_replies = take_replies or list
        self.sock = ctx.socket(zmq.ROUTER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.endpoint = bind(self.sock, transport, ipc_dir, "conductor")
        self.bad_frames = RateLimited(log)
        self.calls = 0  # object calls answered (a run's figure)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, name="nova-conductor", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def handle(self, msg: wire.Message, route: tuple[bytes, ...] = ()) -> Any:
        if msg.op in OBJECT_OPS:
            self.calls += 1
            ok, value = answer(self.manager, self.db, msg.op, msg.body)
            if ok:
                return value
            send_reply(self.sock, route, msg.id, error=value)
            return DEFER
        handler = self.extra.get(msg.op or "")
        if handler is None:
            raise wire.WireError(f"unknown op '{msg.op}'", msg.id)
        return handler(msg.body, route, msg.id)

    def _serve(self) -> None:
        poller = zmq.Poller()
        poller.register(self.sock, zmq.POLLIN)
        try:
            while not self.stop.is_set():
                if poller.poll(20):
                    serve_one(self.sock, self.handle, self.bad_frames)
                for route, msg_id in self.take_replies():
                    send_reply(self.sock, route, msg_id, None)
        finally:
            self.sock.close(linger=0)

    def close(self, timeout: float = 2.0) -> None:
        self.stop.set()
        self.thread.join(timeout)


def wait_for(predicate: Callable[[], Any], timeout: float, what: str, step: float = 0.02) -> Any:
    """Poll ``predicate`` until it returns something true; bounded."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{what}: not within {timeout:g} s")
        time.sleep(step)
