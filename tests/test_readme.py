"""The tables of docs/scenarios.md say what the code has: a step or a scenario added, renamed or
given a field shows up here or the suite fails."""

from __future__ import annotations

import re
from pathlib import Path

from orchestrator.run import scenario as sc
from orchestrator.run.steps import REQUIRED, STEPS

SCENARIOS = (Path(__file__).resolve().parent.parent / "docs" / "scenarios.md").read_text()


def table_after(text: str, heading: str) -> list[list[str]]:
    """The rows of the first table after the line starting with ``heading``."""
    lines = text[text.index(heading) :].splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith("|"))
    rows = []
    for ln in lines[start + 2 :]:
        if not ln.startswith("|"):
            break
        rows.append([c.strip() for c in re.split(r"(?<!\\)\|", ln.strip().strip("|"))])
    return rows


def test_the_step_table_lists_every_step_with_its_fields() -> None:
    documented = {}
    for name_cell, fields_cell, _ in table_after(SCENARIOS, "Steps (`do = ...`"):
        fields = {
            f: not optional for optional, f in re.findall(r"(\[?)`([a-z_]+)`\]?", fields_cell)
        }
        for name in re.findall(r"`([a-z_]+)`", name_cell):
            documented[name] = fields
    declared = {
        name: {f: default is REQUIRED for f, (_, default) in kind.fields.items()}
        for name, kind in STEPS.items()
    }
    assert documented == declared


def test_the_scenario_table_lists_every_built_in_scenario() -> None:
    rows = table_after(SCENARIOS, "| scenario | what it checks |")
    assert sorted(re.findall(r"`([^`]+)`", r[0])[0] for r in rows) == sc.builtin_names()
