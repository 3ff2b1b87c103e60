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
    return _items(pytester, xml, *args)[0]


def _items(
    pytester: pytest.Pytester, xml: Path, *args: str
) -> tuple[dict[str, tuple[set, set]], dict[str, int]]:
    """What ``_found`` says, and each item's schedules by its name."""
    result = pytester.runpytest_subprocess(
        "-p", "xdist.plugin", "--testbed-explore", "evacuate-race", f"--junitxml={xml}", *args,
        timeout=RUN_TIMEOUT,
    )  # fmt: skip
    assert result.ret == 0, result.stdout.str()
    out: dict[str, tuple[set, set]] = {}
    schedules: dict[str, int] = {}
    handed = taken = 0
    for case in ET.parse(xml).iter("testcase"):
        props = {p.get("name"): p.get("value") for p in case.iter("property")}
        schedules[case.get("name", "")] = int(props["schedules"])
        handed += int(props.get("handed_over", 0))
        taken += int(props.get("taken", 0))
        tracker = "buggy" if "-buggy" in case.get("name", "") else "fixed"
        orders, states = out.setdefault(tracker, (set(), set()))
        orders |= set(json.loads(props["losing_orders"]))
        states |= set(json.loads(props["final_states"]))
    assert handed == taken, (handed, taken)  # every branch handed over was run by its taker
    return out, schedules


def _difference(split: dict, whole: dict) -> dict:
    """Per tracker, what only the split found and what only the whole found: (losing orders,
    final states) each."""
    return {
        t: {
            "split only": [sorted(a - b) for a, b in zip(split[t], whole[t], strict=True)],
            "whole only": [sorted(b - a) for a, b in zip(split[t], whole[t], strict=True)],
        }
        for t in whole
        if split.get(t) != whole[t]
    }


@pytest.mark.long
def test_a_split_exploration_finds_what_the_whole_one_finds(hermetic: pytest.Pytester) -> None:
    whole, alone = _items(hermetic, hermetic.path / "whole.xml", "-n", "0")
    assert whole["buggy"][0] and not whole["fixed"][0]
    for parts in ("2", "4"):
        xml = hermetic.path / f"split{parts}.xml"
        split, schedules = _items(hermetic, xml, "-n", "2", "--testbed-explore-split", parts)
        assert split == whole, (parts, _difference(split, whole))
        assert f"explore[evacuate-race-buggy-{parts}of{parts}]" in schedules
        # the parts share the work: none of them runs the whole exploration
        most = max(n for name, n in schedules.items() if "-buggy-" in name)
        assert most < alone["explore[evacuate-race-buggy]"], schedules


def test_a_split_below_one_is_a_usage_error(hermetic: pytest.Pytester) -> None:
    result = hermetic.runpytest_subprocess(
        "--testbed-explore", "evacuate-race", "--testbed-explore-split", "0", timeout=RUN_TIMEOUT
    )
    assert result.ret == 4
    result.stderr.fnmatch_lines(["*--testbed-explore-split must be at least 1, got 0*"])
