"""A running cluster: run directory, log, state, conductor, command socket, supervisor, API.

Use it as a context manager: whatever happens inside, ``close`` stops every host (by pid),
the conductor and the sockets, and removes the private ipc directory.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import tempfile
from pathlib import Path

import zmq

from orchestrator.api import API
from orchestrator.conductor import Conductor
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
        # ipc paths are limited to ~107 bytes: a short private directory, not the run dir.
        self.ipc_dir = tempfile.mkdtemp(prefix="tb-")
        self.ctx = zmq.Context()
        transport = config.cluster.transport
        self.conductor = Conductor(self.ctx, self.state, config, self.ipc_dir)
        self.commands = RouterCaller(self.ctx, transport, self.ipc_dir, "commands")
        self.api = API(self.state, self.commands, config, self._exited)
        self.supervisor = Supervisor(
            self.run_dir, entry, self._spec, self.runlog, config.timeouts.stop_grace
        )
        self.closed = False
        self.signalled: dict[str, int] = {}  # host -> pid sent a signal that may end or stop it

    def _exited(self, host: str) -> bool:
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
        )

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- hosts ----------------------------------------------------------------------------
    def start(self) -> None:
        log.info("conductor at %s, commands from %s", self.conductor.endpoint,
                 self.commands.endpoint)
        self.conductor.start()
        pids = {host: self._launch(host) for host in self.config.cluster.hosts}
        for host, pid in pids.items():
            self._await_registration(host, pid)

    def _launch(self, host: str) -> int:
        self.state.forget_service(host)
        for task in self.state.tasks_running(host):  # the old incarnation's work is lost
            self.state.task_done(task["id"], False, f"{host} restarted")
        return self.supervisor.start(host)

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
            pid = self.supervisor.kill(host, sig)
        except RuntimeError as exc:
            raise ApiError(str(exc)) from None
        if sig == signal.SIGCONT:
            self.signalled.pop(host, None)
        else:
            self.signalled[host] = pid
        return pid

    def settled(self) -> bool:
        """Nothing can change the state any more without a new command: no periodic audit
        can run, no task runs on a live host, every live host is registered and up (none
        starting, restarting, dying or stopped), and no point is held. A delay is only ever
        slept inside a task or a periodic audit, so none is pending either."""
        hosts = self.config.cluster.hosts
        alive = {h: self.supervisor.pid(h) for h in hosts if self.supervisor.alive(h)}
        if self.conductor.board.holding(set(alive)):  # a dead host's held report is moot
            return False
        if not alive:
            return True
        if self.config.cluster.audit_interval > 0:
            return False
        if any(self.signalled.get(h) == pid for h, pid in alive.items()):
            return False
        services, states = self.state.services(), self.api.host_states()
        for host, pid in alive.items():
            s = services.get(host)
            if not s or s["pid"] != pid or not s["registered"] or states[host] != "up":
                return False
        return not any(t["host"] in alive for t in self.state.tasks_running())

    def pids(self) -> dict[str, int | None]:
        return {"orchestrator": os.getpid()} | {
            h: self.supervisor.pid(h) for h in self.config.cluster.hosts
        }

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
            self.runlog.close()
            self.state.close()
            shutil.rmtree(self.ipc_dir, ignore_errors=True)
