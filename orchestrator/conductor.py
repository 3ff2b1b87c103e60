"""The conductor: the hosts' only way to the state, served on a ROUTER in its own thread.

It also keeps the hold board: a traced host's report may get its reply later, when the board
releases it. Releases decided in other threads (the explorer) reach this thread through an
outbox and a wake-up socket, since only this thread may use the ROUTER.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import zmq

from orchestrator.holds import Board
from orchestrator.state import State
from testbed import wire
from testbed.config import Config
from testbed.transport import DEFER, bind, send_reply, serve_one

log = logging.getLogger("testbed.conductor")
DRAIN = 64  # requests served per poll at most, so released holds are never kept waiting long


class Conductor:
    def __init__(self, ctx: zmq.Context, state: State, config: Config, ipc_dir: str) -> None:
        self.state = state
        self.board = Board(config)
        self.sock = ctx.socket(zmq.ROUTER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.endpoint = bind(self.sock, config.cluster.transport, ipc_dir, "conductor")
        wake = f"inproc://wake-{id(self)}"
        self.wake_rx = ctx.socket(zmq.PAIR)
        self.wake_rx.bind(wake)
        self.wake_tx = ctx.socket(zmq.PAIR)
        self.wake_tx.connect(wake)
        self.wake_lock = threading.Lock()
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
            "task.done": self._task_done,
        }

    def start(self) -> None:
        self.thread.start()

    def _task_done(self, body: dict[str, Any]) -> None:
        self.state.task_done(body["task"], body["ok"], body.get("error"))
        self.board.on_done(body["task"])

    def handle(self, msg: wire.Message, route: tuple[bytes, ...] = ()) -> Any:
        if msg.op == "trace":
            return DEFER if self.board.on_trace(msg.body, (route, msg.id)) else None
        op = self.ops.get(msg.op)
        if op is None:
            raise ValueError(f"the conductor does not take '{msg.op}'")
        return op(msg.body)

    def wake(self) -> None:
        """Called from other threads after they released something on the board."""
        with self.wake_lock:
            self.wake_tx.send(b"", zmq.NOBLOCK)

    def _send_released(self) -> None:
        while self.board.outbox:
            route, msg_id = self.board.outbox.popleft()
            send_reply(self.sock, route, msg_id, None)

    def _serve(self) -> None:
        poller = zmq.Poller()
        poller.register(self.sock, zmq.POLLIN)
        poller.register(self.wake_rx, zmq.POLLIN)
        try:
            while not self.stop.is_set():
                ready = dict(poller.poll(50))
                if self.wake_rx in ready:
                    while self.wake_rx.poll(0):
                        self.wake_rx.recv()
                if self.sock in ready:
                    serve_one(self.sock, self.handle)
                    # Under load more are queued: serve them without a poll round each.
                    for _ in range(DRAIN):
                        if not self.sock.get(zmq.EVENTS) & zmq.POLLIN:
                            break
                        serve_one(self.sock, self.handle)
                self._send_released()
        finally:
            self.sock.close(linger=0)
            self.wake_rx.close(linger=0)

    def close(self, timeout: float = 2.0) -> None:
        self.stop.set()
        if self.thread.is_alive():
            self.wake()  # out of its poll now, not at the next poll timeout
        self.thread.join(timeout)
        with self.wake_lock:
            self.wake_tx.close(linger=0)
