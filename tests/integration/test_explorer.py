"""The explorer on real processes, across every host: one schedule per class of
interleavings, replays, seeds."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import run_cli, run_json

from orchestrator.cli.options import option_layers
from orchestrator.explore import explorer, minimize
from orchestrator.explore.strategies.dpor import Dpor
from orchestrator.explore.strategies.randomized import Randomized
from orchestrator.run import runner
from orchestrator.run import scenario as sc

NOVA_ORDER = (
    "audit.instance_list < evacuate.set_host < instance.drop_migration_context"
    " < evacuate.migration_done < migration_list.get_in_progress_and_error"
)


def explore(tracker: str, strategy, tmp_path, hosts=None):
    # "buggy" here is fix 1896463 alone off: the race this scenario is about (with every fix
    # off, an audit that runs before the evacuation's claim also crashes: bug 1849165)
    layers = option_layers(no_fix=["1896463"]) if tracker == "buggy" else option_layers()
    scenario, config = sc.load_with_config("evacuate-race", *layers)
    return explorer.explore(
        scenario, config, strategy, hosts, tmp_path / "replays", run_base=str(tmp_path / "runs")
    )


@pytest.mark.long
def test_buggy_loses_across_both_hosts_in_nova_order_and_replays(tmp_path) -> None:
    summary = explore("buggy", Dpor(), tmp_path)
    assert summary.error is None and summary.hosts == ["host1", "host2"]
    assert [s.line for s in summary.losing] == [NOVA_ORDER]
    # one schedule per class: far fewer than the interleavings of the same steps
    assert len(summary.schedules) * 100 < summary.interleavings
    lost = summary.losing[0]
    assert {s.host for s in lost.steps} == {"host1", "host2"}  # host1's build was held too
    replay = summary.losing[0].replay
    page = summary.losing[0].timeline  # the losing schedule drawn, beside its replay file
    assert page == replay[: -len(".toml")] + ".html" and "clean_usage FREES" in open(page).read()
    for _ in range(3):
        rc, out = run_json("run", "--replay", lost.replay, "--run-dir", str(tmp_path / "runs"))
        assert rc == 1 and out["allocations"]["host2"] == {}, out


def test_fixed_never_loses(tmp_path) -> None:
    summary = explore("fixed", Dpor(), tmp_path)
    assert summary.error is None and len(summary.schedules) > 1
    assert summary.losing == []
    assert not (tmp_path / "replays").exists()


@pytest.mark.long
def test_one_host_may_be_explored_alone(tmp_path) -> None:
    summary = explore("buggy", Dpor(), tmp_path, hosts=["host2"])
    assert summary.hosts == ["host2"] and [s.line for s in summary.losing] == [NOVA_ORDER]
    assert all(s.host == "host2" for sched in summary.schedules for s in sched.steps)


def test_random_is_seeded(tmp_path) -> None:
    first = [s.order for s in explore("buggy", Randomized(4, seed=7), tmp_path).schedules]
    again = [s.order for s in explore("buggy", Randomized(4, seed=7), tmp_path).schedules]
    assert first == again and len(first) == 4


def test_explore_cli_json_and_exit_codes(tmp_path) -> None:
    proc = run_cli(
        "explore",
        "--tracker",
        "buggy",
        "--strategy",
        "random",
        "--runs",
        "3",
        "--seed",
        "1",
        "--out",
        str(tmp_path),
        "--json",
    )
    out = __import__("json").loads(proc.stdout)
    assert set(out) >= {"schedules", "losing", "replays", "seconds"}
    assert out["schedules"] == 3
    assert proc.returncode == (1 if out["losing"] else 0)
    assert len(out["replays"]) == out["losing"]


PLANTED = str(Path(__file__).parents[1] / "planted" / "build-race.toml")


@pytest.mark.parametrize("tracker, losing", [("buggy", True), ("fixed", False)])
def test_a_race_planted_on_another_path_is_found_and_its_fixed_twin_is_clean(
    tmp_path, tracker: str, losing: bool
) -> None:
    """Nothing tells the explorer about builds: it finds the planted race from the footprints
    alone, and reports nothing for the same variant with the race fixed."""
    scenario, config = sc.load_with_config(PLANTED, *option_layers(tracker=tracker))
    summary = explorer.explore(
        scenario, config, Dpor(), None, tmp_path / "replays", run_base=str(tmp_path / "runs")
    )
    assert summary.error is None and len(summary.schedules) > 1
    assert bool(summary.losing) is losing
    if losing:
        assert "audit.instance_list" in summary.losing[0].line
        assert "build.active" in summary.losing[0].line
        assert summary.losing[0].result.allocations["host1"] == {}


@pytest.mark.long
def test_a_losing_schedule_becomes_a_minimal_regression_scenario(tmp_path) -> None:
    """--emit-scenario: the fewest holds that still make the planted race lose, checked
    against the fixed twin, written as a scenario file that runs as it says."""
    scenario, config = sc.load_with_config(PLANTED, *option_layers(tracker="buggy"))
    summary = explorer.explore(scenario, config, Dpor(), run_base=str(tmp_path / "runs"))
    emitted = minimize.emit_scenario(scenario, config, summary.losing[0], tmp_path / "out")
    assert emitted["ok"], emitted
    holds = emitted["holds"]
    assert 1 <= sum(map(len, holds.values())) <= 3, holds  # the audit between claim and save
    again, again_config = sc.load_with_config(emitted["path"], *option_layers(tracker="buggy"))
    assert again_config.holds == holds and not again_config.delays
    assert runner.run(again, again_config, str(tmp_path / "runs")).outcome == "fail"
