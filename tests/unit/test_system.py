"""The system-under-test seam (testbed.system): the registry behind ``cluster.system``, its
lazy loading, and the model as the first system that fills the protocols."""

from __future__ import annotations

import pytest
from helpers import run_cli

from orchestrator.cli.options import load
from testbed import system
from testbed.errors import ConfigError


def members(protocol: type) -> set[str]:
    """The names a protocol asks for (its annotations and methods)."""
    names = set(getattr(protocol, "__annotations__", {}))
    names |= {n for n, v in vars(protocol).items() if callable(v) and not n.startswith("_")}
    return names


def test_the_default_is_the_model_and_an_unknown_system_names_the_key_and_the_value() -> None:
    assert load().cluster.system == system.DEFAULT == "model"
    with pytest.raises(ConfigError, match="'cluster.system' must be one of model, nova: 'vax'"):
        load(sets=["cluster.system=vax"])


def test_an_unknown_system_exits_2_on_one_line() -> None:
    out = run_cli("run", "--set", "cluster.system=vax")
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and "'cluster.system'" in out.stderr and "vax" in out.stderr


@pytest.mark.skipif(system.installed("nova"), reason="nova is installed")
def test_nova_without_its_extra_says_how_to_install_it() -> None:
    out = run_cli("run", "--set", "cluster.system=nova")
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and "pip install '.[nova]'" in out.stderr
    with pytest.raises(ConfigError, match=r"pip install '\.\[nova\]'"):
        system.orchestrator_system("nova")


def test_a_registered_system_whose_code_is_missing_is_a_config_error(monkeypatch) -> None:
    monkeypatch.setitem(system.SYSTEMS, "ghost", system.Entry("nowhere.x:Y", "nowhere.y:Z"))
    with pytest.raises(ConfigError, match="'cluster.system' = 'ghost': cannot load 'nowhere.y:Z'"):
        system.orchestrator_system("ghost")


def test_the_model_fills_both_halves_of_the_seam() -> None:
    host = system.host_factory("model")
    assert members(system.HostSystem) <= set(dir(host))
    orch = system.orchestrator_system("model")
    assert members(system.OrchestratorSystem) <= set(dir(orch))
    assert orch.name == "model"
    api = orch.make_api.__annotations__["return"]
    from orchestrator.model.api import ModelAPI

    assert api in ("ModelAPI", ModelAPI)
    assert members(system.SystemAPI) <= set(dir(ModelAPI))
    for op in orch.ops:  # every conductor operation of a system declares its footprint
        assert callable(op.meta["footprint"]), op.name
