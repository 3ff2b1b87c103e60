"""The hold board: what every traced host thread is doing, and which of them wait.

Traced hosts report each point they reach and each use of their resource lock (see
``hosts.injection``). A report that must wait is *held*: the conductor keeps its reply back
until the board releases it. The board keeps the facts — the tasks and their states, who
holds each host's lock, which points have been passed, the replies to send, the injected
kills — and a *policy* per host decides:

- the hold policy (``orchestrator.holds.policy``, every host by default): ``[holds]``;
- the explorer's policy (``orchestrator.holds.explorer_policy``, on the hosts it explores).

The board must not decide what is held or when it goes on; a policy must not change the
board's facts (it only reads them, under the board's lock, and must not block).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from orchestrator.holds.deadlock import Graph, ring
from testbed.points import Address
from testbed.vocabulary import Event

log = logging.getLogger("testbed.holds")

# the reports a policy may hold; the others never wait
HOLDABLE = (Event.POINT, Event.LOCK_REQUEST, Event.REQUEST, Event.TIMER)
T = TypeVar("T")


@dataclass
class Trace:
    task: str
    host: str
    state: str = "running"  # running | held | waiting (for the lock) | done
    event: str = ""  # what it is held at: a point, a lock request or a conductor request
    point: str = ""  # the point, or for the others the last point the task passed
    last_point: str = ""
    pending: Any = None  # (route, msg_id) of the held report
    op: str = ""  # a held conductor request: its op and body
    body: dict[str, Any] | None = None

    @property
    def label(self) -> str:
        if self.event == Event.POINT:
            return self.point
        if self.event == Event.TIMER:
            return "fire"
        return f"{self.op if self.event == Event.REQUEST else 'lock'}@{self.point}"


class Policy(Protocol):
    """Decides from the board's facts; called with the board's lock held."""

    def holds(self, board: Board, task: Trace, event: str, point: str) -> bool:
        """Whether this report (``event`` in ``HOLDABLE``) is held."""
        ...

    def may_go(self, board: Board, task: Trace) -> bool:
        """Whether a held task goes on now (asked after every report and every finish)."""
        ...

    def reached(self, board: Board, task: Trace, point: str) -> None:
        """A task reached ``point`` (before the board asks whether it is held there)."""
        ...

    def gave_up(self, board: Board, task: Trace) -> None:
        """A task this policy held went on without being released: its host's hold timed
        out."""
        ...

    def waits_for(self, board: Board, task: Trace) -> list[tuple[str, list[str]]]:
        """What a held task waits for that only other tasks can give, each with the tasks
        that can (any one of them): the wait-for graph deadlocks are found in
        (``orchestrator.holds.deadlock``)."""
        ...


class Board:
    def __init__(self, default: Policy) -> None:
        self._default = default
        self._policies: dict[str, Policy] = {}  # host -> policy, where not the default
        self._lock = threading.RLock()
        self._tasks: dict[str, Trace] = {}
        self._holder: dict[str, str | None] = {}  # host -> task that owns its lock
        self._passed: set[tuple[str, str]] = set()  # (host, point) some task has gone past
        self._outbox: list[Any] = []  # replies to send: the conductor drains this
        self._killed: list[tuple[str, str]] = []  # (host, point) of every injected kill
        # tasks that have reported an idle timer, and those of them now running what it fired
        self._timers: set[str] = set()
        self.firing: frozenset[str] = frozenset()
        # (host, task, what it waits for, task it waits on, where it stands): the first cycle
        self.cycle: list[tuple[str, str, str, str, str]] = []

    def install(self, hosts: Iterable[str], policy: Policy) -> None:
        """``policy`` decides for ``hosts`` from now on."""
        with self._lock:
            self._policies.update({h: policy for h in hosts})

    def _policy(self, host: str) -> Policy:
        return self._policies.get(host, self._default)

    # -- reports from hosts (conductor thread) --------------------------------------------
    def on_trace(self, body: dict[str, Any], pending: Any) -> bool:
        """Record one report; True when its reply is held back."""
        with self._lock:
            t = self._tasks.setdefault(body["task"], Trace(body["task"], body["host"]))
            event, point = body["event"], body["point"]
            was_held = t.state == "held"
            if was_held:
                self._gave_up(t)  # a held task reports again only once its host stopped waiting
            if event == Event.POINT:
                if t.last_point:
                    self._passed.add((t.host, t.last_point))
                t.last_point = point
                self._policy(t.host).reached(self, t, point)
            elif event == Event.LOCK_WAIT:
                t.state = "waiting"
            elif event == Event.LOCK_ACQUIRED:
                self._holder[t.host], t.state = t.task, "running"
            elif event == Event.LOCK_RELEASED and self._holder.get(t.host) == t.task:
                self._holder[t.host] = None
            elif event == Event.GAVE_UP and not was_held and t.state != "done":
                # released after its host stopped waiting (still held, it gave up just above)
                self._policy(t.host).gave_up(self, t)
            elif event == Event.KILL:
                self._killed.append((t.host, point))
                log.warning("%s kills itself at %s (injected fault)", t.host, point)
            held = event in HOLDABLE and self._policy(t.host).holds(self, t, event, point)
            if held:
                t.state, t.event, t.point, t.pending = "held", event, point, pending
                t.op, t.body = body.get("op", ""), body.get("body")
            elif event in HOLDABLE:
                t.state = "running"
            if event == Event.TIMER:
                self._timers.add(t.task)
            self._sweep()
            self._find_cycle()
            return held

    def on_done(self, task: str) -> None:
        with self._lock:
            t = self._tasks.get(task)
            if t is not None:
                if t.state == "held":
                    self._gave_up(t)
                if t.last_point:
                    self._passed.add((t.host, t.last_point))
                t.state, t.pending = "done", None  # a timed-out hold: nobody to answer
            self._sweep()
            self._find_cycle()

    def _gave_up(self, t: Trace) -> None:
        """Its host's hold timed out: nobody waits for the reply any more."""
        self._policy(t.host).gave_up(self, t)
        t.state, t.pending = "running", None

    def _sweep(self) -> None:
        """Release the held tasks their policy lets go."""
        for t in self._tasks.values():
            if t.state == "held" and self._policy(t.host).may_go(self, t):
                self._release(t)

    def _release(self, t: Trace) -> None:
        t.state = "running"
        self._outbox.append(t.pending)
        t.pending = None

    def take_replies(self) -> list[Any]:
        """The (route, msg_id) of every released report not yet answered; the caller answers."""
        if not self._outbox:  # after every request: unlocked (a racing release: the next call)
            return []
        with self._lock:
            out, self._outbox = self._outbox, []
            return out

    # -- facts, for policies and observers ------------------------------------------------
    # The lock is re-entrant: policies call these under it.
    def has_passed(self, address: Address) -> bool:
        with self._lock:
            return any(address.matches(h, p) for h, p in self._passed)

    def lock_holder(self, host: str) -> str | None:
        with self._lock:
            return self._holder.get(host)

    def live_tasks(self, host: str) -> list[Trace]:
        with self._lock:
            return [t for t in self._tasks.values() if t.host == host and t.state != "done"]

    def held(self, host: str) -> list[Trace]:
        with self._lock:
            return [t for t in self._tasks.values() if t.host == host and t.state == "held"]

    def holding(self, hosts: set[str] | None = None) -> bool:
        """A report of one of ``hosts`` (default: any) is held, or one is released but not yet
        answered: a host waits on the orchestrator."""
        with self._lock:
            return bool(self._outbox) or any(
                t.state == "held" and t.event != Event.TIMER and (hosts is None or t.host in hosts)
                for t in self._tasks.values()
            )

    def at_rest(self, running: set[str]) -> bool:
        """Every task of ``running`` has reported and waits (held) — nothing is on the move."""
        with self._lock:
            return all(t in self._tasks and self._tasks[t].state == "held" for t in running)

    def _find_cycle(self) -> None:
        self.firing = frozenset(
            t.task
            for t in map(self._tasks.get, self._timers)
            if t and t.state != "done" and not (t.state == "held" and t.event == Event.TIMER)
        )
        """Who waits for whom (one waiting for a lock, for its holder; a held one, for what
        its policy names), and the first cycle of it: kept in ``cycle`` for observers, who read
        it without the board's lock (they may hold others the board's callers take)."""
        graph: Graph = {}
        for t in self._tasks.values():
            if t.state == "waiting":
                holder = self._holder.get(t.host)
                graph[t.task] = [(f"{t.host}'s lock", [holder] if holder else [])]
            elif t.state == "held":
                graph[t.task] = self._policy(t.host).waits_for(self, t)
        edges = ring(graph) if len(graph) > 1 else []
        self.cycle = [(self._tasks[a].host, a, w, o, self._at(self._tasks[a])) for a, w, o in edges]

    @staticmethod
    def _at(t: Trace) -> str:
        # a point the host did not report: the one its lock request came from
        where = t.last_point or t.point
        return t.label if t.state == "held" else f"{where or 'its start'} (lock wait)"

    def kills(self) -> list[tuple[str, str]]:
        """(host, point) of every injected kill reported so far."""
        with self._lock:
            return list(self._killed)

    # -- decisions made elsewhere (the explorer's thread) ---------------------------------
    def release(self, task: str) -> None:
        """Let a held task go on; its reply waits in the outbox for the conductor."""
        with self._lock:
            t = self._tasks[task]
            if t.state != "held":
                raise RuntimeError(f"task {task[:8]} is not held")
            self._release(t)

    def at_once(self, predicate: Callable[[], T]) -> T:
        """``predicate()`` under the board's lock (one consistent view of it)."""
        with self._lock:
            return predicate()
