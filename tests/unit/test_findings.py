"""Losing schedules grouped by signature: what failed and after which racing accesses."""

from __future__ import annotations

from orchestrator.cluster.footprint import reads, writes
from orchestrator.explore.findings import failed, group_by_signature, signature
from orchestrator.explore.schedule import Release, Schedule, Summary
from orchestrator.explore.strategies import Option
from orchestrator.run.checks import CheckResult, Expect, InvariantResult, Row
from orchestrator.run.runner import Result

READ = Release(Option("h2:audit:r", "h2:audit", (reads("t", id=1),)), "h2", "audit.read", False)
WRITE = Release(Option("h2:evac:w", "h2:evac", (writes("t", id=1),)), "h2", "evac.write", False)


def losing(number: int, steps: list[Release], bound: int = 0, crash: str = "") -> Schedule:
    result = Result("s", "buggy", "/run", held=False)
    result.last_check = CheckResult([Row(Expect("vm1", "h2", 1), bound)])
    result.invariants = InvariantResult([crash] if crash else [])
    # both tasks ready from the first decision: their steps could go either way
    return Schedule(number, steps, result, seen={"h2:audit": 0, "h2:evac": 0})


def test_one_group_per_signature_with_its_count_in_the_order_first_seen() -> None:
    crash = "audit on h2 raised for 2dd64f05-50b4-4ea1-9f25-262e3ac156b4"
    schedules = [
        losing(1, [READ, WRITE]),
        losing(2, [WRITE, READ]),  # other racing accesses
        losing(3, [READ, WRITE]),
        losing(4, [READ, WRITE], bound=1, crash=crash),  # another failure
        losing(5, [READ, WRITE], bound=1, crash=crash.replace("2dd64f05", "774cb36f")),
    ]
    groups = group_by_signature(schedules)
    assert [(g.count, [s.number for s in g.schedules]) for g in groups] == [
        (2, [1, 3]),
        (1, [2]),
        (2, [4, 5]),  # generated ids say nothing of the finding
    ]
    assert signature(schedules[0]) == signature(schedules[2]) != signature(schedules[1])
    assert groups[0].signature.line == "audit.read < evac.write"
    assert groups[1].signature.line == "evac.write < audit.read"
    assert failed(schedules[0].result) == ("check h2: vm1 expected 1 device(s) bound, found 0",)
    assert failed(schedules[3].result) == ("invariant audit on h2 raised for <id>",)


def test_the_summary_carries_groups_beside_its_other_fields() -> None:
    summary = Summary("s", "buggy", ["h2"])
    summary.schedules = [losing(1, [READ, WRITE]), losing(2, [READ, WRITE])]
    summary.schedules[0].replay, summary.schedules[0].timeline = "/r/1.toml", "/r/1.html"
    d = summary.to_dict()
    assert d["losing"] == 2 and len(d["replays"]) == 2 and len(d["losing_orders"]) == 2
    assert d["groups"] == [
        {
            "signature": {
                "failed": ["check h2: vm1 expected 1 device(s) bound, found 0"],
                "line": "audit.read < evac.write",
            },
            "count": 2,
            "schedules": [1, 2],
            "replay": "/r/1.toml",
            "timeline": "/r/1.html",
        }
    ]
