"""The explore command's usage errors and a replay's tracker, refused before anything starts."""

from __future__ import annotations

import pytest
from helpers import run_cli


@pytest.mark.parametrize(
    "args,message",
    [
        (["--strategy", "sideways"], "invalid choice"),
        (["--runs", "0", "--strategy", "random"], "--runs must be at least 1"),
        (["--host", "host9"], "unknown host 'host9'"),
    ],
)
def test_explore_usage_errors(args, message) -> None:
    proc = run_cli("explore", *args)
    assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr


def test_replay_of_another_tracker_is_refused(tmp_path) -> None:
    path = tmp_path / "r.toml"
    path.write_text(
        'scenario = "evacuate-race"\ntracker = "buggy"\nhosts = ["host2"]\norder = []\n'
    )
    proc = run_cli("run", "--replay", str(path), "--tracker", "fixed")
    assert proc.returncode == 2 and "recorded with fixes 'buggy'" in proc.stderr


def test_a_bound_beyond_a_float_still_gives_a_reduction() -> None:
    from orchestrator.explore.schedule import _ratio

    assert _ratio(12376, 19) == 651.4
    assert _ratio(10**400, 3) == 10**400 // 3  # 64 hosts' timers: no float holds it
