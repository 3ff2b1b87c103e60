"""A schedule that deadlocked is its own kind of finding: not losing, not inconclusive; its
replay file names the cycle (no process: the run's result is made up)."""

from __future__ import annotations

import tomllib

from orchestrator.explore.replays import read_replay, write_replay
from orchestrator.explore.schedule import Schedule, Summary
from orchestrator.holds.deadlock import Wait
from orchestrator.run.runner import Result

CYCLE = [
    Wait("t1", "host2:audit", "lock@audit.start", "host2's lock", "t2", "host2:evacuate"),
    Wait("t2", "host2:evacuate", "evacuate.claim", "host2:audit.save to pass", "t1", "host2:audit"),
]


def test_a_deadlocked_schedule_is_counted_apart_and_named(tmp_path) -> None:
    stuck = Result("s", "fixed", str(tmp_path), error="inconclusive: deadlock: ...")
    stuck.inconclusive, stuck.deadlock = ["deadlock: ..."], CYCLE
    summary = Summary("s", "fixed", ["host2"], schedules=[Schedule(1, [], stuck)])
    d = summary.to_dict()
    assert (d["deadlocks"], d["losing"], d["inconclusive"]) == (1, 0, 0)
    assert d["deadlock_cycles"][0].startswith("deadlock: host2:audit at lock@audit.start")
    path = write_replay(
        tmp_path / "r.toml", "s", "fixed", ["host2"], [], "", False, None, 1, list(map(str, CYCLE))
    )
    doc = read_replay(path)
    assert doc["outcome"] == "deadlock" and doc["timer_fires"] == 1
    assert "host2:evacuate at evacuate.claim" in doc["deadlock"][1]
    assert tomllib.loads(open(path).read())["deadlock"] == doc["deadlock"]
