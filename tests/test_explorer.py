"""The explorer on real processes: every interleaving the lock allows, replays, seeds."""

from __future__ import annotations

import pytest
from helpers import run_cli, run_json

from orchestrator import explorer
from orchestrator import scenario as sc
from orchestrator.strategies.exhaustive import Exhaustive
from orchestrator.strategies.randomized import Randomized
from testbed.config import load

NOVA_ORDER = (
    "audit.instance_list < evacuate.set_host < instance.drop_migration_context"
    " < evacuate.migration_done < audit.migration_list"
)


def explore(tracker: str, strategy, tmp_path):
    scenario = sc.load("evacuate-race")
    config = load([("scenario", scenario.config)], tracker=tracker)
    return explorer.explore(
        scenario, config, "host2", strategy, tmp_path / "replays", run_base=str(tmp_path / "runs")
    )


def test_buggy_loses_in_nova_order_and_replays(tmp_path) -> None:
    summary = explore("buggy", Exhaustive(), tmp_path)
    assert summary.error is None
    assert len(summary.schedules) == 21  # claim first: C(6,3) orders, audit first: 1
    assert [s.line for s in summary.losing] == [NOVA_ORDER]
    replay = summary.losing[0].replay
    page = summary.losing[0].timeline  # the losing schedule drawn, beside its replay file
    assert page == replay[: -len(".toml")] + ".html" and "clean_usage FREES" in open(page).read()
    for _ in range(3):
        rc, out = run_json("run", "--replay", replay, "--run-dir", str(tmp_path / "runs"))
        assert rc == 1 and out["allocations"]["host2"] == {}, out


def test_fixed_never_loses(tmp_path) -> None:
    summary = explore("fixed", Exhaustive(), tmp_path)
    assert summary.error is None
    assert len(summary.schedules) == 3  # the audit's lock block before, between, after
    assert summary.losing == []
    assert not (tmp_path / "replays").exists()


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


@pytest.mark.parametrize(
    "args,message",
    [
        (["--strategy", "sideways"], "invalid choice"),
        (["--runs", "0", "--strategy", "random"], "--runs must be at least 1"),
        (["--host", "host9"], "unknown host 'host9'"),
    ],
)
def test_explore_usage_errors(args, message) -> None:
    proc = run_cli("explore", *args)
    assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr


def test_replay_of_another_tracker_is_refused(tmp_path) -> None:
    path = tmp_path / "r.toml"
    path.write_text('scenario = "evacuate-race"\ntracker = "buggy"\nhost = "host2"\norder = []\n')
    proc = run_cli("run", "--replay", str(path), "--tracker", "fixed")
    assert proc.returncode == 2 and "recorded with tracker 'buggy'" in proc.stderr
