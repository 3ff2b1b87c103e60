"""The named fixes and their scenarios: fix layers, unknown bugs named, the command line's fix
flags, and the table of docs/catalogue.md is the catalogue. (Running each bug's scenario and
exploring it: tests/integration/test_fix_catalogue.py.)"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from helpers import run_cli

from orchestrator.cli.options import load
from orchestrator.run import scenario as sc
from testbed import fixes
from testbed.config import build
from testbed.errors import ConfigError

PAGE = Path(__file__).resolve().parents[2] / "docs" / "catalogue.md"
BUGS = [f.bug for f in fixes.CATALOGUE]
SCENARIOS = {f.bug: f.scenario for f in fixes.CATALOGUE}


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
