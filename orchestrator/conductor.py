"""The conductor: the hosts' only way to the state, served on a ROUTER in its own thread."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import zmq

from orchestrator.state import State
from testbed import wire
from testbed.transport import bind, serve_one

log = logging.getLogger("testbed.conductor")


class Conductor:
    def __init__(self, ctx: zmq.Context, state: State, transport: str, ipc_dir: str) -> None:
        self.state = state
        self.sock = ctx.socket(zmq.ROUTER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.endpoint = bind(self.sock, transport, ipc_dir, "conductor")
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, name="conductor", daemon=True)
        s = state
        self.ops: dict[str, Callable[[dict[str, Any]], Any]] = {
            "service.register": lambda b: s.register(b["host"], b["pid"]),
            "service.heartbeat": lambda b: s.heartbeat(b["host"], b["pid"]),
            "pci.get": lambda b: s.pci_get(b["host"]),
            "pci.save": lambda b: s.pci_save(b["host"], b["devices"]),
            "instance.get": lambda b: s.instance_get(b["uuid"]),
            "instance.list_by_host": lambda b: s.instance_list_by_host(b["host"]),
            "instance.save": lambda b: s.instance_save(b["uuid"], b["updates"]),
            "migration.get": lambda b: s.migration_get(b["id"]),
            "migration.query": lambda b: s.migration_query(**b),
            "migration.save": lambda b: s.migration_save(b["id"], b["status"]),
            "task.done": lambda b: s.task_done(b["task"], b["ok"], b.get("error")),
        }

    def start(self) -> None:
        self.thread.start()

    def handle(self, msg: wire.Message, route: tuple[bytes, ...] = ()) -> Any:
        op = self.ops.get(msg.op)
        if op is None:
            raise ValueError(f"the conductor does not take '{msg.op}'")
        return op(msg.body)

    def _serve(self) -> None:
        try:
            while not self.stop.is_set():
                if self.sock.poll(50):
                    serve_one(self.sock, self.handle)
        finally:
            self.sock.close(linger=0)

    def close(self, timeout: float = 2.0) -> None:
        self.stop.set()
        self.thread.join(timeout)
