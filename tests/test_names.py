"""Host names as Nova has them (hostname/FQDN syntax) work everywhere a host is named."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import run_cli

from orchestrator.cli.options import load
from orchestrator.run.checks import Expect
from orchestrator.run.scenario import BUILTIN
from testbed.errors import ConfigError
from testbed.names import peer_tag, problem
from testbed.points import parse_address

FQDN = "compute-0.rack3.example.org"


@pytest.mark.parametrize(
    "name", [FQDN, "host1", "a", "x_y", "0.1.2.3", ".".join(["a" * 63] * 4)[:255].rstrip(".")]
)
def test_accepted(name: str) -> None:
    assert problem(name) is None


@pytest.mark.parametrize(
    "name", ["", "a..b", ".a", "a.", "-a", "a b", "a:b", "a/b", "*", "é", "x" * 64, "a." * 128]
)
def test_refused(name: str) -> None:
    assert problem(name) is not None


def test_config_set_expect_and_address_take_fqdns() -> None:
    other = "compute-1.rack3.example.org"
    config = load(
        sets=[
            f"cluster.hosts={FQDN},{other}",
            f"devices.hosts.{FQDN}=4",
            f"holds.{other}:audit.start={other}:evacuate.claim",
        ],
        delays=[f"{FQDN}:audit.start=0.1"],
    )
    assert config.devices.count(FQDN) == 4 and config.devices.count(other) == 2
    assert parse_address(f"{FQDN}:audit.start", config.cluster.hosts).host == FQDN
    assert Expect.parse(f"vm1:{FQDN}=2") == Expect("vm1", FQDN, 2)


def test_long_names_fit_a_routing_identity() -> None:
    long = ".".join(["b" * 63] * 4)  # 255 characters
    assert problem(long) is None
    assert len(f"{peer_tag(long)}/4194304.999".encode()) <= 255
    assert peer_tag(FQDN) == FQDN


def test_bad_name_is_one_line_exit_2() -> None:
    with pytest.raises(ConfigError, match="host name 'a..b'"):
        load(sets=["cluster.hosts=a..b"])
    out = run_cli("run", "--set", "cluster.hosts=host1,bad name")
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and "host name 'bad name'" in out.stderr


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
