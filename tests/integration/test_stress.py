"""The determinism check, short: ``checks/stress.py`` runs the hold-based race a few times
per tracker under a busy loop and passes only if buggy lost and fixed passed every run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

STRESS = Path(__file__).resolve().parents[2] / "checks" / "stress.py"


def test_short_stress_run() -> None:
    args = ["--runs", "3", "--delay-runs", "0", "--busy", "1", "--concurrency", "2", "--json"]
    out = subprocess.run(
        [sys.executable, str(STRESS), *args], capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stdout + out.stderr[-2000:]
    r = json.loads(out.stdout)
    assert r["deterministic"] and r["busy_loops"] == 1
    rows = {row["tracker"]: row for row in r["rows"]}
    assert set(rows) == {"buggy", "fixed"}
    assert rows["buggy"]["exit_1"] == 3 and rows["fixed"]["exit_0"] == 3, rows
