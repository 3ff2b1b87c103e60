"""Scenario files: the example of docs/scenarios.md works as documented; malformed files exit 2
with one line naming the step and the key."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from helpers import run_cli, run_json

from orchestrator.run import scenario as sc
from orchestrator.run.steps import STEPS
from testbed.errors import ConfigError

PAGE = Path(__file__).resolve().parent.parent / "docs" / "scenarios.md"


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


def test_every_step_is_documented() -> None:
    text = PAGE.read_text()
    for name in STEPS:
        assert f"`{name}`" in text, name


STEP = '[[steps]]\ndo = "create_server"\nserver = "vm1"\n'
MALFORMED = {
    "unknown step": ('[[steps]]\ndo = "explode"\n', "step 1", "'explode'"),
    "missing do": ('[[steps]]\nserver = "vm1"\n', "step 1", "'do'"),
    "missing field": ('[[steps]]\ndo = "create_server"\n', "step 1", "'server'"),
    "mistyped field": (STEP + 'pci = "two"\n', "step 1", "'pci'"),
    "unknown field": (STEP + 'hots = "host1"\n', "step 1", "'hots'"),
    "undeclared host": (STEP + '[[steps]]\ndo = "kill"\nhost = "host9"\n', "step 2", "'host'"),
    "undeclared server": ('[[steps]]\ndo = "delete"\nserver = "vm9"\n', "step 1", "'server'"),
    "bad expectation": (
        STEP + '[[steps]]\ndo = "check"\nexpect = ["vm1-host1"]\n',
        "step 2",
        "'expect'",
    ),
    "expectation on unknown server": (
        STEP + '[[steps]]\ndo = "check"\nexpect = ["vm2:host1=1"]\n',
        "step 2",
        "'expect'",
    ),
    "negative sleep": ('[[steps]]\ndo = "sleep"\nseconds = -1\n', "step 1", "'seconds'"),
    "bad signal": (
        STEP + '[[steps]]\ndo = "kill"\nhost = "host1"\nsignal = "HUP"\n',
        "step 2",
        "'signal'",
    ),
    "may_fail not a boolean": (STEP + 'may_fail = "yes"\n', "step 1", "'may_fail'"),
    "bad until": (
        STEP + '[[steps]]\ndo = "evacuate"\nserver = "vm1"\nuntil = "soon"\n',
        "step 2",
        "'until'",
    ),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_scenario_exits_2_naming_step_and_key(case: str, tmp_path) -> None:
    text, step, key = MALFORMED[case]
    path = tmp_path / "bad.toml"
    path.write_text(text)
    proc = run_cli("run", str(path))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert step in lines[0] and key in lines[0], lines[0]
    assert proc.stdout == ""


@pytest.mark.parametrize(
    "text,key",
    [
        ('[config.timeouts]\nrpcc = 1\n[[steps]]\ndo = "wait_idle"\n', "timeouts.rpcc"),
        ('[[steps]]\ndo = "wait_idle"\n[config]\ncluster = { tracker = "maybe" }\n', "tracker"),
        ("steps = []\n", "steps"),
    ],
)
def test_malformed_scenario_config_exits_2(text: str, key: str, tmp_path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    proc = run_cli("run", str(path))
    assert proc.returncode == 2 and key in proc.stderr and "Traceback" not in proc.stderr


def test_load_with_config_layers_the_scenario_first_and_checks_names(tmp_path: Path) -> None:
    scenario, config = sc.load_with_config(
        "evacuate-race", ("a layer", {"timeouts": {"rpc": 7}, "cluster": {"tracker": "buggy"}})
    )
    assert scenario.name == "evacuate-race"
    assert config.cluster.tracker == "buggy" and config.timeouts.rpc == 7
    assert config.cluster.audit_interval == 0  # from the scenario's own [config]
    path = tmp_path / "s.toml"
    path.write_text('[[steps]]\ndo = "audit"\nhost = "host3"\n')
    with pytest.raises(ConfigError, match=r"step 1 \(audit\): 'host': unknown host 'host3'"):
        sc.load_with_config(str(path))
    hosts = ("three hosts", {"cluster": {"hosts": ["host1", "host2", "host3"]}})
    assert sc.load_with_config(str(path), hosts)[1].cluster.hosts[-1] == "host3"


def test_a_step_declares_its_fields_by_its_signature() -> None:
    """A step's fields are its action's parameters: a new step needs one declaration, and a
    parameter whose type a scenario file cannot give is refused where it is declared."""
    from orchestrator.run.action import ACTIONS, action
    from orchestrator.run.steps import REQUIRED

    assert STEPS["evacuate"].fields == {
        "server": (str, REQUIRED),
        "to": (str, None),
        "until": (str, "done"),
    }
    assert STEPS["check"].fields == {"expect": (list, REQUIRED)}
    with pytest.raises(TypeError, match="action odd, parameter 'when': .* has no wire type"):

        @action("odd", "a step with a field no scenario can write")
        def _odd(c, when: object) -> None: ...

    assert "odd" not in STEPS and "odd" not in ACTIONS


def test_an_older_way_to_say_not_given_still_means_the_default(tmp_path, caplog) -> None:
    """``to = ""`` and ``pci = -1`` meant "not given" before fields could be absent; they
    still do, with a one-line notice naming the step and the key."""
    path = tmp_path / "old.toml"
    path.write_text(STEP + 'pci = -1\nhost = ""\n[[steps]]\ndo = "heal"\nhost = ""\n')
    with caplog.at_level("WARNING"):
        scenario = sc.load(str(path))
    assert [s.args for s in scenario.steps] == [{"server": "vm1"}, {}]
    notices = [r.getMessage() for r in caplog.records]
    assert len(notices) == 3 and "step 1 (create_server): pci = -1 is" in notices[0]
