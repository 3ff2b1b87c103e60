"""The nova system's periodic task as a timer the explorer fires: a scenario with
``audit_interval > 0``, no ``audit`` step and no holds (``data/evacuate-periodic.toml``). With
``finish_evacuation`` unlocked (``--no-fix 1896463``) a fire of host2's periodic
``update_available_resource`` inside the evacuation loses vm1's device; with Nova as shipped
the same number of schedules loses nothing. Host2 only is explored (``--host host2``): host1
only builds, and every schedule of both hosts takes about twice as long."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("nova.version", reason="the nova system needs: pip install '.[nova]'")

from orchestrator.cli.options import option_layers  # noqa: E402
from orchestrator.explore import explorer  # noqa: E402
from orchestrator.explore.strategies.dpor import Dpor  # noqa: E402
from orchestrator.run import scenario as sc  # noqa: E402

PERIODIC = str(Path(__file__).parent / "data" / "evacuate-periodic.toml")
# Schedules explored with Nova as shipped: more than the unlocked Nova needs to lose (7 here).
# All of them (204 here, some 200 s on two busy cores) lose nothing either: docs/nova.md.
BUDGET = 20


def explore(tmp_path: Path, *no_fix: str, **how: object) -> explorer.Summary:
    scenario, config = sc.load_with_config(
        PERIODIC, *option_layers(sets=["cluster.system=nova"], no_fix=no_fix)
    )
    assert not config.holds and all(s.do != "audit" for s in scenario.steps)
    assert config.cluster.audit_interval > 0
    return explorer.explore(scenario, config, Dpor(), ["host2"], tmp_path / "replays",
                            run_base=str(tmp_path / "runs"), timer_fires=1, **how)  # fmt: skip


@pytest.mark.long
def test_a_fire_of_the_periodic_task_loses_the_device_without_the_lock(tmp_path: Path) -> None:
    summary = explore(tmp_path, "1896463", first=True)
    assert summary.error is None
    (lost,) = summary.losing
    assert lost.result.allocations["host2"].get("vm1", 0) == 0  # 0 of 1
    # the fire lists host2's instances before the evacuation moves vm1 there
    line = lost.line.split(" < ")
    assert line.index("InstanceList.get_by_host_and_node@audit.instance_list") < line.index(
        "Instance.save@evacuate.set_host"
    )
    replay = Path(lost.replay).read_text()
    assert '"host2:periodic:fire"' in replay and "timer_fires = 1" in replay


@pytest.mark.long
def test_no_fire_loses_the_device_with_nova_as_shipped(tmp_path: Path) -> None:
    summary = explore(tmp_path, max_schedules=BUDGET)
    assert summary.error is None
    assert len(summary.schedules) == BUDGET  # the tree is larger than the budget
    assert not summary.losing
    # a schedule a loaded machine could not judge (a reply past its deadline) is no finding
    assert len(summary.inconclusive) <= BUDGET // 10, summary.inconclusive
    fired = [s for s in summary.schedules if any(":periodic:fire" in o for o in s.order)]
    assert fired, "no schedule fired host2's timer"
