"""The control server: lets ``testbed status``, ``testbed kill host1``, ... drive a running
cluster (``testbed up``) from another terminal. One ROUTER, served in its own thread, one
command at a time; every command is a small function of the cluster."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import zmq

from orchestrator.checks import Expect, check_allocations
from orchestrator.cluster import Cluster
from orchestrator.invariants import check_invariants
from orchestrator.supervisor import SIGNALS
from testbed import wire
from testbed.errors import ApiError, TestbedError
from testbed.transport import bind, serve_one

log = logging.getLogger("testbed.control")


def status(c: Cluster) -> dict[str, Any]:
    out = c.api.status()
    bound = c.api.allocations()
    for host, row in out["hosts"].items():
        row["pid"] = c.supervisor.pid(host) or row["pid"]
        row["bound"] = sum(bound.get(host, {}).values())
        row["servers"] = sorted(bound.get(host, {}))
    return out


def check(c: Cluster, expect: list[str]) -> dict[str, Any]:
    result = check_allocations(
        c.api.allocations, [Expect.parse(e) for e in expect], c.config.checks, c.settled
    )
    invariants = check_invariants(c.api.invariant_violations, c.config, c.settled)
    return {
        "ok": result.ok and invariants.ok,
        "check": result.to_dict(),
        "diff": result.diff() if not result.ok else [],
        "invariants": invariants.to_dict(),
    }


def kill(c: Cluster, host: str, signal: str = "KILL") -> dict[str, Any]:
    if signal not in SIGNALS:
        raise ApiError(f"unknown signal '{signal}' (one of {', '.join(SIGNALS)})")
    return {"host": host, "pid": c.kill(host, SIGNALS[signal]), "signal": signal}


COMMANDS: dict[str, Callable[..., Any]] = {
    "status": status,
    "check": check,
    "kill": kill,
    "restart": lambda c, host: {"host": host, "pid": c.restart(host)},
    "force_down": lambda c, host, up=False: c.api.force_down(host, not up),
    "server_create": lambda c, name, host=None, pci=None: c.api.create_server(name, host, pci),
    "evacuate": lambda c, server, to=None: c.api.evacuate(server, to),
    "delete": lambda c, server: c.api.delete(server),
    "rebuild": lambda c, server: c.api.rebuild(server),
    "audit": lambda c, host: {"task": c.api.audit(host)},
}


class ControlServer:
    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.sock = cluster.ctx.socket(zmq.ROUTER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.endpoint = bind(
            self.sock, cluster.config.cluster.transport, cluster.ipc_dir, "control"
        )
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, name="control", daemon=True)

    def __enter__(self) -> ControlServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(self.cluster.config.timeouts.settle + 1)

    def handle(self, msg: wire.Message, route: tuple[bytes, ...] = ()) -> Any:
        if msg.op != "control":
            raise ValueError(f"the control server does not take '{msg.op}'")
        fn = COMMANDS.get(msg.body["cmd"])
        if fn is None:
            raise ValueError(f"unknown command '{msg.body['cmd']}'")
        log.info("control: %s %s", msg.body["cmd"], msg.body["args"])
        try:
            return fn(self.cluster, **msg.body["args"])
        except TypeError as exc:  # arguments that do not fit the command
            raise ValueError(f"{msg.body['cmd']}: {exc}") from None
        except TestbedError as exc:  # the user's mistake or a refusal: one line back
            raise ValueError(str(exc)) from None

    def _serve(self) -> None:
        try:
            while not self.stop.is_set():
                if self.sock.poll(50):
                    serve_one(self.sock, self.handle)
        finally:
            self.sock.close(linger=0)
