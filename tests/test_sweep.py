"""The kill sweep runs each of its trials through the runner ``testbed run`` uses: a trial is
a runner result plus the point its kill was armed at, with the runner's outcome words."""

from __future__ import annotations

import json

import pytest
from helpers import run_cli

from orchestrator.run import runner, sweep

# a small sweep: one audit point of each host, two evacuation points of the destination (one
# before its claim, one after)
POINTS = {"AUDIT": ("audit.clean_usage",), "EVACUATION": ("evacuate.claim", "evacuate.set_host")}


@pytest.fixture
def small_sweep(monkeypatch) -> list[runner.Result]:
    """Fewer points, and every result the runner's own function returned, in order."""
    for name, points in POINTS.items():
        monkeypatch.setattr(sweep, name, points)
    made: list[runner.Result] = []
    real = runner.run

    def run(*args, **kwargs) -> runner.Result:
        made.append(real(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(runner, "run", run)
    return made


def test_sweep_trials_are_runner_results_plus_the_point(small_sweep, tmp_path) -> None:
    proc = run_cli("sweep", "--json", "--set", "cluster.history=false")
    out = json.loads(proc.stdout)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    trials = out["trials"]
    assert [(t["role"], t["point"]) for t in trials] == [
        ("source", "audit.clean_usage"),
        ("destination", "evacuate.claim"),
        ("destination", "evacuate.set_host"),
        ("destination", "audit.clean_usage"),
    ]
    assert len(small_sweep) == len(trials)  # one run of the runner per trial, no other way
    extra = {"role", "host", "point", "fired", "leaked", "double_bound"}
    for t, result in zip(trials, small_sweep, strict=True):
        assert {k: v for k, v in t.items() if k not in extra} == result.to_dict()
        assert t["outcome"] == "pass" and t["fired"] and t["invariants"]["ok"]
        assert t["scenario"] == f"sweep-{t['host']}-{t['point']}"
        assert (t["leaked"], t["double_bound"]) == (0, 0)
    # the kill cut the evacuation off, and its step said it may be: nothing else failed
    cut = trials[2]["tasks"]
    assert any(x["op"] == "evacuate" and x["state"] != "done" and x["may_fail"] for x in cut)


def test_a_sweep_finds_a_bug_planted_on_the_recovery_path(small_sweep) -> None:
    """``init_host`` forgetting the evacuations its crash cut off: a kill after the
    destination's claim leaves the claim behind, and evacuating again binds the server twice
    (room for it: 3 devices a host). A kill before the claim leaves nothing behind."""
    planted = ("--set", "cluster.host_entry=planted_recovery:main", "--set", "devices.per_host=3")
    proc = run_cli("sweep", *planted)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    rows = {(ln.split()[0], ln.split()[2]): ln.split()[3:] for ln in lines if ln[:6] == "  host"}
    # The trial's evacuation and audit run free: a kill in the destination's audit finds the
    # evacuation's claim made or not yet, so that trial shows the bug only in the first case.
    either = rows.pop(("host2", "audit.clean_usage"))
    assert either in (["pass", "0", "0"], ["fail", "0", "1"]), proc.stdout
    assert rows == {
        ("host1", "audit.clean_usage"): ["pass", "0", "0"],
        ("host2", "evacuate.claim"): ["pass", "0", "0"],
        ("host2", "evacuate.set_host"): ["fail", "0", "1"],  # one device bound beyond
    }, proc.stdout
    assert "host2: vm1 expected 1 device(s) bound, found 2" in proc.stdout
    n_failed = 1 + (either[0] == "fail")
    assert lines[-1].startswith(f"trials 4, kills fired 4, failed {n_failed}, inconclusive 0,")
    failed = small_sweep[2]
    assert failed.outcome == "fail" and failed.failed_step.do == "no_leaks"
    assert failed.kept and failed.timeline  # its evidence is kept


def test_no_leaks_step_finds_what_a_dead_source_still_holds(make_cluster) -> None:
    """The sweep's leak check is a scenario step like any other; it can fail."""
    from orchestrator.run.steps import STEPS

    c = make_cluster("checks.stop_after=0.2")
    c.api.create_server("vm1", "host1", 1)
    c.kill("host1")
    c.api.wait_host("host1", "down")
    c.api.evacuate("vm1", "host2")
    held = STEPS["no_leaks"].run(c)  # vm1 is on host2, host1 still holds its device
    assert not held.ok and [(r.expect.server, r.expect.host, r.actual) for r in held.rows] == [
        ("vm1", "host1", 1)
    ]
    assert held.diff()[0] == "host1: vm1 expected 0 device(s) bound, found 1"
    c.start_host("host1")  # init_host frees what it held for vm1
    assert STEPS["no_leaks"].run(c).ok
