"""Each schedule's cluster started while the one before runs (``prestart``), against a fresh
cluster started when each schedule begins: the same schedules, final states and losing sets.
Both ways run real host processes over real sockets, from the scenario's start state."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from helpers import CLI, child_pids, wait_gone

from orchestrator.cli.options import option_layers
from orchestrator.explore import explorer
from orchestrator.explore.strategies.dpor import Dpor
from orchestrator.run import scenario as sc


def _explore(name: str, tracker: str, prestart: bool, tmp_path: Path) -> explorer.Summary:
    scenario, config = sc.load_with_config(name, *option_layers(tracker=tracker))
    base = tmp_path / ("prestart" if prestart else "fresh")
    return explorer.explore(
        scenario, config, Dpor(), None, base / "replays", str(base / "runs"), prestart=prestart
    )


@pytest.mark.parametrize("name", ["evacuate-race", "evacuate-then-delete"])
def test_prestarted_clusters_give_what_fresh_ones_give(name: str, tmp_path: Path) -> None:
    fresh = _explore(name, "buggy", False, tmp_path)
    fast = _explore(name, "buggy", True, tmp_path)
    assert fresh.error is None and fast.error is None
    assert [s.order for s in fast.schedules] == [s.order for s in fresh.schedules]
    assert [s.final_state for s in fast.schedules] == [s.final_state for s in fresh.schedules]
    assert [s.line for s in fast.losing] == [s.line for s in fresh.losing]
    assert [s.number for s in fast.losing] == [s.number for s in fresh.losing] != []
    # every schedule had processes of its own: no host pid is seen in two schedules
    pids = [p for s in fast.schedules for h, p in s.result.pids.items() if h != "orchestrator"]
    assert len(pids) == len(set(pids)) == 2 * len(fast.schedules)
    # the cluster started for a schedule that never came is gone, with its run directory; a
    # passing run's directory is removed, and a losing one's is kept once per group, drawn
    runs = os.listdir(tmp_path / "prestart" / "runs")
    kept = sorted(Path(g.first.result.run_dir).name for g in fast.groups)
    assert sorted(runs) == kept, runs
    assert [s.timeline is not None for s in fast.losing] == [
        any(s is g.first for g in fast.groups) for s in fast.losing
    ]


def test_a_run_log_holds_its_own_run_only(tmp_path: Path) -> None:
    fast = _explore("evacuate-race", "buggy", True, tmp_path)
    for sched in (g.first for g in fast.groups):
        log = (Path(sched.result.run_dir) / "testbed.log").read_text()
        pids = {p for h, p in sched.result.pids.items() if h != "orchestrator"}
        started = [line.rsplit(" ", 1)[-1] for line in log.splitlines() if " as pid " in line]
        assert {int(p) for p in started} == pids, log
        assert log.count("step 1: ") == 1, log


def test_hosts_are_forked_by_the_zygote_and_report_as_any_host(tmp_path: Path) -> None:
    """The explorer's hosts are the zygote's children, not the orchestrator's; their log
    records reach their own run's log, and their exits (a kill's signal too) its history."""
    fast = _explore("evacuate-race", "buggy", True, tmp_path)
    sched = fast.groups[0].first
    run_dir = Path(sched.result.run_dir)
    log = (run_dir / "testbed.log").read_text()
    for host in ("host1", "host2"):
        pid = sched.result.pid_history[host][0]
        assert f"{host}[{pid}] INFO testbed.host: host {host} up" in log, log
    exits = [
        json.loads(line)
        for line in (run_dir / "history.jsonl").read_text().splitlines()
        if '"process.exit"' in line
    ]
    assert {(e["host"], e.get("signal")) for e in exits} >= {("host1", "SIGKILL")}, exits
    assert all(e["code"] is not None for e in exits), exits


def _exploring(name: str, tmp_path: Path) -> subprocess.Popen:
    """``testbed explore NAME --tracker buggy`` under way, its run directories in tmp_path."""
    return subprocess.Popen(
        [*CLI, "explore", name, "--tracker", "buggy", "--out", str(tmp_path)],
        env={**os.environ, "TMPDIR": str(tmp_path)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_nothing_outlives_an_orchestrator_killed_while_exploring(tmp_path: Path) -> None:
    """SIGKILL the orchestrator mid-exploration: its zygote sees its socket close and exits,
    and the hosts it forked see their parent gone and exit too."""
    proc = _exploring("evacuate-race", tmp_path)
    seen: set[int] = set()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and proc.poll() is None:
        zygotes = child_pids(proc.pid)
        hosts = [h for z in zygotes for h in child_pids(z)]
        seen |= {*zygotes, *hosts}
        if zygotes and len(hosts) >= 2:
            os.kill(proc.pid, signal.SIGKILL)
            break
        time.sleep(0.005)
    proc.communicate(timeout=10)
    assert proc.returncode == -signal.SIGKILL, "the exploration ended before it was killed"
    assert wait_gone(sorted(seen), 5) == [], "the zygote or its hosts outlived the orchestrator"


def test_an_exploration_whose_zygote_dies_says_so_and_leaves_nothing(tmp_path: Path) -> None:
    """SIGKILL the zygote mid-exploration: the hosts it forked exit, the exploration stops
    with one line naming it (exit 1, no traceback) instead of starting clusters that cannot
    start, and nothing is left."""
    proc = _exploring("evacuate-then-delete", tmp_path)
    seen: set[int] = set()
    zygotes: list[int] = []
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and proc.poll() is None:
        zygotes = child_pids(proc.pid)
        seen |= {h for z in zygotes for h in child_pids(z)}
        # three clusters' hosts seen: the explorer has races to reverse, so it goes on to
        # make another cluster (killed in the first schedule, it may have nothing to try)
        if zygotes and len(seen) >= 6:
            os.kill(zygotes[0], signal.SIGKILL)
            break
        time.sleep(0.005)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, err
    assert f"the zygote (pid {zygotes[0]})" in err and "Traceback" not in err, err
    assert wait_gone(sorted(seen), 5) == [], "hosts outlived their zygote"
