"""The supervisor: starts, stops, kills and restarts host processes, by pid only.

Hosts are forked (multiprocessing-logging needs fork), each with a fresh log queue of its own
so that a host killed mid-write cannot silence another: by the orchestrator, or by a zygote
(``orchestrator.cluster.zygote``) the explorer hands it, which forks them instead. It must not
signal by name or process group, nor leave a process unreaped."""

from __future__ import annotations

import atexit
import logging
import multiprocessing
import multiprocessing.util  # its exit handler is registered first, so ours runs before it
import os
import signal
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestrator.cluster import stops
from testbed.launch import HostSpec, host_main, stacks_path
from testbed.logs import HostLogHandler, RunLog

if TYPE_CHECKING:
    from orchestrator.cluster.zygote import Zygote

log = logging.getLogger("testbed.supervisor")
_fork = multiprocessing.get_context("fork")
_LIVE: weakref.WeakSet[Supervisor] = weakref.WeakSet()


@atexit.register  # runs before multiprocessing's own exit handler (registered earlier)
def _kill_leftovers() -> None:
    """An orchestrator leaving without ``close`` (an error in a test harness, say) still ends
    its hosts: multiprocessing would SIGTERM them and wait for ever on a stopped one."""
    for supervisor in list(_LIVE):
        for proc in supervisor.procs.values():
            if proc.exitcode is None:
                for sig in (signal.SIGCONT, signal.SIGKILL):
                    try:
                        os.kill(proc.pid, sig)
                    except ProcessLookupError:
                        pass
                proc.join(1.0)


class Supervisor:
    def __init__(
        self,
        run_dir: Path,
        entry: Callable,
        spec_for: Callable[[str, int], HostSpec],  # (host, incarnation) -> spec
        runlog: RunLog,
        stop_grace: float,
        zygote: Zygote | None = None,
    ) -> None:
        self.run_dir, self.entry, self.spec_for, self.runlog = run_dir, entry, spec_for, runlog
        self.stop_grace, self.zygote = stop_grace, zygote
        self.run = str(run_dir)  # the run the zygote relays its hosts' log records to
        if zygote is not None:
            runlog.relayed(zygote.relay, self.run)
        self.procs: dict[str, multiprocessing.process.BaseProcess] = {}
        self.history: dict[str, list[int]] = {}  # every pid each host ever had
        self.ready: dict[str, HostLogHandler] = {}  # log queues made ahead of a start
        self.launched: list[Any] = []  # the zygote's processes (``release``)
        _LIVE.add(self)

    def prepare(self, hosts: list[str]) -> None:
        """Make the log queues of hosts about to start, before the first of them is forked:
        the forks then follow one another, instead of each waiting for its queue and thread
        while the hosts already forked need the orchestrator's threads to register."""
        for host in hosts if self.zygote is None else ():
            if host not in self.ready:
                self.ready[host] = self.runlog.host_handler(host)

    def start(self, host: str) -> int:
        if self.alive(host):
            raise RuntimeError(f"host {host} is already running (pid {self.procs[host].pid})")
        spec = self.spec_for(host, len(self.history.get(host, [])) + 1)
        if self.zygote is not None:
            proc: Any = self.zygote.launch(spec, self.run)
            self.launched.append(proc)
        else:
            handler = self.ready.pop(host, None) or self.runlog.host_handler(host)
            proc = _fork.Process(
                target=host_main, args=(self.entry, spec, handler), name=host, daemon=True
            )
        with stops.forking():  # a stop while forking is taken once the host is on record
            if self.zygote is None:
                proc.start()
            self.procs[host] = proc
            self.history.setdefault(host, []).append(proc.pid)
        log.info("started %s as pid %d", host, proc.pid)
        return proc.pid

    def pid(self, host: str) -> int | None:
        proc = self.procs.get(host)
        return proc.pid if proc is not None else None

    def exited(self, host: str) -> bool:
        """Its last process was started by us and has ended (it is reaped here too)."""
        proc = self.procs.get(host)
        return proc is not None and not proc.is_alive()

    def alive(self, host: str) -> bool:
        proc = self.procs.get(host)
        return proc is not None and proc.is_alive()

    def kill(self, host: str, sig: int = signal.SIGKILL) -> int:
        proc = self.procs.get(host)
        if proc is None or not proc.is_alive():
            raise RuntimeError(f"host {host} is not running")
        os.kill(proc.pid, sig)
        log.info("sent %s to %s (pid %d)", signal.Signals(sig).name, host, proc.pid)
        if sig == signal.SIGKILL:
            proc.join(self.stop_grace)  # reap it, so no zombie is left behind
        return proc.pid

    def stop(self, host: str) -> None:
        """Graceful: SIGTERM, then SIGKILL after ``stop_grace``; always reaped."""
        self._terminate(host)
        self._reap(host)

    def _terminate(self, host: str) -> None:
        proc = self.procs.get(host)
        if proc is None or proc.exitcode is not None:
            return
        for sig in (signal.SIGCONT, signal.SIGTERM):  # a stopped (SIGSTOP) host must wake up
            try:
                os.kill(proc.pid, sig)
            except ProcessLookupError:
                pass

    def _reap(self, host: str) -> None:
        proc = self.procs.get(host)
        if proc is None:
            return
        proc.join(self.stop_grace)
        if proc.is_alive():
            try:
                os.kill(proc.pid, signal.SIGUSR1)  # the host dumps its stacks (faulthandler)
            except ProcessLookupError:  # reaped just now by another thread starting a process
                return  # (multiprocessing reaps every child it started then)
            proc.join(0.2)
            log.warning(
                "%s (pid %d) ignored SIGTERM for %g s; killed it (stacks in %s)",
                host,
                proc.pid,
                self.stop_grace,
                stacks_path(self.run_dir, host, proc.pid),
            )
            proc.kill()
            proc.join(self.stop_grace)

    def release(self) -> None:
        """Close what the processes of a zygote left open here (their exit sentinels), once
        nothing watches them any more."""
        for proc in self.launched:  # every incarnation's, not only each host's last
            proc.close()

    def stop_all(self) -> None:
        for host in self.procs:  # signal every host first (once), then wait for each
            self._terminate(host)
        for host in self.procs:
            self._reap(host)
        if self.zygote is not None:  # their last log records, relayed before the log closes
            self.zygote.flush(self.run)
        for host, pids in self.history.items():  # killed hosts never removed their empty dump
            for pid in pids:
                path = stacks_path(self.run_dir, host, pid)
                if path.exists() and path.stat().st_size == 0:
                    path.unlink()
