"""Findings on real processes: groups in --json, --first, the search order's coverage, and
the determinism gate on emitted scenarios."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from helpers import run_cli

from orchestrator.cli.options import option_layers
from orchestrator.explore import explorer, minimize
from orchestrator.explore.findings import failed, group_by_signature, signature
from orchestrator.explore.strategies.dpor import Dpor
from orchestrator.run import scenario as sc
from orchestrator.run.checks import InvariantResult

PLANTED = str(Path(__file__).parents[1] / "planted" / "build-race.toml")


def explore(order: str, tmp_path: Path, name: str = "evacuate-race", **layers):
    scenario, config = sc.load_with_config(name, *option_layers(**layers))
    summary = explorer.explore(scenario, config, Dpor(order), run_base=str(tmp_path))
    assert summary.error is None
    return scenario, config, summary


@pytest.mark.long
def test_the_search_order_changes_no_finding(tmp_path) -> None:
    """Every fix off: the same losing classes of interleavings, the same signatures, with the
    races-first order as depth first."""
    _, _, races = explore("races", tmp_path, tracker="buggy")
    _, _, depth = explore("depth", tmp_path, tracker="buggy")
    assert {signature(s) for s in races.losing} == {signature(s) for s in depth.losing}
    assert len(races.groups) == len(depth.groups) <= 4
    assert {s.final_state for s in races.schedules} == {s.final_state for s in depth.schedules}


def test_json_groups_and_first_stops_at_the_first_loss(tmp_path) -> None:
    out = tmp_path / "replays"
    args = ("explore", "--no-fix", "1896463", "--out", str(out), "--json")
    proc = run_cli(*args, "--first")
    first = json.loads(proc.stdout)
    assert proc.returncode == 1 and first["losing"] == 1
    [lost] = first["groups"]
    assert lost["count"] == 1 and lost["schedules"] == [first["schedules"]]  # the last one ran
    assert Path(lost["replay"]).is_file() and Path(lost["timeline"]).is_file()
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [Path(lost["replay"]).name, Path(lost["timeline"]).name]
    )
    assert "evacuate.set_host" in lost["signature"]["line"]
    whole = json.loads(run_cli(*args).stdout)
    assert whole["schedules"] > first["schedules"]
    assert {json.dumps(g["signature"]) for g in whole["groups"]} == {
        json.dumps(lost["signature"])
    }
    assert sum(g["count"] for g in whole["groups"]) == whole["losing"]


def test_a_scenario_that_cannot_be_made_deterministic_is_reported_not_written(tmp_path):
    """A group whose failure no set of holds brings back (planted here: its recorded failure
    is one no run shows) gets no scenario file, and the reason."""
    scenario, config, summary = explore("races", tmp_path, PLANTED, tracker="buggy")
    [group] = group_by_signature(summary.losing[:1])
    planted = copy.deepcopy(group.first)
    planted.result.invariants = InvariantResult(["a failure no run of this scenario shows"])
    assert failed(planted.result)[-1] == "invariant a failure no run of this scenario shows"
    group.schedules = [planted]
    out = tmp_path / "emitted"
    found = minimize.emit_group(scenario, config, group, out)
    assert found["path"] is None and not found["ok"]
    assert "not deterministic" in found["why"] and "lost another way" in found["why"]
    assert not out.exists() or not list(out.iterdir())


@pytest.mark.long
def test_groups_are_minimised_side_by_side_one_file_each(tmp_path) -> None:
    """--emit-scenario with --jobs 2: one scenario file a group, each confirmed (buggy
    fails, fixed passes, on every confirming run), none of them without a hold: a set of
    holds is confirmed on runs shaken where the race is decided."""
    out = tmp_path / "emitted"
    args = ("explore", "evacuate-race", "--tracker", "buggy", "--emit-scenario", str(out))
    proc = run_cli(*args, "--jobs", "2", "--json", "--out", str(tmp_path / "replays"))
    found = json.loads(proc.stdout)
    assert proc.returncode == 1, proc.stderr
    emitted = found["emitted"]
    assert len(emitted) == len(found["groups"]) >= 2
    for e in emitted:
        assert e["ok"] and e["holds"], e
        assert e["buggy"] == "fail 10/10" and e["fixed"] == "pass 10/10", e
    assert sorted(p.name for p in out.iterdir()) == sorted(Path(e["path"]).name for e in emitted)
