"""Timers are choices: with no ``audit`` step and no holds, the explorer fires each explored
host's periodic audit where it chooses, and finds the races with it; ``--timer-fires 0``
explores as before (explicit audits only)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from helpers import run_cli, run_json

from orchestrator.cli.options import option_layers
from orchestrator.explore import explorer
from orchestrator.explore.replays import read_replay
from orchestrator.explore.strategies.dpor import Dpor
from orchestrator.explore.strategies.replay import Replay
from orchestrator.run import scenario as sc
from orchestrator.run.toml_writer import scenario_toml
from testbed import fixes

PERIODIC = """
name = "periodic-evacuate"
description = "an evacuation from a dead host and host2's periodic audit; no audit step"

[config.cluster]
hosts = ["host1", "host2"]
audit_interval = 0.5

[config.devices]
per_host = 1

[config.timeouts]
heartbeat_interval = 0.02
service_down_time = 1.0

[[steps]]
do = "create_server"
server = "vm1"
host = "host1"
pci = 1

[[steps]]
do = "kill"
host = "host1"

[[steps]]
do = "wait_down"
host = "host1"

[[steps]]
do = "evacuate"
server = "vm1"
to = "host2"

[[steps]]
do = "wait_idle"

[[steps]]
do = "check"
expect = ["vm1:host2=1"]
"""


def explore_cli(path: Path, tmp_path: Path, *args: str) -> tuple[int, dict]:
    return run_json(
        "explore", str(path), "--out", str(tmp_path / "replays"), "--host", "host2", *args
    )


@pytest.mark.long
def test_the_periodic_audit_races_an_evacuation_with_no_audit_step(tmp_path) -> None:
    path = tmp_path / "periodic.toml"
    path.write_text(PERIODIC)
    rc, out = explore_cli(path, tmp_path, "--no-fix", "1896463", "--timer-fires", "1")
    assert rc == 1 and out["losing"] >= 1 and out["error"] is None, out
    assert "audit.instance_list < evacuate.set_host" in out["losing_orders"][0]
    replay = Path(out["replays"][0]).read_text()
    assert '"host2:periodic:fire"' in replay and "timer_fires = 1" in replay
    # a user replays it from the command line, beside its scenario file: it loses again
    again_cli = run_cli("run", str(path), "--replay", out["replays"][0])
    assert again_cli.returncode == 1, again_cli.stdout + again_cli.stderr
    wrong = run_cli("run", "evacuate-race", "--replay", out["replays"][0])
    assert wrong.returncode == 2 and "is for scenario 'periodic-evacuate'" in wrong.stderr
    # the losing schedule replays, fire and all
    doc = read_replay(out["replays"][0])
    scenario, config = sc.load_with_config(str(path), *option_layers(no_fix=["1896463"]))
    again = explorer.explore(scenario, config, Replay(doc["order"]), doc["hosts"], timer_fires=1)
    assert again.error is None and len(again.losing) == 1, again.to_dict()
    rc, out = explore_cli(path, tmp_path, "--tracker", "fixed", "--timer-fires", "1")
    assert rc == 0 and out["losing"] == 0 and out["schedules"] > 1, out
    # no timer: the audit never runs, one schedule as before, and the summary says so
    rc, out = explore_cli(path, tmp_path, "--no-fix", "1896463", "--timer-fires", "0")
    assert rc == 0 and out["losing"] == 0 and out["schedules"] <= 2, out
    assert out["timer_fires"] == 0 and "never ran" in out["timers_off"], out


def test_one_fire_is_the_default_and_a_scenario_may_turn_timers_off(tmp_path) -> None:
    """explore.timer_fires is 1 unless the scenario (or --timer-fires) says otherwise; with it
    0 a scenario whose hosts audit on a clock is explored blind, and the output says so."""
    path = tmp_path / "periodic.toml"
    path.write_text(PERIODIC)
    rc, out = explore_cli(path, tmp_path, "--no-fix", "1896463", "--first")
    assert rc == 1 and out["timer_fires"] == 1 and out["timers_off"] is None, out
    path.write_text(PERIODIC + "\n[config.explore]\ntimer_fires = 0\n")
    rc, out = explore_cli(path, tmp_path, "--no-fix", "1896463")
    assert rc == 0 and out["timer_fires"] == 0 and out["schedules"] <= 2, out
    rc, out = explore_cli(path, tmp_path, "--no-fix", "1896463", "--timer-fires", "1", "--first")
    assert rc == 1 and out["timer_fires"] == 1, out


@pytest.mark.long
def test_every_host_explored_the_periodic_audit_loses(tmp_path) -> None:
    """Every host's audit may fire (host1's during the build too): a losing schedule is found
    (about the 60th of some 500 here)."""
    path = tmp_path / "periodic.toml"
    path.write_text(PERIODIC)
    args = ("explore", str(path), "--out", str(tmp_path / "replays"), "--timer-fires", "1")
    rc, out = run_json(*args, "--no-fix", "1896463", "--first")
    assert rc == 1 and out["losing"] == 1 and out["schedules"] <= 150, out


def periodic_copy(name: str, out: Path) -> tuple[Path, list[str]]:
    """The built-in scenario with its ``audit`` steps and holds removed and a periodic audit
    instead; and the hosts its audits ran on (the ones to explore)."""
    doc = tomllib.loads(sc.find(name).read_text())
    audits = [s for s in doc["steps"] if s["do"] == "audit"]
    config = {k: v for k, v in doc.get("config", {}).items() if k != "holds"}
    config["cluster"] = dict(config.get("cluster", {})) | {"audit_interval": 0.5}
    steps = [s for s in doc["steps"] if s["do"] != "audit"]
    path = out / f"{name}-periodic.toml"
    text = scenario_toml(f"{name}-periodic", doc["description"], {}, config, steps)
    path.write_text(text)
    return path, sorted({s["host"] for s in audits})


@pytest.mark.long
@pytest.mark.parametrize("fix", fixes.CATALOGUE, ids=lambda f: f.bug)
def test_each_catalogue_race_is_found_with_the_periodic_audit_alone(tmp_path, fix) -> None:
    path, hosts = periodic_copy(fix.scenario, tmp_path)
    for on, loses in (([b for b in fixes.ALL if b != fix.bug], True), (list(fixes.ALL), False)):
        scenario, config = sc.load_with_config(str(path), *option_layers(fix=on, tracker="buggy"))
        assert not config.holds and all(s.do != "audit" for s in scenario.steps)
        summary = explorer.explore(
            scenario,
            config,
            Dpor(),
            hosts or ["host1"],
            tmp_path / "replays",
            str(tmp_path / "runs"),
            timer_fires=1,
        )
        assert summary.error is None, summary.error
        assert bool(summary.losing) is loses, (fix.bug, on, summary.to_dict())
