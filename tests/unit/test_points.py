"""The points catalogue against the hosts' code, both ways, checked from the source: every
name a host passes to its injector is in the catalogue, and every catalogue point is passed
somewhere in ``hosts/`` (a point nobody reaches would be a configuration that silently does
nothing)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from testbed.points import CATALOGUE, PATHS, POINTS, on_path

ROOT = Path(__file__).resolve().parents[2]


def injected(path: Path) -> tuple[set[str], list[str]]:
    """(point names passed to ``inject(...)`` or ``<x>.inject(...)``, calls whose point is not
    a string literal: those cannot be checked, so they count as mistakes)."""
    names, unchecked = set(), []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if not isinstance(node, ast.Call):
            continue
        f = node.func
        if not (isinstance(f, ast.Name) and f.id == "inject") and not (
            isinstance(f, ast.Attribute) and f.attr == "inject"
        ):
            continue
        arg = node.args[0] if node.args else None
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
            names.add(arg.value)
        else:
            unchecked.append(f"{path.name}:{node.lineno}")
    return names, unchecked


def mismatch(folder: Path, catalogue: set[str]) -> dict[str, list[str]]:
    used, unchecked = set(), []
    for path in sorted(folder.rglob("*.py")):
        names, bad = injected(path)
        used |= names
        unchecked += bad
    return {
        "not in the catalogue": sorted(used - catalogue),
        "never injected": sorted(catalogue - used),
        "not a literal name": unchecked,
    }


def test_hosts_inject_exactly_the_catalogue() -> None:
    found = mismatch(ROOT / "hosts", set(POINTS))
    assert found == {"not in the catalogue": [], "never injected": [], "not a literal name": []}


def test_the_check_sees_both_sides(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text(
        "def f(self, inject, point):\n"
        "    self.inject('p.one')\n"
        "    inject('p.extra')\n"
        "    self.inject.lock_event('lock.request')\n"  # not a point
        "    self.inject(point)\n"
    )
    found = mismatch(tmp_path, {"p.one", "p.two"})
    assert found == {
        "not in the catalogue": ["p.extra"],
        "never injected": ["p.two"],
        "not a literal name": ["a.py:5"],
    }


def test_catalogue_is_well_formed() -> None:
    names = [p.name for p in CATALOGUE]
    assert len(names) == len(set(names))
    assert {p.path for p in CATALOGUE} == set(PATHS)  # every path has a point, and is shown
    assert all(p.before and p.doc for p in CATALOGUE)
    assert sum(len(on_path(path)) for path in PATHS) == len(CATALOGUE)


@pytest.mark.parametrize("path", ["evacuate", "audit"])
def test_sweep_lists_come_from_the_catalogue(path: str) -> None:
    from orchestrator.run import sweep

    swept = {"evacuate": sweep.EVACUATION, "audit": sweep.AUDIT}[path]
    assert swept == [p.name for p in CATALOGUE if p.path == path]
    assert swept  # an empty path would sweep nothing and pass
