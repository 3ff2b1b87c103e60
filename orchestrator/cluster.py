"""A running cluster: run directory, log, state, hold board, conductor, command socket,
supervisor, API.

Use it as a context manager: whatever happens inside, ``close`` stops every host (by pid),
the conductor and the sockets, and removes the private ipc directory. Callers use its methods,
``api`` and ``state``. It must not run scenario steps or checks itself, leave a process,
socket or ipc path behind, nor signal anything it did not start.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import tempfile
from pathlib import Path
from typing import Any

import zmq

from orchestrator.api import API
from orchestrator.conductor import Conductor
from orchestrator.explorer_policy import ExplorerPolicy
from orchestrator.history import FILE, History
from orchestrator.holds import Board
from orchestrator.ordering_policy import OrderingPolicy
from orchestrator.orderings import OrderingRecord
from orchestrator.state import State
from orchestrator.supervisor import Supervisor
from testbed.config import Config
from testbed.errors import ApiError
from testbed.launch import HostSpec, resolve_entry
from testbed.logs import RunLog
from testbed.transport import RouterCaller

log = logging.getLogger("testbed.cluster")


class Cluster:
    def __init__(self, config: Config, run_dir: Path, verbose: bool = False) -> None:
        self.config, self.run_dir = config, Path(run_dir)
        entry = resolve_entry(config.cluster.host_entry)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.runlog = RunLog(self.run_dir / "testbed.log", verbose)
        self.state = State(self.run_dir / "state.sqlite")
        record = config.cluster.history
        self.history = History(
            self.run_dir / FILE if record else None,
            hosts=config.cluster.hosts,
            tracker=config.cluster.tracker,
        )
        self.state.on_write = self.history.on_write if record else None
        # ipc paths are limited to ~107 bytes: a short private directory, not the run dir.
        self.ipc_dir = tempfile.mkdtemp(prefix="tb-")
        self.ctx = zmq.Context()
        transport = config.cluster.transport
        self.orderings = OrderingPolicy(config)
        self.board = Board(self.orderings)
        self.conductor = Conductor(self.ctx, self.state, config, self.ipc_dir, self.board)
        self.conductor.handle = self.history.conductor(self.conductor.handle)  # the one hook
        self.commands = RouterCaller(self.ctx, transport, self.ipc_dir, "commands")
        self.api = API(self.state, self.commands, config, self.exited)
        self.supervisor = Supervisor(
            self.run_dir, entry, self._spec, self.runlog, config.timeouts.stop_grace
        )
        self.closed = False

    def exited(self, host: str) -> bool:
        """A host whose process ended is down at once; heartbeats tell about the others."""
        return self.supervisor.exited(host)

    def _spec(self, host: str, incarnation: int) -> HostSpec:
        return HostSpec(
            host,
            self.config,
            self.conductor.endpoint,
            self.commands.endpoint,
            os.getpid(),
            self.runlog.logger.level,
            str(self.run_dir),
            incarnation,
            self.history.pipe(host),
        )

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- hosts ----------------------------------------------------------------------------
    def start(self) -> None:
        log.info(
            "conductor at %s, commands from %s", self.conductor.endpoint, self.commands.endpoint
        )
        self.conductor.start()
        pids = {host: self._launch(host) for host in self.config.cluster.hosts}
        for host, pid in pids.items():
            self._await_registration(host, pid)

    def _launch(self, host: str) -> int:
        self.state.forget_service(host)
        for task in self.state.tasks_running(host):  # the old incarnation's work is lost
            self.state.task_done(task["id"], False, f"{host} restarted")
        pid = self.supervisor.start(host)
        self.history.started(host, self.supervisor.procs[host], len(self.supervisor.history[host]))
        return pid

    def _await_registration(self, host: str, pid: int) -> None:
        def registered() -> bool:
            if not self.supervisor.alive(host):
                raise ApiError(
                    f"host {host} (pid {pid}) exited during start; see {self.runlog.path}"
                )
            s = self.state.services().get(host)
            return bool(s and s["pid"] == pid and s["registered"])

        self.api.wait_for(f"{host} to start", registered, self.config.timeouts.host_start)

    def start_host(self, host: str) -> int:
        self.api.known(host)
        pid = self._launch(host)
        self._await_registration(host, pid)
        return pid

    def restart(self, host: str) -> int:
        self.api.known(host)
        self.supervisor.stop(host)
        return self.start_host(host)

    def kill(self, host: str, sig: int = signal.SIGKILL) -> int:
        self.api.known(host)
        try:
            return self.supervisor.kill(host, sig)
        except RuntimeError as exc:
            raise ApiError(str(exc)) from None

    def alive(self, host: str) -> bool:
        """The host's process runs (whatever its heartbeats say)."""
        return self.supervisor.alive(self.api.known(host))

    def status(self) -> dict[str, Any]:
        """The API's status, with the pid of each host's current process (a host restarted
        but not yet registered shows its new pid)."""
        out = self.api.status()
        for host, row in out["hosts"].items():
            row["pid"] = self.supervisor.pid(host) or row["pid"]
        return out

    def pids(self) -> dict[str, int | None]:
        return {"orchestrator": os.getpid()} | {
            h: self.supervisor.pid(h) for h in self.config.cluster.hosts
        }

    # -- holds ----------------------------------------------------------------------------
    def gate(self, hosts: list[str]) -> ExplorerPolicy:
        """Hand the order of the hosts' conductor requests and lock requests to the caller:
        they are held until it releases them (the hosts must be traced)."""
        policy = ExplorerPolicy(self.board, self.conductor.wake, hosts)
        self.board.install([self.api.known(h) for h in hosts], policy)
        return policy

    def ordering_record(self) -> OrderingRecord:
        """What happened to each ``[holds]`` ordering so far, and every hold that timed out."""
        return self.orderings.record

    def kills(self) -> list[tuple[str, str]]:
        """(host, point) of every injected kill so far."""
        return self.board.kills()

    # -- teardown -------------------------------------------------------------------------
    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        try:
            self.supervisor.stop_all()
        finally:
            self.conductor.close()
            self.commands.close()
            self.ctx.destroy(linger=0)
            self.history.close()
            self.runlog.close()
            self.state.close()
            shutil.rmtree(self.ipc_dir, ignore_errors=True)
