"""``testbed run --set cluster.system=nova``: the built-in race on Nova 34's own resource tracker,
through the same cluster, supervisor, conductor, runner, holds and checks as the model. Nova as
shipped keeps vm1's device on host2; with ``finish_evacuation`` unlocked (``--no-fix
1896463``) the audit's ``clean_usage`` frees it: 0 of 1."""

from __future__ import annotations

import json

import pytest
from helpers import run_cli

pytest.importorskip("nova.version", reason="the nova system needs: pip install '.[nova]'")

NOVA = ("--set", "cluster.system=nova")


def test_the_race_passes_on_nova_as_shipped(tmp_path) -> None:
    out = run_cli("run", *NOVA, "--run-dir", str(tmp_path), "--json")
    assert out.returncode == 0, out.stdout + out.stderr
    result = json.loads(out.stdout)
    assert result["allocations"]["host2"] == {"vm1": 1}


def test_the_race_loses_the_device_without_the_lock(tmp_path) -> None:
    out = run_cli("run", *NOVA, "--no-fix", "1896463", "--run-dir", str(tmp_path))
    assert out.returncode == 1, out.stdout + out.stderr
    assert "host2" in out.stdout and "vm1" in out.stdout and "0 of 1" in out.stdout
