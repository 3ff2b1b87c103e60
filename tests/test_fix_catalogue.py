"""The named fixes and their scenarios: each bug's scenario fails with that fix off and passes
with it on whatever the other fixes are, the explorer finds each race on its own (every fix
off) and none with every fix on, and the table of docs/catalogue.md is the catalogue."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from helpers import run_cli

from orchestrator.cli.options import load, option_layers
from orchestrator.explore import explorer
from orchestrator.explore.strategies.dpor import Dpor
from orchestrator.run import scenario as sc
from testbed import fixes
from testbed.config import build
from testbed.errors import ConfigError

PAGE = Path(__file__).resolve().parent.parent / "docs" / "catalogue.md"
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


def test_fix_layers_later_wins() -> None:
    assert load().cluster.fixes == list(fixes.ALL) and load().cluster.tracker == "fixed"
    c = load(tracker="buggy", fix=["2025480"]).cluster
    assert c.fixes == ["2025480"] and c.tracker == "buggy --fix 2025480"
    c = load(no_fix=["1879878"]).cluster
    assert "1879878" not in c.fixes and c.tracker == "fixed --no-fix 1879878"
    scenario = ("scenario", {"cluster": {"fixes": ["1818914"]}})
    assert build([scenario]).cluster.fixes == ["1818914"]
    assert load([scenario], tracker="fixed").cluster.fixes == list(fixes.ALL)
    assert fixes.slug(["1818914"]) == "buggy-fix-1818914"


@pytest.mark.parametrize(
    "layer",
    [{"cluster": {"fixes": ["42"]}}, {"cluster": {"fix": ["42"]}}, {"cluster": {"no_fix": "42"}}],
)
def test_an_unknown_bug_is_named(layer) -> None:
    with pytest.raises(ConfigError, match="unknown bug '42'"):
        build([("my.toml", layer)])


def test_cli_fix_flags() -> None:
    proc = run_cli("run", "resize-confirm-leak", "--no-fix", "12345")
    assert proc.returncode == 2 and "--no-fix '12345': unknown bug '12345'" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_bug_key_means_its_fix_decides() -> None:
    scenario = sc.load("unshelve-race")
    assert scenario.outcomes == {"fixed": "pass", "buggy": "fail"}
    assert scenario.expected(["2025480"]) == "pass"
    assert scenario.expected([b for b in BUGS if b != "2025480"]) == "fail"
    plain = sc.load("evacuate-cut-off")  # passes with either tracker: with any fixes too
    assert plain.bug is None and plain.expected(["1818914"]) == "pass"
    doc = {"steps": [{"do": "wait_idle"}], "bug": "1879878", "outcomes": {"buggy": "pass"}}
    with pytest.raises(ConfigError, match="means outcomes"):
        sc.parse(doc, "x")
    with pytest.raises(ConfigError, match="unknown bug '7'"):
        sc.parse({"steps": [{"do": "wait_idle"}], "bug": "7"}, "x")


def test_the_documented_catalogue_table_is_the_catalogue() -> None:
    rows = re.findall(r"^\| (\d{7}) \| (.+?) \| `([a-z-]+)` \| (.+?) \|$", PAGE.read_text(), re.M)
    assert [(bug, scenario) for bug, _, scenario, _ in rows] == [
        (f.bug, f.scenario) for f in fixes.CATALOGUE
    ]
    for (_, _, _, test), fix in zip(rows, fixes.CATALOGUE, strict=True):
        assert fix.nova_test.split(" ")[0] in test
    assert set(SCENARIOS.values()) <= set(sc.builtin_names())
