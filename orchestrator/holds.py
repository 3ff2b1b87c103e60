"""The hold board: what every traced host thread is doing, and which of them wait.

Traced hosts report each point they reach and each use of their resource lock (see
``hosts.injection``). A report that must wait is *held*: the conductor keeps its reply back
until the board releases it. Two masters decide:

- **orderings** from ``[holds]``: ``P = [Q, ...]`` holds P until every Q has *passed* (the task
  that reached Q has reached its next point or finished). When the holder of P owns the lock
  and every other live task of that host waits for the lock, the ordering cannot happen under
  the lock: P is released and the board says so in the log.
- **the explorer**, for the hosts it explores: every lock request and every point of
  ``VISIBLE`` is held until the explorer picks it.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from dataclasses import dataclass
from typing import Any

from testbed.config import Config
from testbed.points import Address, parse_address

log = logging.getLogger("testbed.holds")

# Steps whose order matters to the race: they read or write what the other path touches.
# The explorer branches here and at lock requests; every other point commutes and runs on.
VISIBLE = {
    "audit.instance_list",  # reads the instances of the host
    "audit.migration_list",  # reads the in-progress migrations
    "evacuate.set_host",  # writes instance.host
    "instance.drop_migration_context",  # writes the instance's migration context
    "evacuate.migration_done",  # writes the migration's status
}
HOLDABLE = ("point", "lock.request")


@dataclass
class Trace:
    task: str
    host: str
    state: str = "running"  # running | held | waiting (for the lock) | done
    event: str = ""  # what it is held at: "point" or "lock.request"
    point: str = ""
    last_point: str = ""
    pending: Any = None  # (route, msg_id) of the held report

    @property
    def label(self) -> str:
        return self.point if self.event == "point" else "lock"


class Board:
    def __init__(self, config: Config) -> None:
        hosts = config.cluster.hosts
        self.rules: dict[Address, list[Address]] = {
            a: [parse_address(q, hosts) for q in after]
            for a, after in config.addresses(config.holds).items()
        }
        self.explored: set[str] = set()
        self.cond = threading.Condition()
        self.tasks: dict[str, Trace] = {}
        self.holder: dict[str, str | None] = {}
        self.passed: set[tuple[str, str]] = set()
        self.outbox: deque[Any] = deque()  # replies to send: the conductor drains this
        self.killed: list[tuple[str, str]] = []  # (host, point) of every injected kill

    # -- reports from hosts (conductor thread) --------------------------------------------
    def on_trace(self, body: dict[str, Any], pending: Any) -> bool:
        """Record one report; True when its reply is held back."""
        with self.cond:
            t = self.tasks.setdefault(body["task"], Trace(body["task"], body["host"]))
            event, point = body["event"], body["point"]
            if event == "point":
                if t.last_point:
                    self.passed.add((t.host, t.last_point))
                t.last_point = point
            elif event == "lock.wait":
                t.state = "waiting"
            elif event == "lock.acquired":
                self.holder[t.host], t.state = t.task, "running"
            elif event == "lock.released" and self.holder.get(t.host) == t.task:
                self.holder[t.host] = None
            elif event == "kill":
                self.killed.append((t.host, point))
                log.warning("%s kills itself at %s (injected fault)", t.host, point)
            held = event in HOLDABLE and self._holds(t, event, point)
            if held:
                t.state, t.event, t.point, t.pending = "held", event, point, pending
            elif event in HOLDABLE:
                t.state = "running"
            self._sweep()
            self.cond.notify_all()
            return held

    def on_done(self, task: str) -> None:
        with self.cond:
            t = self.tasks.get(task)
            if t is not None:
                if t.last_point:
                    self.passed.add((t.host, t.last_point))
                t.state, t.pending = "done", None  # a timed-out hold: nobody to answer
            self._sweep()
            self.cond.notify_all()

    def _holds(self, t: Trace, event: str, point: str) -> bool:
        if t.host in self.explored:
            return event == "lock.request" or point in VISIBLE
        return event == "point" and bool(self._unmet(t.host, point))

    def _unmet(self, host: str, point: str) -> list[Address]:
        after = [q for a, qs in self.rules.items() if a.matches(host, point) for q in qs]
        return [q for q in after if not any(q.matches(h, p) for h, p in self.passed)]

    def _sweep(self) -> None:
        """Release rule-held tasks whose ordering is met, or impossible under the lock."""
        for t in self.tasks.values():
            if t.state != "held" or t.host in self.explored:
                continue
            unmet = self._unmet(t.host, t.point)
            if unmet and self._blocks_everyone(t):
                log.info(
                    "%s:%s cannot wait for %s: it holds the lock the others wait for; released",
                    t.host,
                    t.point,
                    ", ".join(map(str, unmet)),
                )
                unmet = []
            if not unmet:
                self._release(t)

    def _blocks_everyone(self, t: Trace) -> bool:
        if self.holder.get(t.host) != t.task:
            return False
        others = [
            o for o in self.tasks.values() if o.host == t.host and o is not t and o.state != "done"
        ]
        return bool(others) and all(o.state == "waiting" for o in others)

    def _release(self, t: Trace) -> None:
        t.state = "running"
        self.outbox.append(t.pending)
        t.pending = None

    # -- the explorer (its own thread) ----------------------------------------------------
    def release(self, task: str) -> None:
        with self.cond:
            t = self.tasks[task]
            if t.state != "held":
                raise RuntimeError(f"task {task[:8]} is not held")
            self._release(t)
            self.cond.notify_all()

    def options(self, host: str) -> list[Trace]:
        """Held tasks of ``host`` that may go on now (a lock request only when it is free)."""
        with self.cond:
            return [
                t
                for t in self.tasks.values()
                if t.host == host
                and t.state == "held"
                and (t.event == "point" or self.holder.get(host) is None)
            ]

    def holding(self, hosts: set[str] | None = None) -> bool:
        """A report of one of ``hosts`` (default: any) is held, or one is released but not yet
        answered: a host waits on the orchestrator."""
        with self.cond:
            return bool(self.outbox) or any(
                t.state == "held" and (hosts is None or t.host in hosts)
                for t in self.tasks.values()
            )

    def at_rest(self, running: set[str]) -> bool:
        """Every task of ``running`` has reported and waits (held) — nothing is on the move."""
        with self.cond:
            return all(t in self.tasks and self.tasks[t].state == "held" for t in running)
