"""Losing schedules grouped by what they found: one finding per signature.

DPOR runs at least one schedule per class of interleavings, and many classes lose the same
way: the same checks or invariants fail (by host and server, expected against actual) after
the same racing accesses (``Schedule.line``). Those schedules are one finding, reported once
with how many schedules showed it and the replay and timeline of the first of them, as
fuzzers group crashes by their stack.

Only the results are read here: nothing is run or written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from orchestrator.explore.schedule import Schedule
    from orchestrator.run.runner import Result

# what differs between runs of one finding and says nothing of it: generated ids
_IDS = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)


def failed(result: Result) -> tuple[str, ...]:
    """What failed, one line each: the check rows that did not hold (host, server, expected
    and actual), the invariants violated, a step refused; generated ids left out."""
    out: list[str] = []
    if result.last_check is not None:
        out += [
            f"check {r.expect.host}: {r.expect.server} expected {r.expect.count} device(s) "
            f"bound, found {r.actual}"
            for r in result.last_check.rows
            if not r.ok
        ]
    if result.invariants is not None:
        out += [f"invariant {v}" for v in result.invariants.violations]
    if result.error:
        out.append(f"error {result.error}")
    return tuple(_IDS.sub("<id>", line) for line in out)


@dataclass(frozen=True)
class Signature:
    failed: tuple[str, ...]  # see ``failed``
    line: str  # the racing accesses, in the order they ran (``Schedule.line``)

    def to_dict(self) -> dict[str, Any]:
        return {"failed": list(self.failed), "line": self.line}


def signature(schedule: Schedule) -> Signature:
    return Signature(failed(schedule.result), schedule.line)


@dataclass
class Group:
    """The losing schedules of one signature, in the order they ran."""

    signature: Signature
    schedules: list[Schedule] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.schedules)

    @property
    def first(self) -> Schedule:
        return self.schedules[0]

    def to_dict(self) -> dict[str, Any]:
        return {
            "signature": self.signature.to_dict(),
            "count": self.count,
            "schedules": [s.number for s in self.schedules],
            "replay": self.first.replay,
            "timeline": self.first.timeline,
        }


def group_by_signature(losing: list[Schedule]) -> list[Group]:
    """The losing schedules by signature, groups in the order their first schedule ran."""
    groups: dict[Signature, Group] = {}
    for sched in losing:
        sig = signature(sched)
        groups.setdefault(sig, Group(sig)).schedules.append(sched)
    return list(groups.values())
