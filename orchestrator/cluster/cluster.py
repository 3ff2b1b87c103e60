"""A running cluster: run directory, log, state, hold board, conductor, command socket,
supervisor, API, for the system under test named by ``cluster.system`` (``testbed.system``).

Use it as a context manager: whatever happens inside, ``close`` stops every host (by pid),
the conductor and the sockets, and removes the private ipc directory. Callers use its methods,
``api`` and ``state``. It must not run scenario steps or checks itself, leave a process,
socket or ipc path behind, nor signal anything it did not start. It knows its system only
through the kernel's registry, its recorder (the run's history) only by the protocol of
``orchestrator.cluster.recording``, and whoever orders its hosts' requests (the explorer) only
through the hold board: it imports nothing from running, exploring or history.
"""

from __future__ import annotations

import gc
import logging
import os
import shutil
import signal
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from orchestrator.cluster.network import NetCaller, NetConductor, Network
from orchestrator.cluster.recording import Recorder, Unrecorded
from orchestrator.cluster.supervisor import Supervisor
from orchestrator.cluster.zygote import Zygote
from orchestrator.holds.board import Board
from orchestrator.holds.policy import HoldPolicy
from orchestrator.holds.record import HoldRecord
from testbed import secure, system
from testbed.config import Config
from testbed.errors import ApiError
from testbed.launch import HostSpec, resolve_entry
from testbed.logs import RunLog
from testbed.secure import ClusterKeys, Guard

log = logging.getLogger("testbed.cluster")


class Cluster:
    buffered_log = False  # the run log is read only once the cluster is closed (``RunLog``)

    def __init__(
        self,
        config: Config,
        run_dir: Path,
        verbose: bool = False,
        recorder: Callable[[Config, Path], Recorder] | None = None,
        zygote: Zygote | None = None,
    ) -> None:
        """``recorder`` makes what records the run (the caller's history, e.g.
        ``orchestrator.history.recorder.for_run``); without one nothing is recorded.
        ``zygote``: forks the hosts (of this configuration), instead of this process."""
        self.config, self.run_dir = config, Path(run_dir)
        entry = resolve_entry(config.cluster.host_entry)
        self.system = system.orchestrator_system(config.cluster.system)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.runlog = RunLog(self.run_dir / "testbed.log", verbose, buffered=self.buffered_log)
        self.state = self.system.open_store(self.run_dir / "state.sqlite")
        self.history = recorder(config, self.run_dir) if recorder else Unrecorded()
        self.state.on_write = self.history.on_write if self.history.enabled else None
        # ipc paths are limited to ~107 bytes: a short private directory, not the run dir.
        self.ipc_dir = tempfile.mkdtemp(prefix="tb-")
        self.ctx = secure.Context()
        self.ctx.listen = config.cluster.listen
        transport = config.cluster.transport
        self.keys: ClusterKeys | None = None
        if transport == "tcp" and config.cluster.curve:  # a key pair per cluster
            self.keys = ClusterKeys.generate()
            self.ctx.guard = Guard(self.ctx, self.keys)
        self.network = Network(config)  # every message of a host's link passes through it
        self.holds = HoldPolicy(config)
        self.board = Board(self.holds)
        self.conductor = NetConductor(
            self.ctx, self.state, config, self.ipc_dir, self.board, self.network, self.system.ops
        )
        self.conductor.observe(self.history.conductor)  # the history's one hook
        self.commands = NetCaller(self.ctx, transport, self.ipc_dir, self.network)
        self.api = self.system.make_api(self.state, self.commands, config, self.exited)
        self.api.firing = self._firing
        self.supervisor = Supervisor(
            self.run_dir, entry, self._spec, self.runlog, config.timeouts.stop_grace, zygote
        )
        self.closed = False
        self.signalled: dict[str, int] = {}  # host -> pid sent a signal that may end or stop it

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
            self.keys.issue("supervised") if self.keys else None,
        )

    def join_document(self, control: str = "", secrets: bool = True) -> dict:
        """What a host needs to join (``testbed host NAME --join-file``); ``secrets`` False
        leaves the keys out (asked for over the control socket, by a peer that has them)."""
        curve = self.keys.issue("joined") if self.keys and secrets else None
        from testbed import join_document as join

        return join.document(
            self.config,
            self.conductor.endpoint,
            self.commands.endpoint,
            control,
            os.getpid(),
            curve,
        )

    def joined(self, host: str) -> bool:
        return host in self.config.cluster.joined

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- hosts ----------------------------------------------------------------------------
    def start(self) -> None:
        """Start the conductor, fork every supervised host and wait for each to register.
        The cyclic garbage collector is on afterwards: the console script starts with it off,
        and what it built until here is frozen, not walked again."""
        log.info(
            "conductor at %s, commands from %s", self.conductor.endpoint, self.commands.endpoint
        )
        self.conductor.start()
        supervised = [h for h in self.config.cluster.hosts if not self.joined(h)]
        if not gc.isenabled():  # the console script starts with it off (orchestrator.cli.script)
            # what start-up built lives as long as we do: never walked again, and the hosts
            # forked now share its pages rather than copy them when they collect (gc.freeze)
            gc.freeze()
        try:
            self.supervisor.prepare(supervised)
            pids = {host: self._launch(host) for host in supervised}  # joined hosts come by
        finally:
            gc.enable()
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

    def _supervised(self, host: str) -> str:
        if self.joined(self.api.known(host)):
            pid = (self.state.services().get(host) or {}).get("pid")
            raise ApiError(
                f"host {host} joined the cluster (pid {pid or '-'}): stop or restart it where "
                "it runs"
            )
        return host

    def start_host(self, host: str) -> int:
        self._supervised(host)
        pid = self._launch(host)
        self._await_registration(host, pid)
        return pid

    def restart(self, host: str) -> int:
        self._supervised(host)
        self.supervisor.stop(host)
        return self.start_host(host)

    def kill(self, host: str, sig: int = signal.SIGKILL) -> int:
        self._supervised(host)
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
        if self.board.holding(set(alive)):  # a dead host's held report is moot
            return False
        if not alive:
            return True
        if self.config.cluster.audit_interval > 0 and not self.config.cluster.timer_fires:
            return False  # a timer could fire (explored, it fires only when the explorer says)
        if any(self.signalled.get(h) == pid for h, pid in alive.items()):
            return False
        services, states = self.state.services(), self.api.host_states()
        for host, pid in alive.items():
            s = services.get(host)
            if not s or s["pid"] != pid or not s["registered"] or states[host] != "up":
                return False
        return not any(t["host"] in alive for t in self.state.tasks_running())

    def _firing(self) -> bool:
        """A live host's periodic thread runs an audit the explorer fired (read without the
        board's lock: the API asks under the state's)."""
        hosts = [h for h in self.config.cluster.hosts if self.supervisor.alive(h)]
        pids = {f"periodic-{h}-{self.supervisor.pid(h)}" for h in hosts}
        return bool(self.board.firing & pids)

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
        services = self.state.services()
        return {"orchestrator": os.getpid()} | {
            h: self.supervisor.pid(h) or (services.get(h) or {}).get("pid")
            for h in self.config.cluster.hosts
        }

    # -- holds ----------------------------------------------------------------------------
    def hold_record(self) -> HoldRecord:
        """What happened to each ``[holds]`` hold so far, and every hold that timed out."""
        return self.holds.record

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
            if self.ctx.guard is not None:
                self.ctx.guard.close()
            self.ctx.destroy(linger=0)
            self.history.close()
            self.runlog.close()
            self.supervisor.release()
            self.state.close()
            shutil.rmtree(self.ipc_dir, ignore_errors=True)
