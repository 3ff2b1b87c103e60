"""Timers as choices: each explored host's periodic audit fires when the explorer says.

A traced host's periodic thread does not sleep its ``audit_interval`` while exploring: it
reports that it is idle (``timer`` on the board) and waits. At any decision where some other
step may go, firing that timer is one more option, up to ``timer_fires`` times per host per
schedule. A fire is a step of the process ``HOST:periodic`` that touches nothing itself: the
audit's requests after it, its host's lock first, are scheduling points of the same process
with their own footprints, so a race of one of them with another task's step moves the fire
too (the reversal starts at the fire). A fire thus commutes with every step, and where it
lands matters only through the audit's steps: firing before or after a step the audit never
meets is one schedule. (A footprint of the host's lock ordered each fire against the lock's
other users, and ran each such class twice, fire before and after; one of everything the audit
may touch orders each fire against every write of every host.)

A fire is offered only beside another step: the scenario must not wait on a timer to go on.
So a fire *lapses* (``Option.lapses``): once its last chance has gone by, the reduction tries
it there too (``strategies.dpor``), and a run that never fires is not the only one.
"""

from __future__ import annotations

from collections.abc import Callable

from orchestrator.cluster.footprint import Access
from orchestrator.holds.board import Trace
from testbed.events import PERIODIC
from testbed.vocabulary import Event

FIRE = "fire"  # the label of a fire (``HOST:periodic:fire``)


def footprint(host: str) -> tuple[Access, ...]:
    """What a fire of ``host``'s audit touches: nothing (its audit's steps touch the state)."""
    return ()


def is_fire(label: str) -> bool:
    return label.endswith(f":{PERIODIC}:{FIRE}")


class Timers:
    """The fires of one schedule: which hosts' timers may fire, and how often they did."""

    def __init__(self, fires: int, interval: float, pid: Callable[[str], int | None]) -> None:
        self.limit = fires if interval > 0 else 0
        self.pid = pid  # host -> its current process (a killed incarnation's thread is gone)
        self.fired: dict[str, int] = {}

    def task(self, host: str) -> str:
        """The task id of ``host``'s periodic thread (``hosts.process``)."""
        return f"{PERIODIC}-{host}-{self.pid(host)}"

    def role(self, t: Trace) -> str:
        return f"{t.host}:{PERIODIC}" if t.task.startswith(f"{PERIODIC}-") else f"{t.host}:{t.task}"

    def stale(self, t: Trace) -> bool:
        """A periodic thread of a process that is no more."""
        return t.task.startswith(f"{PERIODIC}-") and t.task != self.task(t.host)

    def seen(self, live: list[str], known: set[str]) -> bool:
        """Every live host's periodic thread has reported (else a decision made now would
        not offer its fire, and one made in a replay might)."""
        return not self.limit or all(self.task(h) in known for h in live)

    def offer(self, ready: list[tuple[Trace, object]]) -> list[tuple[Trace, object]]:
        """Of the ready steps, the fires that may go now, beside every other step."""
        if not any(t.event != Event.TIMER for t, _ in ready):
            return []
        return [
            (t, r)
            for t, r in ready
            if t.event != Event.TIMER or self.fired.get(t.host, 0) < self.limit
        ]

    def release(self, t: Trace) -> None:
        if t.event == Event.TIMER:
            self.fired[t.host] = self.fired.get(t.host, 0) + 1
