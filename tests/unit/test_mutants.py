"""checks/mutants.py stays applicable: each mutant's text occurs exactly once in the source it
edits, so running the check mutates what it says it does (its runs are the check's to do)."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("mutants", ROOT / "checks" / "mutants.py")
mutants = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(mutants)


@pytest.mark.parametrize("name", sorted(mutants.MUTANTS))
def test_each_mutant_applies_to_the_source(name: str, tmp_path: Path) -> None:
    _, path, _, _ = mutants.MUTANTS[name]
    (tmp_path / path).parent.mkdir(parents=True)
    shutil.copy(ROOT / path, tmp_path / path)
    mutants.mutate(tmp_path, name)  # SystemExit when its text is not there exactly once
    assert (tmp_path / path).read_text() != (ROOT / path).read_text()


def test_the_tests_it_runs_by_default_exist() -> None:
    assert all((ROOT / test).is_file() for test in mutants.TESTS)
