"""The main job end to end: real host processes, real sockets, a real SQLite file."""

from __future__ import annotations

import pytest
from helpers import run_cli, run_json, wait_gone


@pytest.mark.parametrize("tracker,code,host2", [("buggy", 1, 0), ("fixed", 0, 1)])
def test_evacuate_race(tracker: str, code: int, host2: int, tmp_path) -> None:
    rc, out = run_json("run", "--tracker", tracker, "--run-dir", str(tmp_path))
    assert rc == code, out
    assert out["outcome"] == ("pass" if code == 0 else "fail")
    assert out["allocations"]["host2"].get("vm1", 0) == host2
    assert out["allocations"]["host1"] == {"vm1": 1}  # host1 is down: its binding is stale
    pids = out["pids"]
    assert len({pids["orchestrator"], pids["host1"], pids["host2"]}) == 3
    assert wait_gone([pids["host1"], pids["host2"]], 5) == []
    assert out["run_dir_kept"] is (code == 1)


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
    the device. (The default evacuate-race uses orderings instead; see test_orderings.py.)"""
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
