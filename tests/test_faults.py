"""Kill faults at injection points, and recovery through init_host."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import run_cli

from orchestrator.run import scenario as sc
from testbed.errors import ApiError


def test_configured_kill_fires_once_and_the_host_recovers(make_cluster) -> None:
    c = make_cluster("faults.host2:build.spawn=kill")
    first = c.supervisor.pid("host2")
    try:
        c.api.create_server("vm1", "host2", 1)
    except ApiError as exc:
        assert "lost: the host died" in str(exc)
    assert not c.supervisor.alive("host2")
    assert ("host2", "build.spawn") in c.kills()
    c.start_host("host2")  # a second process: the fault does not fire again
    assert c.supervisor.pid("host2") != first
    # the build was cut off after its claim: vm1 is in error and keeps its device until deleted
    assert c.api.server("vm1")["vm_state"] == "error"
    assert c.api.allocations()["host2"] == {"vm1": 1}
    c.api.create_server("vm2", "host2", 1)
    c.api.delete("vm1")
    assert c.api.allocations()["host2"] == {"vm2": 1}
    assert c.api.invariant_violations() == []


def test_fault_step_kills_before_the_step_and_evacuating_again_works(make_cluster) -> None:
    c = make_cluster("cluster.hosts=host1,host2,host3")
    c.api.create_server("vm1", "host1", 1)
    c.kill("host1")
    c.api.wait_host("host1", "down")
    c.api.arm_fault("host2", "evacuate.set_host")
    try:
        c.api.evacuate("vm1", "host2")
    except ApiError as exc:
        assert "lost" in str(exc)
    c.start_host("host2")  # init_host: the cut-off evacuation fails, its claim is freed
    assert c.api.server("vm1")["vm_state"] == "error"
    assert c.api.allocations()["host2"] == {}
    c.api.evacuate("vm1", "host3")  # again, elsewhere
    c.api.wait_server("vm1", "host3")
    assert c.api.allocations()["host3"] == {"vm1": 1}


@pytest.mark.long
def test_sweep_with_fixed_tracker_holds_everywhere(tmp_path) -> None:
    proc = run_cli("sweep", "--json")
    out = json.loads(proc.stdout)
    assert proc.returncode == 0, [t for t in out["trials"] if not t["ok"]]
    assert len(out["trials"]) == 20 and all(t["fired"] for t in out["trials"])
    assert out["inconclusive"] == 0 and all(t["outcome"] == "pass" for t in out["trials"])
    for t in out["trials"]:  # only what a kill cut off may fail
        assert all(x["state"] == "done" or x["may_fail"] for x in t["tasks"]), t
    assert sum(t["leaked"] + t["double_bound"] for t in out["trials"]) == 0


def test_a_step_cut_off_by_a_kill_must_say_it_may_fail(run_scenario, tmp_path) -> None:
    """evacuate-cut-off passes because its evacuation says ``may_fail``; the same scenario
    without it is inconclusive, naming the lost task (and a test asks for that outcome)."""
    path = Path(str(sc.find("evacuate-cut-off")))
    strict = tmp_path / "strict.toml"
    strict.write_text(path.read_text().replace("may_fail = true", ""))
    assert run_scenario(path).outcome == "pass"
    result = run_scenario(strict, allow_inconclusive=True)
    assert result.outcome == "inconclusive" and not result.ok
    assert result.inconclusive[0].startswith("evacuate on host2 (task "), result.inconclusive
    assert "step 5)" in result.inconclusive[0] and "host died" in result.inconclusive[0]


def test_a_sweep_trial_whose_kill_never_fires_is_inconclusive(tmp_path) -> None:
    from orchestrator.cli.options import load
    from orchestrator.run import sweep

    config = load(sets=["cluster.audit_interval=0", "timeouts.service_down_time=0.15"])
    # the source runs no evacuation step: a kill there never fires
    t = sweep.trial(config, "source", "host1", "evacuate.claim", "host1", "host2", str(tmp_path))
    assert (t.fired, t.outcome, t.result.ok) == (False, "inconclusive", False)
    assert t.result.inconclusive == ["the kill at host1:evacuate.claim never fired"]
