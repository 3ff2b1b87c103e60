"""A schedule and the summary of an exploration: the steps the explorer released, in order,
the run they made, what raced, and the losing schedules grouped by signature.

Data only: it runs nothing (``orchestrator.explore.explorer`` does)."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from orchestrator.cluster.footprint import LOCKS
from orchestrator.explore.findings import Group, group_by_signature
from orchestrator.explore.strategies import Option, dependent
from orchestrator.holds.deadlock import describe
from orchestrator.run.runner import Result
from orchestrator.run.verdict import FAIL, INCONCLUSIVE

DEADLOCK = "deadlock"  # a schedule's outcome when its tasks wait on each other in a cycle


@dataclass(frozen=True)
class Release:
    """One released step of a schedule: which option went, on which host, after which point."""

    option: Option
    host: str
    point: str  # the last injection point its task passed ("" before the first)
    locked: bool  # its task held its host's lock when it went
    call: str = ""  # the system's name for the request, if it names them (Instance.save)
    step: int = 0  # the scenario's step that was running (where a fire goes in a scenario)

    @property
    def name(self) -> str:
        """How the racing line names it: the call at its point, or the point."""
        return f"{self.call}@{self.point}" if self.call and self.point else self.call or self.point

    def races(self, other: Release) -> bool:
        """Dependent, and not merely ordered by one lock both hold."""
        same_lock = self.locked and other.locked and self.host == other.host
        return dependent(self.option, other.option) and not same_lock


def _state(step: Release) -> bool:
    """A step that touches the state (not a lock request, nor a timer's fire)."""
    return bool(step.option.accesses) and step.option.accesses[0].table != LOCKS


@dataclass
class Schedule:
    number: int
    steps: list[Release]
    result: Result
    replay: str | None = None
    # process -> the decision at which it was first ready to go: its task was alive from then
    seen: dict[str, int] = field(default_factory=dict)
    timeline: str | None = None  # the losing run's timeline.html, beside its replay file

    @property
    def order(self) -> list[str]:
        return [s.option.label for s in self.steps]

    @property
    def ok(self) -> bool:
        return self.result.ok

    def groups(self) -> list[list[Release]]:
        """The steps, grouped by tasks whose lifetimes overlap in this schedule (a task lives
        from the first decision at which it was ready to go): tasks in different groups were
        ordered by the scenario itself (it waited for one to finish before it started the
        other), so only steps within a group can be reordered."""
        span: dict[str, list[int]] = {}
        for i, s in enumerate(self.steps):
            start = min(self.seen.get(s.option.process, i), i)
            span.setdefault(s.option.process, [start, i])[1] = i
        groups: list[list[Release]] = []
        end = -1
        for i, s in enumerate(self.steps):
            if i > end:
                groups.append([])
            groups[-1].append(s)
            # a task ready (alive) since before this step overlaps it, even if it goes later
            end = max([end] + [last for first, last in span.values() if first <= i])
        return groups

    @property
    def outcome(self) -> str:
        """The run's, or ``deadlock`` when its tasks ended up waiting on each other."""
        return DEADLOCK if self.result.deadlock else self.result.outcome

    @property
    def deadlock(self) -> str:
        return describe(self.result.deadlock) if self.result.deadlock else ""

    @property
    def line(self) -> str:
        """The order of the state accesses that race with one of another task (lock requests
        and accesses ordered by one lock both hold left out), by the points they follow (and
        the calls, where the system names them)."""
        return self._line(Release.races) or self._line(lambda s, o: dependent(s.option, o.option))

    def _line(self, related: Callable[[Release, Release], bool]) -> str:
        # ``races`` first; when the lock orders every dependent pair (one critical section
        # before another decides the outcome), the dependent pairs it orders
        names: list[str] = []
        for group in self.groups():
            for s in group:
                racing = _state(s) and any(
                    related(s, o)
                    for o in group
                    if _state(o) and o.option.process != s.option.process
                )
                if racing and s.name and s.name not in names:
                    names.append(s.name)
        return " < ".join(names)

    @property
    def interleavings(self) -> int:
        """How many orders of these steps there are within each group of overlapping tasks,
        ignoring the lock: an upper bound on what exploring without reduction would run."""
        total = 1
        for group in self.groups():
            counts: dict[str, int] = {}
            for s in group:
                counts[s.option.process] = counts.get(s.option.process, 0) + 1
            n = math.factorial(sum(counts.values()))
            for k in counts.values():
                n //= math.factorial(k)
            total *= n
        return total

    @property
    def final_state(self) -> str:
        return json.dumps([self.result.outcome, self.result.allocations], sort_keys=True)


@dataclass
class Summary:
    scenario: str
    tracker: str
    hosts: list[str]
    strategy: str = "dpor"
    schedules: list[Schedule] = field(default_factory=list)
    seconds: float = 0.0
    error: str | None = None
    timer_fires: int = 0  # each explored host's periodic audit, fired by choice at most so often
    timers_off: str | None = None  # why a periodic audit the scenario has never ran, if so

    @property
    def losing(self) -> list[Schedule]:
        return [s for s in self.schedules if s.outcome == FAIL]

    @property
    def deadlocks(self) -> list[Schedule]:
        """Schedules whose tasks ended up waiting on each other in a cycle: a finding."""
        return [s for s in self.schedules if s.outcome == DEADLOCK]

    @property
    def inconclusive(self) -> list[Schedule]:
        """Schedules that did not run as chosen (a task failed, a hold timed out): they
        neither lose nor win."""
        return [s for s in self.schedules if s.outcome == INCONCLUSIVE]

    @property
    def groups(self) -> list[Group]:
        """The losing schedules by signature: what failed, after which racing accesses."""
        return group_by_signature(self.losing)

    @property
    def interleavings(self) -> int:
        """Without reduction, at most this many schedules (see ``Schedule.interleavings``)."""
        return max((s.interleavings for s in self.schedules), default=0)

    def to_dict(self) -> dict[str, Any]:
        runs = len(self.schedules)
        return {
            "scenario": self.scenario,
            "tracker": self.tracker,
            "hosts": self.hosts,
            "strategy": self.strategy,
            "timer_fires": self.timer_fires,
            "timers_off": self.timers_off,
            "schedules": runs,
            "losing": len(self.losing),
            "groups": [g.to_dict() for g in self.groups],
            "final_states": len({s.final_state for s in self.schedules}),
            "interleavings_bound": self.interleavings,
            "reduction": _ratio(self.interleavings, runs) if runs else None,
            "replays": [s.replay for s in self.losing],
            "timelines": [s.timeline for s in self.losing],
            "losing_orders": [s.line for s in self.losing],
            "deadlocks": len(self.deadlocks),
            "deadlock_cycles": [s.deadlock for s in self.deadlocks],
            "deadlock_replays": [s.replay for s in self.deadlocks],
            "inconclusive": len(self.inconclusive),
            "inconclusive_reasons": [s.result.inconclusive for s in self.inconclusive],
            "seconds": round(self.seconds, 3),
            "schedules_per_second": round(runs / self.seconds, 1) if self.seconds else None,
            "error": self.error,
        }


def _ratio(bound: int, runs: int) -> float | int:
    """``bound / runs`` to one decimal; a whole number when the bound is beyond a float (a
    cell of hosts whose timers all fire)."""
    try:
        return round(bound / runs, 1)
    except OverflowError:
        return bound // runs
