"""Nova's own code under test, end to end: bug 1896463 on nova 34.0.0's resource tracker.

Two host processes, forked from this process (Nova imported once, here), each running Nova's
``ResourceTracker`` and ``PciDevTracker`` with no database access; every object call goes over
real ZeroMQ to Nova's conductor object methods in this process, on a real SQLite file with Nova's
schema. The evacuation races host2's audit in the order the built-in ``evacuate-race`` scenario
forces with its ``[holds]`` (the testbed's hold board, no sleeps). Nova as shipped keeps vm1's
device on host2; with ``finish_evacuation`` unlocked (``--no-fix 1896463``) the audit's
``clean_usage`` frees it: 0 of 1.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("nova", reason="the nova system needs: pip install '.[nova]'")

import zmq  # noqa: E402

import hosts.nova.process as nova_host  # noqa: E402
from orchestrator.holds.board import Board  # noqa: E402
from orchestrator.holds.policy import OrderingPolicy  # noqa: E402
from orchestrator.nova import api, conductor, state  # noqa: E402
from testbed import config as tb_config  # noqa: E402
from testbed.fixes import ALL  # noqa: E402
from testbed.launch import HostSpec  # noqa: E402
from testbed.transport import DEFER, RouterCaller  # noqa: E402

SCENARIO = Path(__file__).parents[2] / "orchestrator" / "scenarios" / "evacuate-race.toml"
HOSTS = ("host1", "host2")


class Cluster:
    """The orchestrator's side for this test: Nova's conductor object methods, the hold board,
    the hosts' registrations and task results, and a command socket to the hosts."""

    def __init__(self, tmp: Path, fixes: list[str]) -> None:
        layer = tb_config.read_toml(SCENARIO)["config"]
        layer["cluster"] |= {"fixes": fixes}
        layer["timeouts"] = layer.get("timeouts", {}) | {"rpc": 20.0, "hold": 20.0}
        self.config = tb_config.build([("evacuate-race", layer)])
        self.tmp, self.pids, self.registered, self.done = tmp, {}, {}, {}
        for host in HOSTS:  # forked before this process has a ZeroMQ context or threads
            self.pids[host] = self._fork(host)
        self.db = state.configure(self.config, str(tmp))
        self.ctx = zmq.Context()
        self.board = Board(OrderingPolicy(self.config))
        extra = {
            "service.register": self._register,
            "service.heartbeat": lambda body, route, msg_id: None,
            "task.done": self._task_done,
            "trace": self._trace,
        }
        self.server = conductor.NovaConductor(
            self.ctx, self.db, "ipc", str(tmp), extra, self.board.take_replies
        )
        self.commands = RouterCaller(self.ctx, "ipc", str(tmp), "commands")
        self.server.start()

    def _fork(self, host: str) -> int:
        spec = HostSpec(
            name=host, config=self.config, conductor=f"ipc://{self.tmp}/conductor",
            commands=f"ipc://{self.tmp}/commands", parent_pid=os.getpid(),
            log_level=logging.WARNING, run_dir=str(self.tmp),
        )  # fmt: skip
        pid = os.fork()
        if pid == 0:
            try:
                nova_host.main(spec, logging.StreamHandler(sys.stderr))
            finally:
                os._exit(1)
        return pid

    # -- the testbed's own ops, beside Nova's object calls -------------------------------
    def _register(self, body: dict, route: tuple, msg_id: str) -> None:
        self.registered[body["host"]] = body["pid"]

    def _task_done(self, body: dict, route: tuple, msg_id: str) -> None:
        self.done[body["task"]] = body
        self.board.on_done(body["task"])

    def _trace(self, body: dict, route: tuple, msg_id: str) -> object:
        report = {k: body[k] for k in ("host", "task", "event", "point")}
        if "op" in body:
            report |= {"op": body["op"], "body": body.get("body") or {}}
        return DEFER if self.board.on_trace(report, (route, msg_id)) else None

    # -- driving ---------------------------------------------------------------------------
    def task(self, host: str, op: str, **body: object) -> str:
        task = f"{op}-{host}-{len(self.done)}-{time.monotonic_ns()}"
        self.commands.call(host, op, body | {"task": task}, 20.0)
        return task

    def wait_done(self, *tasks: str) -> list[dict]:
        conductor.wait_for(lambda: all(t in self.done for t in tasks), 30.0, f"tasks {tasks}")
        return [self.done[t] for t in tasks]

    def close(self) -> None:
        for pid in self.pids.values():
            try:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
        self.commands.close()
        self.server.close()
        self.ctx.term()


@pytest.mark.parametrize(
    ("fixes", "kept"),
    [(list(ALL), 1), ([b for b in ALL if b != "1896463"], 0)],
    ids=["nova-as-shipped", "no-fix-1896463"],
)
def test_evacuation_races_the_audit(tmp_path: Path, fixes: list[str], kept: int) -> None:
    started = time.monotonic()
    cluster = Cluster(tmp_path, fixes)
    try:
        conductor.wait_for(lambda: set(cluster.registered) == set(HOSTS), 20.0, "hosts up")
        up = time.monotonic()
        ctx = cluster.db.context()
        vm1 = api.create_server(ctx, "vm1", pci=1)
        assert api.pick_host(ctx, 1) == "host1"
        (built,) = cluster.wait_done(cluster.task("host1", "build", uuid=vm1))
        assert built["ok"], built
        assert api.bound(ctx, "host1") == {vm1: 1}

        os.kill(cluster.pids["host1"], signal.SIGKILL)  # host1 dies
        os.waitpid(cluster.pids.pop("host1"), 0)
        api.force_down(ctx, "host1")
        migration = api.start_evacuation(ctx, vm1, "host2")
        race = time.monotonic()
        evacuate = cluster.task("host2", "evacuate", uuid=vm1, migration=migration)
        audit = cluster.task("host2", "audit")
        results = cluster.wait_done(evacuate, audit)
        finished = time.monotonic()
        assert all(r["ok"] for r in results), results
        assert api.server_host(ctx, vm1) == "host2"
        assert api.bound(ctx, "host2").get(vm1, 0) == kept, f"host2 holds {kept} for vm1"
        assert api.bound(ctx, "host1") == {vm1: 1}  # host1 is down: its stale binding stays
        print(
            f"\nhosts up {up - started:.2f} s, race {finished - race:.2f} s, "
            f"total {finished - started:.2f} s, object calls {cluster.server.calls}"
        )
    finally:
        cluster.close()
