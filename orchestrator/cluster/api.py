"""The API that scenarios, tests and the control commands call: its generic part (waits,
hosts, tasks, audits, faults, each host's own view). The system under test's API extends it
with the part of each user action that is the orchestrator's (``testbed.system.SystemAPI``; the
model's: ``orchestrator.model.api``). Every wait is bounded by ``timeouts.settle``.

Like Nova's API it writes only what an API writes (a task, a forced-down service) and asks
hosts for the rest; it must not do a host's work in its place. It keeps no state of its own
beyond who is waiting (the SQLite state and the hosts are the truth), and it must not wait
without a bound.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from orchestrator.cluster.state import State
from testbed.config import Config
from testbed.errors import ApiError, WaitTimeout
from testbed.transport import RemoteError, RouterCaller, RpcTimeout, Unreachable
from testbed.vocabulary import (
    UNTIL,
    Fault,
    HostState,
    TaskStatus,
    VmState,
)

T = TypeVar("T")


class API:
    def __init__(
        self,
        state: State,
        commands: RouterCaller,
        config: Config,
        exited: Callable[[str], bool] = lambda host: False,
    ) -> None:
        self.state, self.commands, self.config = state, commands, config
        self.exited = exited  # the supervisor saw the host's process end: down, no need to wait
        self.hosts = config.cluster.hosts
        self._waits: list[Callable[[], Any]] = []  # predicates of callers inside wait_for
        self._abort: str | None = None  # set by an observer that failed: every wait ends
        self._moves: set[str] = set()  # moves going on in the background (``until``), by name
        self._move_threads: set[threading.Thread] = set()  # their threads
        self._in_wait: set[threading.Thread] = set()  # threads inside wait_for
        # asked on every wait: a reason to stop now (the runner's: a task failed, a hold timed
        # out: the run is inconclusive already, waiting longer cannot change that)
        self.guard: Callable[[], str | None] = lambda: None
        # told when a caller of ``wait_for`` is about to block, without the state's lock held
        # (the explorer, who decides only while the scenario waits: it looks again at once)
        self.on_wait: Callable[[], None] | None = None
        # the cluster's: is a live host running a periodic audit the explorer fired (work no
        # task stands for, which ``wait_idle`` waits for too)
        self.firing: Callable[[], bool] = lambda: False

    # -- waiting --------------------------------------------------------------------------
    def waiting(self) -> bool:
        """Some caller (the scenario) is inside ``wait_for``, nothing it waits for holds yet
        and no untraced host runs a task: it is blocked on the cluster (a wait whose condition
        just came true is on its way out, and may start new work)."""
        with self.state.changed:
            if not self._in_wait - self._move_threads or not self._move_threads <= self._in_wait:
                # the caller itself must wait, and a background move between two of its tasks
                # is not blocked
                return False
            try:
                if any(p() for p in self._waits):
                    return False
            except Exception:  # a predicate that raises ends its wait: not blocked
                return False
            # a task of a live host that is not traced holds for nobody: it runs on, and may end
            # the wait or start the next task (a resize's prep_resize before resize_instance)
            trace = self.config.cluster.trace
            return not any(
                t["host"] not in trace and self.is_up(t["host"]) for t in self.state.tasks_running()
            )

    def abort_waits(self, reason: str) -> None:
        """End every wait, now and from now on, with ``ApiError(reason)`` (an observer that
        failed: the scenario must not wait for what will never come)."""
        with self.state.changed:
            self._abort = reason
            self.state.changed.notify_all()

    def wait_for(self, what: str, predicate: Callable[[], T], timeout: float | None = None) -> T:
        """Re-evaluate ``predicate`` on every state change (and at least every heartbeat
        interval, for conditions that time alone makes true) until it holds or time runs out."""
        timeout = self.config.timeouts.settle if timeout is None else timeout
        deadline = time.monotonic() + timeout
        tick = self.config.timeouts.heartbeat_interval
        tell = self.on_wait
        with self.state.changed:
            self._waits.append(predicate)  # the explorer decides only while its caller waits
            self._in_wait.add(threading.current_thread())
            try:
                while True:
                    stop = self._abort or self.guard()
                    if stop:
                        raise ApiError(stop)
                    value = predicate()
                    if value:
                        return value
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise WaitTimeout(f"timed out after {timeout:g} s waiting for {what}")
                    if tell is not None:  # once, before the first block; then look again
                        self.state.changed.release()
                        try:
                            tell()
                        finally:
                            self.state.changed.acquire()
                        tell = None
                        continue
                    self.state.changed.wait(min(left, tick))
            finally:
                self._waits.remove(predicate)
                self._in_wait.discard(threading.current_thread())

    # -- hosts ----------------------------------------------------------------------------
    def known(self, host: str) -> str:
        if host not in self.hosts:
            raise ApiError(f"unknown host '{host}' (hosts: {', '.join(self.hosts)})")
        return host

    def host_states(self) -> dict[str, str]:
        services, now = self.state.services(), time.time()
        down_after = self.config.timeouts.service_down_time
        out = {}
        for host in self.hosts:
            s = services.get(host)
            up = (
                s is not None
                and not s["forced_down"]
                and s["last_seen"] is not None
                and now - s["last_seen"] <= down_after
                and not self.exited(host)
            )
            out[host] = HostState.UP if up else HostState.DOWN
        return out

    def is_up(self, host: str) -> bool:
        return self.host_states()[self.known(host)] == HostState.UP

    def check_evacuation(self, name: str, source: str, target: str | None, until: str) -> None:
        """What every system refuses to evacuate, Nova's way: a wrong ``until``, a source
        host that is up, a target that is the source."""
        if until not in UNTIL:
            raise ApiError(f"evacuate: 'until' must be one of {', '.join(UNTIL)}")
        if self.is_up(source):
            raise ApiError(
                f"cannot evacuate {name}: its host {source} is up "
                "(evacuation needs the source host down)"
            )
        if target is not None and self.known(target) == source:
            raise ApiError(f"cannot evacuate {name} to {target}: it is the source host")

    def wait_host(self, host: str, state: str) -> None:
        self.known(host)
        self.wait_for(f"{host} to be {state}", lambda: self.host_states()[host] == state)

    def force_down(self, host: str, down: bool = True) -> None:
        self.state.set_forced_down(self.known(host), down)

    # -- commands to hosts ----------------------------------------------------------------
    def _task(self, host: str, op: str, **body: Any) -> str:
        if not self.is_up(host):
            raise ApiError(f"host {host} is down")
        task = self.state.task_create(host, op)
        try:
            self.commands.call(host, op, {"task": task, **body}, self.config.timeouts.rpc)
        except (Unreachable, RpcTimeout, RemoteError) as exc:
            why = str(exc)
            if self.exited(host):  # it died before its reply left (a fault at an early point)
                why = f"lost: the host died ({exc})"
            self.state.task_done(task, False, why)
            raise ApiError(f"{op} on {host}: {why}") from None
        return task

    def wait_task(self, task: str) -> None:
        """Until the task is done; a task whose host process ended is lost, at once."""

        def finished() -> dict[str, Any] | None:
            t = self.state.task_get(task)
            if t["state"] == TaskStatus.RUNNING and self.exited(t["host"]):
                self.state.task_done(task, False, f"{t['op']} on {t['host']} lost: the host died")
                t = self.state.task_get(task)
            return t if t["state"] != TaskStatus.RUNNING else None

        t = self.wait_for(f"task {task[:8]}", finished)
        if t["state"] != TaskStatus.DONE:
            raise ApiError(t["error"] or f"{t['op']} on {t['host']} {t['state']}")

    def server(self, name: str) -> dict[str, Any]:
        """The server's row as the system keeps it (host, vm_state, task_state,
        migration_context, ...): each system's API says how it reads it."""
        raise NotImplementedError

    def wait_server(self, name: str, host: str, vm_state: str = VmState.ACTIVE) -> None:
        """Until the server is settled on ``host``: in ``vm_state``, no task, no migration."""

        def settled() -> bool:
            i = self.server(name)
            return (
                i["host"] == host
                and i["vm_state"] == vm_state
                and i["task_state"] is None
                and i["migration_context"] is None
            )

        self.wait_for(f"{name} to be {vm_state} on {host}", settled)

    def wait_idle(self) -> None:
        """Until no task runs on a live host (a killed host's tasks are lost, not running) and
        no move goes on in the background."""
        self.wait_for(
            "running tasks to finish",
            lambda: (
                not self._moves
                and not any(self.is_up(t["host"]) for t in self.state.tasks_running())
                and not self.firing()
            ),
        )

    def audit(self, host: str, wait: bool = True) -> str:
        task = self._task(self.known(host), "audit")
        if wait:
            self.wait_task(task)
        return task

    # -- views ----------------------------------------------------------------------------
    def host_view(self, host: str) -> list[dict[str, Any]]:
        """The host's own view of its devices, asked of the host process itself."""
        try:
            return self.commands.call(host, "pci.view", {}, self.config.timeouts.rpc)
        except (Unreachable, RpcTimeout, RemoteError) as exc:
            raise ApiError(f"pci.view on {host}: {exc}") from None

    def arm_fault(self, host: str, point: str, action: str = Fault.KILL) -> None:
        """Arm a fault at a point of a running host (its current process only)."""
        try:
            self.commands.call(
                self.known(host),
                "inject",
                {"point": point, "action": action},
                self.config.timeouts.rpc,
            )
        except (Unreachable, RpcTimeout, RemoteError) as exc:
            raise ApiError(f"fault on {host}: {exc}") from None

    def status(self) -> dict[str, Any]:
        """Each host's process and liveness: the generic part of what ``testbed status``
        shows; the system's API adds its resources, servers and migrations."""
        services, states = self.state.services(), self.host_states()
        hosts = {}
        for host in self.hosts:
            s = services.get(host) or {}
            hosts[host] = {
                "pid": s.get("pid"),
                "joined": host in self.config.cluster.joined,  # else forked and supervised
                "state": states[host],
                "forced_down": bool(s.get("forced_down")),
                "last_heartbeat": s.get("last_seen"),
            }
        return {"hosts": hosts}
