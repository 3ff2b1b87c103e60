"""Kill faults at injection points, and recovery through init_host."""

from __future__ import annotations

import json

from helpers import run_cli

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


def test_sweep_with_fixed_tracker_holds_everywhere(tmp_path) -> None:
    proc = run_cli("sweep", "--json", timeout=300)
    out = json.loads(proc.stdout)
    assert proc.returncode == 0, [t for t in out["trials"] if not t["ok"]]
    assert len(out["trials"]) == 20 and all(t["fired"] for t in out["trials"])
    assert sum(t["leaked"] + t["double_bound"] for t in out["trials"]) == 0
