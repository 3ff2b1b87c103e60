"""One scenario's exploration split by schedule prefix into N pytest items: together they
find the losing orders and final states the unsplit item finds, whatever -n."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

RUN_TIMEOUT = 180  # bound on any inner pytest session


@pytest.fixture
def hermetic(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    pytester.plugins.append("testbed")
    pytester.plugins.append("xdist.plugin")
    return pytester


def _found(pytester: pytest.Pytester, xml: Path, *args: str) -> dict[str, tuple[set, set]]:
    """tracker -> (losing orders, final states), the union over that tracker's items."""
    result = pytester.runpytest_subprocess(
        "-p", "xdist.plugin", "--testbed-explore", "evacuate-race", f"--junitxml={xml}", *args,
        timeout=RUN_TIMEOUT,
    )  # fmt: skip
    assert result.ret == 0, result.stdout.str()
    out: dict[str, tuple[set, set]] = {}
    for case in ET.parse(xml).iter("testcase"):
        props = {p.get("name"): p.get("value") for p in case.iter("property")}
        tracker = "buggy" if "-buggy" in case.get("name", "") else "fixed"
        orders, states = out.setdefault(tracker, (set(), set()))
        orders |= set(json.loads(props["losing_orders"]))
        states |= set(json.loads(props["final_states"]))
    return out


@pytest.mark.long
def test_a_split_exploration_finds_what_the_whole_one_finds(hermetic: pytest.Pytester) -> None:
    whole = _found(hermetic, hermetic.path / "whole.xml", "-n", "0")
    assert whole["buggy"][0] and not whole["fixed"][0]
    for parts in ("2", "4"):
        xml = hermetic.path / f"split{parts}.xml"
        split = _found(hermetic, xml, "-n", "2", "--testbed-explore-split", parts)
        assert split == whole, parts
        names = {c.get("name") for c in ET.parse(xml).iter("testcase")}
        assert f"explore[evacuate-race-buggy-{parts}of{parts}]" in names


def test_a_split_below_one_is_a_usage_error(hermetic: pytest.Pytester) -> None:
    result = hermetic.runpytest_subprocess(
        "--testbed-explore", "evacuate-race", "--testbed-explore-split", "0", timeout=RUN_TIMEOUT
    )
    assert result.ret == 4
    result.stderr.fnmatch_lines(["*--testbed-explore-split must be at least 1, got 0*"])
