"""The API that scenarios, tests and the control commands call: servers, hosts, audits, and
the views checks are made from. Every wait is bounded by ``timeouts.settle``.

Like Nova's API it writes only what an API writes (a new server, a migration, a task and the
server's task state, a forced-down service, a local delete) and asks hosts for the rest; it
must not do a host's work in its place. It keeps no state of its own beyond who is waiting
(the SQLite state and the hosts are the truth), and it must not wait without a bound.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from orchestrator.cluster.api_moves import MovesAPI
from orchestrator.cluster.invariants import violations
from orchestrator.cluster.scheduler import pick_host
from orchestrator.cluster.state import State
from testbed.config import Config
from testbed.errors import ApiError, WaitTimeout
from testbed.transport import RemoteError, RouterCaller, RpcTimeout, Unreachable
from testbed.vocabulary import (
    UNTIL,
    DeviceStatus,
    Fault,
    HostState,
    MigrationStatus,
    TaskState,
    TaskStatus,
    Until,
    VmState,
)

T = TypeVar("T")


class API(MovesAPI):
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

    # -- waiting --------------------------------------------------------------------------
    def waiting(self) -> bool:
        """Some caller (the scenario) is inside ``wait_for`` and nothing it waits for holds
        yet: it is blocked on the cluster (a wait whose condition just came true is on its
        way out, and may start new work)."""
        with self.state.changed:
            if not self._in_wait - self._move_threads or not self._move_threads <= self._in_wait:
                # the caller itself must wait, and a background move between two of its tasks
                # is not blocked
                return False
            try:
                return not any(p() for p in self._waits)
            except Exception:  # a predicate that raises ends its wait: not blocked
                return False

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

    def wait_idle(self) -> None:
        """Until no task runs on a live host (a killed host's tasks are lost, not running) and
        no move goes on in the background."""
        self.wait_for(
            "running tasks to finish",
            lambda: (
                not self._moves
                and not any(self.is_up(t["host"]) for t in self.state.tasks_running())
            ),
        )

    def audit(self, host: str, wait: bool = True) -> str:
        task = self._task(self.known(host), "audit")
        if wait:
            self.wait_task(task)
        return task

    # -- servers --------------------------------------------------------------------------
    def server(self, name: str) -> dict[str, Any]:
        try:
            return self.state.instance_by_name(name)
        except LookupError as exc:
            raise ApiError(str(exc)) from None

    def free_devices(self) -> dict[str, int]:
        free = {h: 0 for h in self.hosts}
        for d in self.state.devices():
            if d["status"] == DeviceStatus.AVAILABLE:
                free[d["host"]] = free.get(d["host"], 0) + 1
        return free

    def _pick(self, count: int, exclude: str | None = None) -> str:
        up = [h for h, s in self.host_states().items() if s == HostState.UP]
        return pick_host(self.free_devices(), up, count, exclude)

    def create_server(
        self, name: str, host: str | None = None, pci: int | None = None, wait: bool = True
    ) -> dict[str, Any]:
        """Build a server with ``pci`` devices (default ``devices.per_server``)."""
        pci = self.config.devices.per_server if pci is None else pci
        if any(i["name"] == name for i in self.state.instances()):
            raise ApiError(f"a server named '{name}' exists already")
        host = self.known(host) if host else self._pick(pci)
        uuid = self.state.instance_create(name, host, pci)
        task = self._task(host, "build", uuid=uuid)
        if wait:
            self.wait_task(task)
        return self.state.instance_get(uuid)

    def evacuate(
        self, name: str, target: str | None = None, until: str = Until.DONE
    ) -> dict[str, Any]:
        """Nova's evacuate: only off a host that is down. ``until``: return once the migration
        is accepted, the destination has made its move claim, or the evacuation is done."""
        if until not in UNTIL:
            raise ApiError(f"evacuate: 'until' must be one of {', '.join(UNTIL)}")
        inst = self.server(name)
        source = inst["host"]
        if self.is_up(source):
            raise ApiError(
                f"cannot evacuate {name}: its host {source} is up "
                "(evacuation needs the source host down)"
            )
        if target is not None and self.known(target) == source:
            raise ApiError(f"cannot evacuate {name} to {target}: it is the source host")
        target = target or self._pick(inst["pci_count"], exclude=source)
        migration = self.state.migration_create(inst["uuid"], source, target)
        self.state.instance_save(inst["uuid"], {"task_state": TaskState.REBUILDING})
        task = self._task(target, "evacuate", uuid=inst["uuid"], migration=migration)
        if until == Until.CLAIMED:
            self.wait_for(
                f"the move claim of {name} on {target}",
                lambda: self.state.migration_get(migration)["status"] != MigrationStatus.ACCEPTED,
            )
        elif until == Until.DONE:
            self.wait_task(task)
        return {"migration": migration, "task": task, "source": source, "dest": target}

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

    def delete(self, name: str) -> None:
        """On a live host the host frees the devices; on a down host the server is deleted
        here (Nova's local delete) and the host frees them when it returns."""
        inst = self.server(name)
        if self.is_up(inst["host"]):
            self.wait_task(self._task(inst["host"], "delete", uuid=inst["uuid"]))
        else:
            self.state.instance_save(
                inst["uuid"], {"deleted": True, "vm_state": VmState.DELETED, "task_state": None}
            )

    def rebuild(self, name: str) -> None:
        inst = self.server(name)
        self.state.instance_save(inst["uuid"], {"task_state": TaskState.REBUILDING})
        self.wait_task(self._task(inst["host"], "rebuild", uuid=inst["uuid"]))

    # -- views ----------------------------------------------------------------------------
    def allocations(self) -> dict[str, dict[str, int]]:
        """Devices bound (claimed or allocated) per host, per server name."""
        names = {i["uuid"]: i["name"] for i in self.state.instances(include_deleted=True)}
        out: dict[str, dict[str, int]] = {h: {} for h in self.hosts}
        for d in self.state.devices():
            if d["instance_uuid"]:
                server = names.get(d["instance_uuid"], d["instance_uuid"])
                out.setdefault(d["host"], {})[server] = out[d["host"]].get(server, 0) + 1
        return out

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

    def invariant_violations(self) -> list[str]:
        states = self.host_states()
        views = {h: self.host_view(h) for h, s in states.items() if s == HostState.UP}
        return violations(
            self.config,
            self.state.devices(),
            self.state.instances(include_deleted=True),
            states,
            views,
            self.state.tasks(),
        )

    def status(self) -> dict[str, Any]:
        """Hosts (pid, up/down, heartbeat, devices free and bound, servers bound), servers
        and migrations: what ``testbed status`` shows, as plain data."""
        services, states = self.state.services(), self.host_states()
        devices = self.state.devices()  # once, not once per host
        bound = self.allocations()
        hosts = {}
        for host in self.hosts:
            devs = [d for d in devices if d["host"] == host]
            s = services.get(host) or {}
            hosts[host] = {
                "pid": s.get("pid"),
                "joined": host in self.config.cluster.joined,  # else forked and supervised
                "state": states[host],
                "forced_down": bool(s.get("forced_down")),
                "last_heartbeat": s.get("last_seen"),
                "devices": len(devs),
                "free": sum(d["status"] == DeviceStatus.AVAILABLE for d in devs),
                "bound": sum(bound.get(host, {}).values()),
                "servers": sorted(bound.get(host, {})),
            }
        return {
            "hosts": hosts,
            "servers": self.state.instances(),
            "migrations": self.state.migration_query(),
        }
