"""What happened to each hold of ``[holds]``: the record a run's verdict is made from.

The hold board decides; this only writes down the points each traced task reached and, for
every hold ``P = [Q, ...]``, each time
a task reached P: met (at once or after waiting), released by the lock rule, timed out (the
host gave up waiting and went on), or still held when the run ended. A hold no task ever
reached is *never reached*. A run whose holds were not all met, or released by the lock,
did not set up what it meant to, and cannot pass.

It must not decide anything: the board calls it, under the board's lock, at four moments
(reached, released, gave up, read); it has its own lock so that readers in other threads
never wait for the board.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from testbed.points import Address

MET = "met"
LOCK = "released by the lock"
TIMED_OUT = "timed out"
HELD = "still held"
NEVER = "never reached"
WAITING = "waiting"  # a hit whose task is held now (HELD once the run has ended)
BAD = (TIMED_OUT, HELD, NEVER)  # what makes a run inconclusive


@dataclass
class Hit:
    """One task reaching the held point of a hold."""

    host: str
    task: str
    waited_for: list[str]  # what had not passed yet when the task got there
    status: str = MET
    started: float = field(default_factory=time.monotonic)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "task": self.task,
            "status": self.status,
            "waited_for": self.waited_for,
            "seconds": round(self.seconds, 3),
        }


@dataclass
class Hold:
    point: Address
    after: list[Address]
    hits: list[Hit] = field(default_factory=list)

    @property
    def status(self) -> str:
        """The worst of its hits: timed out, still held, lock, met; never reached without."""
        if not self.hits:
            return NEVER
        statuses = {HELD if h.status == WAITING else h.status for h in self.hits}
        return next(s for s in (TIMED_OUT, HELD, LOCK, MET) if s in statuses)

    def __str__(self) -> str:
        return f"{self.point} after {', '.join(map(str, self.after))}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "point": str(self.point),
            "after": [str(a) for a in self.after],
            "status": self.status,
            "hits": [h.to_dict() for h in self.hits],
        }


class HoldRecord:
    def __init__(self, rules: dict[Address, list[Address]]) -> None:
        self.holds = [Hold(p, list(after)) for p, after in rules.items()]
        self.timeouts: list[dict[str, str]] = []  # every hold a host gave up on
        self.points: dict[str, list[str]] = {}  # task -> the points it reached, in order
        self.lock = threading.Lock()

    def reached(self, host: str, task: str, point: str, passed: Callable[[Address], bool]) -> None:
        """A task reached ``point``; ``passed(q)``: has a task gone past ``q`` already?"""
        with self.lock:
            self.points.setdefault(task, []).append(point)
            for o in self.holds:
                if o.point.matches(host, point):
                    waits = [str(q) for q in o.after if not passed(q)]
                    o.hits.append(Hit(host, task, waits, WAITING if waits else MET))

    def _close(self, task: str, status: str) -> int:
        closed = 0
        for o in self.holds:
            for h in o.hits:
                if h.task == task and h.status == WAITING:
                    h.status, h.seconds = status, time.monotonic() - h.started
                    closed += 1
        return closed

    def released(self, task: str, by_lock: bool) -> None:
        with self.lock:
            self._close(task, LOCK if by_lock else MET)

    def gave_up(self, host: str, task: str, held_at: str) -> None:
        """The held task went on without its release: its host's hold timed out. Holds of the
        explorer time out too; they are kept apart from the holds."""
        with self.lock:
            if not self._close(task, TIMED_OUT):  # released, but after its host gave up:
                late = [h for o in self.holds for h in o.hits if h.task == task]
                late = [h for h in late if h.status in (MET, LOCK)]
                if late:  # the last hold it was released from
                    max(late, key=lambda h: h.started).status = TIMED_OUT
            self.timeouts.append({"host": host, "task": task, "held_at": held_at})

    def snapshot(self) -> list[dict[str, Any]]:
        with self.lock:
            return [o.to_dict() for o in self.holds]

    def path(self, task: str) -> list[str]:
        with self.lock:
            return list(self.points.get(task, []))
