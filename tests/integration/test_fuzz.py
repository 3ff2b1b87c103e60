"""The fuzz check, short: bad frames to every listening socket take no process down, valid
requests keep being answered, memory stays bounded and the log holds a line per kind of bad
frame rather than one per frame. (Latencies are printed by the check, never asserted.)"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

FUZZ = Path(__file__).resolve().parents[2] / "checks" / "fuzz.py"


def test_short_fuzz_storm() -> None:
    frames = 400
    out = subprocess.run(
        [sys.executable, str(FUZZ), "--frames", str(frames), "--rounds", "20", "--json"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    r = json.loads(out.stdout)
    assert all(r["alive"].values()), r["alive"]
    assert r["valid_failed_during_storm"] == 0
    assert set(r["sent"]) == {"conductor", "commands", "control"}
    for sent in r["sent"].values():
        assert sent["keyed"] > frames // 2 and sent["raw"] > 0
    assert all(lat["storm_requests"] > 0 for lat in r["latency_ms"].values())
    bad = sum(s["keyed"] + s["unkeyed"] + s["raw"] for s in r["sent"].values())
    assert 0 < r["log_lines"] < min(80, bad // 10), r["log_kinds"]
    assert any("refused a peer" in k for k in r["log_kinds"])
    assert any("malformed message" in k for k in r["log_kinds"])
    before, after = r["rss_kib"]["before"], r["rss_kib"]["after"]
    assert after["orchestrator"] - before["orchestrator"] < 64 * 1024
    assert all(after[h] - before[h] < 16 * 1024 for h in before if h != "orchestrator")
