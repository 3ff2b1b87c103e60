"""Delta debugging and the TOML writer, on their own."""

from __future__ import annotations

import tomllib

import pytest

from orchestrator.explore.minimize import ddmin
from orchestrator.run import scenario as sc
from orchestrator.run.toml_writer import scenario_toml


@pytest.mark.parametrize("needed", [set(), {3}, {3, 7}, {0, 11}, {1, 2, 3, 4}, set(range(12))])
def test_ddmin_finds_exactly_what_is_needed(needed: set[int]) -> None:
    calls = []

    def fails(subset: list[int]) -> bool:
        calls.append(len(subset))
        return needed <= set(subset)

    assert set(ddmin(list(range(12)), fails)) == needed
    assert len(calls) <= 12 * 12  # ddmin: quadratic at worst


def test_a_written_scenario_reads_back() -> None:
    text = scenario_toml(
        "x-minimal",
        'found by "explore"',
        {"buggy": "fail", "fixed": "pass"},
        {
            "cluster": {"hosts": ["h1", "h2"], "audit_interval": 0.0},
            "delays": {},
            "holds": {"h2:audit.start": ["h2:evacuate.claim"]},
        },
        [
            {"do": "create_server", "server": "vm1", "host": "h1", "pci": 1},
            {"do": "check", "expect": ["vm1:h1=1"]},
        ],
        comment=["written by testbed explore"],
    )
    doc = tomllib.loads(text)
    assert doc["config"]["holds"] == {"h2:audit.start": ["h2:evacuate.claim"]}
    assert "delays" not in doc["config"]
    parsed = sc.parse(doc, "written")
    assert [s.do for s in parsed.steps] == ["create_server", "check"]
    assert parsed.description == 'found by "explore"'
