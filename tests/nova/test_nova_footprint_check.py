"""Nova's derived footprints checked against what Nova's calls really touch of ``nova.sqlite``:
a footprint narrowed by one table fails the run and the exploration, naming the call; the nova
system's own pass the check, run and explored."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

pytest.importorskip("nova.version", reason="the nova system needs: pip install '.[nova]'")

from helpers import run_cli  # noqa: E402

from orchestrator.cli.options import option_layers  # noqa: E402
from orchestrator.explore import explorer  # noqa: E402
from orchestrator.explore.strategies.dpor import Dpor  # noqa: E402
from orchestrator.run import runner  # noqa: E402
from orchestrator.run import scenario as sc  # noqa: E402
from testbed import system  # noqa: E402

NO_HOLDS = str(Path(__file__).parent / "data" / "evacuate-race-no-holds.toml")
PERIODIC = str(Path(__file__).parent / "data" / "evacuate-periodic.toml")
# Instance.save writes the instance's extra row (its pci_requests whatever changed, its flavor
# when the evacuation claims): one line, naming the call, the table, a column and the row
NARROWED = re.compile(r"footprint: Instance\.save wrote instance_extra\.\w+ of id=\d+ not declared")


@pytest.fixture
def narrowed(monkeypatch) -> str:
    """The nova system with Instance.save's footprint narrowed, under a name of its own."""
    entry = dataclasses.replace(system.SYSTEMS["nova"], orchestrator="narrowed_nova:INSTANCE_SAVE")
    monkeypatch.setitem(system.SYSTEMS, "narrowed-nova", entry)
    return "narrowed-nova"


def config_for(name: str, system_name: str):
    sets = ["cluster.check_footprints=true", f"cluster.system={system_name}"]
    return sc.load_with_config(name, *option_layers(sets=sets))


def test_a_narrowed_footprint_fails_the_run_naming_the_call(narrowed, tmp_path) -> None:
    scenario, config = config_for("evacuate-race", narrowed)
    result = runner.run(scenario, config, str(tmp_path))
    assert result.outcome == "fail"
    assert NARROWED.fullmatch(result.error), result.error
    # the nova system's own footprints hold on the same scenario
    scenario, config = config_for("evacuate-race", "nova")
    assert runner.run(scenario, config, str(tmp_path)).outcome == "pass"


def test_a_narrowed_footprint_ends_the_exploration_naming_the_call(narrowed, tmp_path) -> None:
    scenario, config = config_for(NO_HOLDS, narrowed)
    summary = explorer.explore(scenario, config, Dpor(), run_base=str(tmp_path))
    assert NARROWED.fullmatch(summary.error or ""), summary.error
    assert len(summary.schedules) == 1  # stopped at the first schedule: it cannot be trusted


# as docs/nova.md's table: the built-in scenarios that pass on Nova (the check fails none)
PASSING = ["evacuate-race", "evacuate-race-delays", "evacuate-source-cleanup",
           "evacuate-then-rebuild", "evacuate-partitioned-source", "delete-while-host-down",
           "multi-device", "second-server", NO_HOLDS, PERIODIC]  # fmt: skip


@pytest.mark.parametrize("name", PASSING, ids=lambda n: Path(n).stem)
def test_every_passing_scenario_passes_the_check(name: str) -> None:
    proc = run_cli("run", name, "--set", "cluster.system=nova", "--check-footprints",
                   "--no-history")  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
