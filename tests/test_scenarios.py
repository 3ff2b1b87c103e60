"""Every built-in scenario, against both trackers, must end as its ``outcomes`` declare: a race
scenario has to keep failing against the buggy tracker, or its timing has silently decayed."""

from __future__ import annotations

import pytest
from helpers import wait_gone

from orchestrator.run import scenario as sc
from testbed.fixes import PRESETS


# cell-evacuation (64 hosts) has its own test, which also reads every destination's log
@pytest.mark.parametrize("tracker", PRESETS)
@pytest.mark.parametrize("name", [n for n in sc.builtin_names() if n != "cell-evacuation"])
def test_builtin_scenario(run_scenario, name: str, tracker: str) -> None:
    expected = sc.load(name).outcomes[tracker]
    result = run_scenario(name, tracker=tracker)
    assert result.tracker == tracker
    detail = result.error or (result.last_check.diff() if result.last_check else None)
    assert result.outcome == expected, f"{name} with {tracker}: {detail}"
    pids = [pid for history in result.pid_history.values() for pid in history]
    assert pids and wait_gone(pids, 1) == []
