"""``testbed explore`` on Nova's own code, across every host (no ``--host``): every object call
and every lock request is a scheduling point, and nothing says where the race is. With
``finish_evacuation`` unlocked (``--no-fix 1896463``) a schedule loses vm1's device, also in a
scenario with the race's steps only (no holds); with Nova as shipped none does. The racing
line and the timeline name Nova's calls."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytest.importorskip("nova.version", reason="the nova system needs: pip install '.[nova]'")

from orchestrator.cli.options import option_layers  # noqa: E402
from orchestrator.explore import explorer  # noqa: E402
from orchestrator.explore.strategies.dpor import Dpor  # noqa: E402
from orchestrator.run import scenario as sc  # noqa: E402

NO_HOLDS = str(Path(__file__).parent / "data" / "evacuate-race-no-holds.toml")
# the race, in Nova's calls: the audit lists host2's instances before the evacuation's saves
# move vm1 there, and lists the migrations after the evacuation marked its own done
RACE = ("InstanceList.get_by_host_and_node", "Instance.save", "Migration.save",
        "MigrationList.get_in_progress_and_error")  # fmt: skip


class UntilLost(Dpor):
    """DPOR that stops at the first losing schedule (finding one is what a test needs)."""

    def __init__(self) -> None:
        super().__init__()
        self.lost = False

    def seen(self, schedule: explorer.Schedule) -> None:
        self.lost = self.lost or schedule.outcome == "fail"

    def next_run(self) -> bool:
        return not self.lost and super().next_run()


def explore(name: str, tmp_path: Path, *no_fix: str, strategy: Dpor) -> explorer.Summary:
    layers = option_layers(sets=["cluster.system=nova"], no_fix=no_fix)
    scenario, config = sc.load_with_config(name, *layers)
    seen = getattr(strategy, "seen", None)
    return explorer.explore(scenario, config, strategy, None, tmp_path / "replays",
                            run_base=str(tmp_path / "runs"), progress=seen)  # fmt: skip


def assert_names_the_race(names: list[str]) -> None:
    """The race's calls appear in this order among ``names``."""
    at = 0
    for call in RACE:
        at = next((i for i in range(at, len(names)) if names[i].startswith(call)), -1) + 1
        assert at, f"{call} not after {RACE[: RACE.index(call)]} in {names}"


def timeline_events(page: str, host: str) -> list[str]:
    """The labels of ``host``'s events in a timeline page, in time order (the scenario's)."""
    rows = re.findall(r"<tr id='e\d+' class='([^']*)' data-host='(\w+)'>(.*?)</tr>", page)
    labels = [re.findall(r"class='ev [\w-]+'[^>]*>([^<]*)<", row) for cls, h, row in rows
              if h == host and "pre" not in cls.split()]  # fmt: skip
    return [label for found in labels for label in found]


@pytest.mark.long
@pytest.mark.parametrize("name", ["evacuate-race", NO_HOLDS], ids=["holds", "no-holds"])
def test_a_schedule_loses_the_device_without_the_lock(name: str, tmp_path: Path) -> None:
    summary = explore(name, tmp_path, "1896463", strategy=UntilLost())
    assert summary.error is None and summary.hosts == ["host1", "host2"]
    (lost,) = summary.losing
    assert lost.result.allocations["host2"].get("vm1", 0) == 0  # 0 of 1
    assert_names_the_race(lost.line.split(" < "))
    assert_names_the_race(timeline_events(Path(lost.timeline).read_text(), "host2"))


@pytest.mark.long
def test_no_schedule_loses_with_nova_as_shipped(tmp_path: Path) -> None:
    summary = explore(NO_HOLDS, tmp_path, strategy=Dpor())
    assert summary.error is None
    assert len(summary.schedules) > 1
    assert not summary.losing and not summary.inconclusive
