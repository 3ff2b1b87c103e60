"""The control server: serves the control commands (``orchestrator.control.commands``) to ``testbed
status``, ``testbed kill host1``, ... from another terminal. One ROUTER, served in its own
thread, one command at a time. It must not interpret commands itself: each is declared in
``orchestrator.control.commands``."""

from __future__ import annotations

import logging
import threading
from typing import Any

import zmq

from orchestrator.cluster.cluster import Cluster
from orchestrator.control.commands import COMMANDS
from testbed import wire
from testbed.errors import TestbedError
from testbed.ratelimit import RateLimited
from testbed.transport import bind, serve_one

log = logging.getLogger("testbed.control")


class ControlServer:
    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.sock = cluster.ctx.socket(zmq.ROUTER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.endpoint = bind(
            self.sock, cluster.config.cluster.transport, cluster.ipc_dir, "control"
        )
        self.bad_frames = RateLimited(log)  # this cluster's own, like its conductor's
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, name="control", daemon=True)

    def __enter__(self) -> ControlServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(self.cluster.config.timeouts.settle + 1)

    def handle(self, msg: wire.Message, route: tuple[bytes, ...] = ()) -> Any:
        log.info("control: %s %s", msg.op, msg.body)
        try:
            return COMMANDS.call(self.cluster, msg.op, msg.body)
        except TestbedError as exc:  # the user's mistake or a refusal: one line back
            raise ValueError(str(exc)) from None

    def _serve(self) -> None:
        try:
            while not self.stop.is_set():
                if self.sock.poll(50):
                    serve_one(self.sock, self.handle, self.bad_frames)
        finally:
            self.sock.close(linger=0)
