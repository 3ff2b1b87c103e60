"""The scenario steps and the control commands are one set of actions: the same names (snake
case in a scenario, kebab case on the command line), the same fields and defaults, checked by
the one check of typed fields; only the actions named below belong to one face alone."""

from __future__ import annotations

import inspect

import pytest
from helpers import run_cli

from orchestrator.cli.main import build_parser
from orchestrator.control.commands import COMMANDS
from orchestrator.run import action as action_module
from orchestrator.run.actions import check
from orchestrator.run.steps import REQUIRED, STEPS
from testbed.config import Config, apply_layer
from testbed.errors import ConfigError
from testbed.wire import WireError

# The documented exceptions (orchestrator/run/action.py says why for each).
SCENARIO_ONLY = {"sleep"}
CONTROL_ONLY = {"status", "join"}


def step_fields() -> dict[str, dict[str, tuple[type, bool, object]]]:
    return {
        name: {
            f: (tp, default is REQUIRED, None if default is REQUIRED else default)
            for f, (tp, default) in kind.fields.items()
        }
        for name, kind in STEPS.items()
    }


def command_fields() -> dict[str, dict[str, tuple[type, bool, object]]]:
    return {
        op.name.replace("-", "_"): {
            f.name: (f.type, f.required, f.default) for f in op.fields.values()
        }
        for op in COMMANDS
    }


def test_every_action_is_both_a_step_and_a_command_but_the_documented_ones() -> None:
    steps, commands = step_fields(), command_fields()
    assert set(steps) - set(commands) == SCENARIO_ONLY
    assert set(commands) - set(steps) == CONTROL_ONLY
    doc = inspect.getdoc(action_module)
    assert all(f"``{name}``" in doc for name in SCENARIO_ONLY | CONTROL_ONLY)


def test_a_step_and_its_command_take_the_same_fields_with_the_same_defaults() -> None:
    steps, commands = step_fields(), command_fields()
    for name in set(steps) & set(commands):
        assert steps[name] == commands[name], name


def test_no_field_has_a_sentinel_default() -> None:
    """"Not given" is None, never a value that looks like one ("" or -1)."""
    for name, fields in step_fields().items():
        for field, (_, _, default) in fields.items():
            assert default not in ("", -1) or isinstance(default, bool), (name, field)


def test_the_command_line_takes_each_field_with_its_default() -> None:
    """Required fields are positional, the others options defaulting to the field's default
    (an absent repeatable option is the empty list)."""
    for op in COMMANDS:
        if not op.meta["action"].cli:
            continue
        positional = [f"x{i}" for i, f in enumerate(op.fields.values()) if f.required]
        if "expect" in op.fields:
            positional = []
        args = build_parser().parse_args([op.name, *positional])
        for f in op.fields.values():
            want = f.default if not f.required else ([] if f.type is list else None)
            if f.required and f.type is not list:
                continue
            assert getattr(args, f.name) == want, (op.name, f.name)


@pytest.mark.parametrize("old,new", [(["server", "create"], "create-server")])
def test_an_older_command_name_still_works_with_a_notice(old: list[str], new: str) -> None:
    proc = run_cli(*old, "vm1", "--control", "ipc:///nonexistent/testbed", "--timeout", "0.1")
    assert proc.returncode == 1  # nobody answers: the command ran, under its new name
    assert proc.stderr.splitlines()[0] == f"testbed: '{' '.join(old)}' is now '{new}'"


def test_one_check_of_typed_fields_for_config_steps_and_requests() -> None:
    """A bool is no integer, an integer is a number, a negative count is refused where the
    user writes it: the same verdict, each error naming the key."""
    step, op = STEPS["create_server"].action, COMMANDS.find("create-server")
    for bad in (True, "two", 1.5):
        with pytest.raises(ConfigError, match=r"step 1: 'pci' must be an integer"):
            step.check({"server": "vm1", "pci": bad}, "step 1")
        with pytest.raises(ConfigError, match=r"'devices\.per_server' must be an integer"):
            apply_layer(Config(), {"devices": {"per_server": bad}}, "layer")
        with pytest.raises(WireError, match=r"field 'pci' has the wrong type \(must be an integ"):
            op.check({"server": "vm1", "pci": bad})
    with pytest.raises(ConfigError, match=r"'pci' must not be negative, got -2"):
        step.check({"server": "vm1", "pci": -2}, "create-server")
    assert STEPS["slow"].action.check({"host": "h", "delay": 1}, "") == {"host": "h", "delay": 1.0}


def test_a_command_checks_its_body_as_a_step_does() -> None:
    """The control server runs the action's check before the action: a value outside its
    choices or a negative number never reaches the cluster."""
    with pytest.raises(ConfigError, match=r"kill: 'signal' must be one of KILL"):
        COMMANDS.call(None, "kill", {"host": "host1", "signal": "HUP"})
    with pytest.raises(ConfigError, match=r"create-server: 'pci' must not be negative"):
        COMMANDS.call(None, "create-server", {"server": "vm1", "pci": -1})
    assert check is STEPS["check"].run
