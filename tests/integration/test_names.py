"""Fully qualified host names on a running cluster."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.run.scenario import BUILTIN

FQDN = "compute-0.rack3.example.org"


@pytest.mark.parametrize("tracker", ["fixed", "buggy"])
def test_fqdn_hosts_over_tcp(run_scenario, tmp_path, tracker: str) -> None:
    """The race with hosts named as machines are, over tcp (CURVE on): fixed passes, buggy
    fails, and the names reach the checks, the allocations and the log tags."""
    text = (BUILTIN / "evacuate-race.toml").read_text()
    text = text.replace("host1", FQDN).replace("host2", "compute-1.rack3.example.org")
    text = text.replace("[config.cluster]", '[config.cluster]\ntransport = "tcp"')
    path = tmp_path / "fqdn-race.toml"
    path.write_text(text)
    result = run_scenario(str(path), tracker=tracker)
    assert result.outcome == ("pass" if tracker == "fixed" else "fail"), result.error
    assert set(result.allocations) == {FQDN, "compute-1.rack3.example.org"}
    if tracker == "buggy":
        assert "compute-1.rack3.example.org: vm1 expected 1" in "\n".join(result.last_check.diff())
        log = (Path(result.run_dir) / "testbed.log").read_text()
        assert f" {FQDN}[" in log and "tcp://127.0.0.1:" in log


@pytest.mark.testbed(hosts=[FQDN, "compute-1.rack3.example.org"], sets=["cluster.audit_interval=0"])
def test_marker_and_commands_take_fqdns(cluster) -> None:
    cluster.api.create_server("vm1", FQDN)
    cluster.kill(FQDN)
    cluster.api.wait_host(FQDN, "down")
    assert cluster.api.evacuate("vm1")["dest"] == "compute-1.rack3.example.org"
    assert cluster.api.allocations() == {
        FQDN: {"vm1": 1},
        "compute-1.rack3.example.org": {"vm1": 1},
    }
