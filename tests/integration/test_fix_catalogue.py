"""Each bug of the catalogue, run: its scenario fails with its fix off and passes with it on,
and the explorer finds each race on its own."""

from __future__ import annotations

import pytest

from orchestrator.cli.options import option_layers
from orchestrator.explore import explorer
from orchestrator.explore.strategies.dpor import Dpor
from orchestrator.run import scenario as sc
from testbed import fixes

BUGS = [f.bug for f in fixes.CATALOGUE]
SCENARIOS = {f.bug: f.scenario for f in fixes.CATALOGUE}


@pytest.mark.parametrize("bug", BUGS)
@pytest.mark.parametrize("on", [False, True], ids=["fix-off-others-on", "fix-on-others-off"])
def test_each_scenario_turns_on_its_own_fix(run_scenario, bug: str, on: bool) -> None:
    """The extremes of "whatever the other fixes are": every other fix on while this one is
    off (fails), every other fix off while this one is on (passes)."""
    name = SCENARIOS[bug]
    assert sc.load(name).bug == bug
    chosen = [bug] if on else [b for b in BUGS if b != bug]
    result = run_scenario(name, fixes=chosen)
    assert result.outcome == ("pass" if on else "fail"), result.error or result.allocations
    if not on:  # the check or invariant that failed names what was lost
        lines = result.last_check.diff() if result.last_check and not result.last_check.ok else []
        lines += result.invariants.violations if result.invariants else []
        assert any("vm1" in line or "crashed" in line for line in lines), lines


@pytest.mark.long
@pytest.mark.parametrize("bug", [b for b in BUGS if b != "1896463"])  # test_explorer has it
@pytest.mark.parametrize("tracker", ["buggy", "fixed"])
def test_the_explorer_finds_each_race_alone(tmp_path, bug: str, tracker: str) -> None:
    scenario, config = sc.load_with_config(SCENARIOS[bug], *option_layers(tracker=tracker))
    assert config.holds or bug == "1818914"  # the explorer drops them: it finds the order
    summary = explorer.explore(
        scenario, config, Dpor(), None, tmp_path / "replays", run_base=str(tmp_path / "runs")
    )
    assert summary.error is None
    assert bool(summary.losing) is (tracker == "buggy"), summary.to_dict()
