"""Footprints checked against what really happens: a footprint declared narrower than what
its handler touches fails the run and the exploration, naming the operation; every built-in
scenario passes the check, run and explored."""

from __future__ import annotations

import pytest
from helpers import run_cli

from orchestrator.cli.options import option_layers
from orchestrator.explore import explorer
from orchestrator.explore.strategies.dpor import Dpor
from orchestrator.run import runner
from orchestrator.run import scenario as sc
from testbed import system

# variant of tests/narrowed_footprint.py -> a scenario whose run touches what it leaves out
SCENARIO = {"PCI_SAVE_COLUMN": "evacuate-race", "PCI_GET_ROWS": "evacuate-source-cleanup"}
NARROWED = {
    "PCI_SAVE_COLUMN": "footprint: pci.save wrote pci_devices.instance_uuid of host=host",
    # the source, back after the evacuation, reads its devices: one is allocated
    "PCI_GET_ROWS": "footprint: pci.get read pci_devices.* of host=host1,address=",
}


@pytest.fixture
def narrowed(monkeypatch):
    """Register a narrowed variant of the model as a system of its own (the test's)."""

    def register(variant: str) -> str:
        entry = system.Entry(system.SYSTEMS["model"].host, f"narrowed_footprint:{variant}")
        monkeypatch.setitem(system.SYSTEMS, "narrowed", entry)
        return "narrowed"

    return register


def config_for(name: str, *sets: str):
    return sc.load_with_config(name, *option_layers(sets=["cluster.check_footprints=true", *sets]))


@pytest.mark.parametrize("variant", NARROWED)
def test_a_narrowed_footprint_fails_the_run_naming_the_operation(
    narrowed, variant, tmp_path
) -> None:
    name = SCENARIO[variant]
    scenario, config = config_for(name, f"cluster.system={narrowed(variant)}")
    result = runner.run(scenario, config, str(tmp_path))
    assert result.outcome == "fail"
    assert result.error.startswith(NARROWED[variant]) and result.error.endswith(" not declared")
    # the model's own footprints hold on the same scenario
    scenario, config = config_for(name)
    assert runner.run(scenario, config, str(tmp_path)).outcome == "pass"


def test_a_narrowed_footprint_ends_the_exploration_naming_the_operation(narrowed, tmp_path) -> None:
    scenario, config = config_for("evacuate-race", f"cluster.system={narrowed('PCI_SAVE_COLUMN')}")
    summary = explorer.explore(scenario, config, Dpor(), run_base=str(tmp_path))
    assert summary.error.startswith(NARROWED["PCI_SAVE_COLUMN"])
    assert len(summary.schedules) == 1  # stopped at the first schedule: it cannot be trusted


def test_the_suite_checks_footprints_everywhere() -> None:
    assert sc.load_with_config("evacuate-race", *option_layers())[1].cluster.check_footprints


# cell-evacuation (64 hosts) runs with the check in its own test (the suite turns it on)
@pytest.mark.parametrize("name", [n for n in sc.builtin_names() if n != "cell-evacuation"])
def test_every_builtin_scenario_passes_the_check(name: str) -> None:
    proc = run_cli("run", name, "--check-footprints", "--no-history")
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.long
@pytest.mark.parametrize("name", ["evacuate-race", "resize-revert-race", "unshelve-race"])
def test_exploring_with_the_check_finds_every_footprint_true(name: str, tmp_path) -> None:
    proc = run_cli("explore", name, "--check-footprints", "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
