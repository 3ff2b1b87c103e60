"""The nova system behind the seam: what it wires and what it does not (exit 2 naming the action
and the system), the points it fires, and Nova loaded
before the hosts are forked."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from helpers import run_cli

pytest.importorskip("nova.version", reason="the nova system needs: pip install '.[nova]'")

from testbed import system  # noqa: E402

NOVA = ("--set", "cluster.system=nova")


def test_an_action_not_wired_exits_2_naming_the_action_and_the_system() -> None:
    out = run_cli("run", "resize-revert-race", *NOVA)
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1
    assert "action 'resize' is not wired for system 'nova'" in out.stderr


def test_points_lists_what_nova_fires() -> None:
    out = run_cli("points", *NOVA, "--json")
    assert out.returncode == 0, out.stderr
    names = {p["name"] for p in json.loads(out.stdout)}
    assert names == set(system.SYSTEMS["nova"].points)
    assert {"audit.instance_list", "evacuate.set_host", "audit.migration_list"} <= names
    assert "resize.claim" not in names
    everything = {p["name"] for p in json.loads(run_cli("points", "--json").stdout)}
    assert names < everything


def test_every_point_the_registry_names_is_fired_by_the_nova_hosts() -> None:
    from pathlib import Path

    text = "".join(p.read_text() for p in (Path(__file__).parents[2] / "hosts/nova").glob("*.py"))
    for point in system.SYSTEMS["nova"].points:
        assert f'"{point}"' in text, point


def test_nova_is_loaded_before_any_host_is_forked_and_never_by_default() -> None:
    code = (
        "import sys; from testbed import system;"
        "system.orchestrator_system('{}');"
        "print('nova.compute.resource_tracker' in sys.modules)"
    )
    for name, expected in (("nova", "True"), ("model", "False")):
        out = subprocess.run([sys.executable, "-c", code.format(name)], capture_output=True,
                             text=True, timeout=120)  # fmt: skip
        assert out.stdout.strip() == expected, out.stderr
