"""The documented example scenario file, run."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from helpers import run_json

PAGE = Path(__file__).resolve().parents[2] / "docs" / "scenarios.md"


def documented_example() -> str:
    text = PAGE.read_text()
    block = text.split("<!-- scenario-example -->", 1)[1]
    return re.search(r"```toml\n(.*?)```", block, re.S).group(1)


@pytest.mark.parametrize("tracker,code", [("fixed", 0), ("buggy", 1)])
def test_the_documented_example_runs_as_documented(tracker: str, code: int, tmp_path) -> None:
    path = tmp_path / "three-hosts.toml"
    path.write_text(documented_example())
    rc, out = run_json("run", str(path), "--tracker", tracker, "--run-dir", str(tmp_path))
    assert rc == code, out
    assert set(out["pids"]) == {"orchestrator", "alpha", "beta", "gamma"}
    if code == 0:
        assert out["allocations"] == {"alpha": {}, "beta": {"web": 2}, "gamma": {"db": 2}}
        assert out["invariants"]["ok"]
    else:  # the documented failing check: web lost both devices on beta
        assert "web:beta=2" in out["failed_step"]
        assert out["allocations"]["beta"] == {}
        assert out["allocations"]["gamma"] == {"db": 2}
