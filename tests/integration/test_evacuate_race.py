"""The main job end to end: real host processes, real sockets, a real SQLite file.

A race test asserts that the race ran, not only how the check came out: host2's audit went
through ``clean_usage`` and ended ``done``, the four holds were met (buggy) or released by
the lock rule (fixed), and the failing check names host, server, expected and actual. A run
whose race did not happen is inconclusive (exit 3), never a pass.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import run_cli, run_json, wait_gone

DATA = Path(__file__).parents[1] / "data"
HOLDS = {  # evacuate-race's [holds]: held point -> what it waits for
    "host2:audit.start": ["host2:evacuate.claim"],
    "host2:evacuate.finish": ["host2:audit.start"],
    "host2:evacuate.set_host": ["host2:audit.instance_list"],
    "host2:audit.migration_list": ["host2:evacuate.migration_done"],
}
AUDIT = [
    "audit.start",
    "audit.instance_list",
    "audit.update_usage",
    "audit.migration_list",
    "migration_list.get_in_progress_and_error",
    "audit.clean_usage",
    "audit.save",
]
MET, LOCK = "met", "released by the lock"


@pytest.fixture(scope="module")
def plain_run(tmp_path_factory):
    """``testbed run --tracker T --json`` once per tracker, for the tests that read the same
    run from different sides (its outcome, its race, its check rows)."""
    runs: dict[str, tuple[int, dict]] = {}

    def run(tracker: str) -> tuple[int, dict]:
        if tracker not in runs:
            base = tmp_path_factory.mktemp(f"run-{tracker}")
            runs[tracker] = run_json("run", "--tracker", tracker, "--run-dir", str(base))
        return runs[tracker]

    return run


def task(out: dict, op: str, host: str) -> dict:
    found = [t for t in out["tasks"] if (t["op"], t["host"]) == (op, host)]
    assert len(found) == 1, out["tasks"]
    return found[0]


@pytest.mark.parametrize("tracker,code,host2", [("buggy", 1, 0), ("fixed", 0, 1)])
def test_evacuate_race(tracker: str, code: int, host2: int, plain_run) -> None:
    rc, out = plain_run(tracker)
    assert rc == code, out
    assert out["outcome"] == ("pass" if code == 0 else "fail")
    assert out["inconclusive"] == []
    assert out["allocations"]["host2"].get("vm1", 0) == host2
    assert out["allocations"]["host1"] == {"vm1": 1}  # host1 is down: its binding is stale
    pids = out["pids"]
    assert len({pids["orchestrator"], pids["host1"], pids["host2"]}) == 3
    assert wait_gone([pids["host1"], pids["host2"]], 5) == []
    assert out["run_dir_kept"] is (code == 1)


@pytest.mark.parametrize("tracker", ["buggy", "fixed"])
def test_the_race_ran(tracker: str, plain_run) -> None:
    """host2's audit ran to its end through clean_usage, the evacuation finished, and every
    hold happened: met, or (fixed, where the evacuation needs the audit's lock) the
    migration list released by the lock rule, which the run records."""
    rc, out = plain_run(tracker)
    audit = task(out, "audit", "host2")
    assert (audit["state"], audit["step"], audit["error"]) == ("done", "step 6", None), out
    assert audit["points"] == AUDIT
    evacuate = task(out, "evacuate", "host2")
    assert evacuate["state"] == "done" and evacuate["points"][-1] == "evacuate.migration_done"
    assert all(t["state"] == "done" and t["expected"] for t in out["tasks"]), out["tasks"]
    holds = {h["point"]: h for h in out["holds"]}
    assert {p: h["after"] for p, h in holds.items()} == HOLDS
    lock_released = "host2:audit.migration_list"
    for point, h in holds.items():
        status = LOCK if (tracker == "fixed" and point == lock_released) else MET
        assert h["status"] == status, (point, h)
        assert [hit["status"] for hit in h["hits"]] == [status], (point, h)
    # the race's own order: the audit waited at the migration list for the evacuation to be
    # done (buggy), or could not, holding the lock the evacuation needed (fixed)
    assert holds[lock_released]["hits"][0]["waited_for"] == HOLDS[lock_released]
    assert holds[lock_released]["hits"][0]["task"] == audit["task"]


def test_the_buggy_check_fails_on_host2_only(plain_run) -> None:
    """The failing check's rows, so a check that always passes cannot hide behind the
    invariants (which would fail the run too)."""
    rc, out = plain_run("buggy")
    assert rc == 1, out
    assert out["failed_step"] == "step 9: check expect=['vm1:host2=1', 'vm1:host1=1']"
    rows = [
        (r["host"], r["server"], r["expected"], r["actual"], r["ok"]) for r in out["check"]["rows"]
    ]
    assert rows == [("host2", "vm1", 1, 0, False), ("host1", "vm1", 1, 1, True)]
    assert out["check"]["ok"] is False and out["invariants"] is None


def test_the_fixed_check_holds_on_both_hosts(plain_run) -> None:
    rc, out = plain_run("fixed")
    assert rc == 0, out
    rows = [
        (r["host"], r["server"], r["expected"], r["actual"], r["ok"]) for r in out["check"]["rows"]
    ]
    assert rows == [("host2", "vm1", 1, 1, True), ("host1", "vm1", 1, 1, True)]
    assert out["invariants"] == {"ok": True, "violations": []}


def test_buggy_output_names_host_and_count(tmp_path) -> None:
    proc = run_cli("run", "--tracker", "buggy", "--run-dir", str(tmp_path))
    assert proc.returncode == 1
    assert "host2: vm1 expected 1 device(s) bound, found 0" in proc.stdout
    assert "0 of 1 device(s) bound  FAIL" in proc.stdout
    run_dir = next(tmp_path.iterdir())
    assert (run_dir / "state.sqlite").exists()
    log = (run_dir / "testbed.log").read_text()
    assert "clean_usage freed the devices of" in log
    assert "host2[" in log and "host1[" in log and "orchestrator[" in log


def test_without_the_delays_the_race_is_missed(tmp_path) -> None:
    """The delay-based scenario's delays are what makes the overlap happen: with the migration
    query not delayed, the audit sees the evacuation in progress and the buggy tracker keeps
    the device. (The default evacuate-race uses holds instead; see test_hold_policy.py.)"""
    rc, out = run_json(
        "run",
        "evacuate-race-delays",
        "--tracker",
        "buggy",
        "--run-dir",
        str(tmp_path),
        "--delay",
        "host2:migration_list.get_in_progress_and_error=0",
    )
    assert rc == 0, out
    assert out["allocations"]["host2"] == {"vm1": 1}


# -- a race that did not happen is inconclusive, never a pass ---------------------------------
def _inconclusive(tmp_path, *args: str) -> tuple[dict, str]:
    rc, out = run_json("run", *args, "--run-dir", str(tmp_path))
    assert (rc, out["outcome"]) == (3, "inconclusive"), out
    assert out["run_dir_kept"] is True
    return out, out["inconclusive"][0]


def test_a_hold_that_times_out_while_the_evacuation_spawns_is_inconclusive(tmp_path) -> None:
    """The evacuation spawns for longer than the audit may wait at its migration list: the
    audit gives up before clean_usage, frees nothing, and the buggy tracker would pass."""
    out, first = _inconclusive(
        tmp_path,
        "--tracker",
        "buggy",
        "--set",
        "timeouts.hold=1",  # long enough for the claim to pass, even on a loaded machine
        "--delay",
        "host2:evacuate.spawn=2.5",
    )
    assert first == (
        f"audit on host2 (task {task(out, 'audit', 'host2')['task'][:8]}, step 6) failed: "
        "audit failed: host2:audit.migration_list held 1 s waiting for "
        "host2:evacuate.migration_done to pass"
    )
    audit = task(out, "audit", "host2")
    assert audit["state"] == "failed" and "audit.clean_usage" not in audit["points"]
    holds = {h["point"]: h["status"] for h in out["holds"]}
    assert holds["host2:audit.migration_list"] == "timed out"


def test_holds_too_short_for_the_race_are_inconclusive(tmp_path) -> None:
    """Whichever hold gives up first, the race cannot happen: the audit would have to take
    longer than the spawn to reach its migration list."""
    out, first = _inconclusive(
        tmp_path,
        "--tracker",
        "buggy",
        "--set",
        "timeouts.hold=0.02",
        "--delay",
        "host2:evacuate.spawn=1",
    )
    assert "failed: " in first and " held 0.02 s waiting for host2:" in first, first
    assert any(h["status"] == "timed out" for h in out["holds"]), out["holds"]


def test_holds_on_a_host_the_scheduler_did_not_pick_are_inconclusive(tmp_path) -> None:
    """The user's holds name host3; the evacuation goes to host2. host3's audit waits for
    a claim that never comes, host3's evacuation points are never reached."""
    out, first = _inconclusive(
        tmp_path, str(DATA / "holds-on-the-wrong-host.toml"), "--set", "timeouts.hold=0.3"
    )
    assert first == (
        f"audit on host3 (task {task(out, 'audit', 'host3')['task'][:8]}, step 5) failed: "
        "audit failed: host3:audit.start held 0.3 s waiting for host3:evacuate.claim to pass"
    )
    assert task(out, "evacuate", "host2")["state"] == "done"
    holds = {h["point"]: h["status"] for h in out["holds"]}
    assert holds == {
        "host3:audit.start": "timed out",
        "host3:evacuate.finish": "never reached",
        "host3:evacuate.set_host": "never reached",
        "host3:audit.migration_list": "never reached",
    }
    assert "hold host3:evacuate.finish after host3:audit.start: never reached" in "\n".join(
        out["inconclusive"]
    )
