"""``testbed up --set cluster.system=nova`` driven from a second terminal, as with the model
(tests/integration/test_control.py): a server built on host1, ``kill -9`` of host1, the
evacuation to host2, the checks; host1's return runs Nova's own ``_destroy_evacuated_instances``
(the evacuation's migration: done -> completed) and the startup audit frees host1's device;
Ctrl-C leaves no process."""

from __future__ import annotations

import json
import os
import signal
import time

import pytest
from helpers import wait_gone
from integration.test_control import Up

pytest.importorskip("nova.version", reason="the nova system needs: pip install '.[nova]'")

NOVA = ("--set", "cluster.system=nova")


@pytest.fixture
def up(tmp_path):
    made = []

    def start(*args: str) -> Up:
        made.append(Up(tmp_path, "--set", "timeouts.orphan_after=1", *NOVA, *args))
        return made[-1]

    yield start
    for u in made:
        u.stop()


def _wait_state(u: Up, host: str, state: str) -> None:
    deadline = time.monotonic() + 10
    while u.status()["hosts"][host]["state"] != state and time.monotonic() < deadline:
        time.sleep(0.05)
    assert u.status()["hosts"][host]["state"] == state


def test_walkthrough_on_nova(up) -> None:
    u = up()
    out = u.run("create-server", "vm1", "--host", "host1")
    assert out.returncode == 0 and "active on host1" in out.stdout, out.stdout + out.stderr
    host1 = u.status()["hosts"]["host1"]["pid"]
    os.kill(host1, signal.SIGKILL)  # "kill -9 PID" from another shell
    _wait_state(u, "host1", "down")
    out = u.run("evacuate", "vm1", "--to", "host2")
    assert out.returncode == 0 and "from host1 to host2" in out.stdout, out.stderr
    assert u.run("check", "--expect", "vm1:host2=1").returncode == 0
    [migration] = u.status()["migrations"]
    assert (migration["migration_type"], migration["status"]) == ("evacuation", "done")

    out = u.run("restart", "host1")
    assert out.returncode == 0, out.stderr
    checked = u.run("check", "--expect", "vm1:host1=0", "--expect", "vm1:host2=1", "--json")
    assert checked.returncode == 0 and json.loads(checked.stdout)["invariants"]["ok"]
    [migration] = u.status()["migrations"]
    assert migration["status"] == "completed"  # Nova's _destroy_evacuated_instances

    pids = u.host_pids()
    os.killpg(u.proc.pid, signal.SIGINT)  # Ctrl-C in the terminal of testbed up
    out, _ = u.proc.communicate(timeout=15)
    assert u.proc.returncode == 0 and "stopped" in out
    assert wait_gone([u.proc.pid, *pids], 5) == []
    assert not (u.cwd / ".testbed-control.json").exists()


def test_delete_frees_what_the_tracker_tracks(up) -> None:
    """Nova's ``_delete_instance`` frees through ``update_usage``, which skips a server the
    tracker does not track: a server evacuated to host2 keeps its device there until host2's
    next audit (``clean_usage``); a server built there is freed at once."""
    u = up()
    assert u.run("create-server", "vm1", "--host", "host1").returncode == 0
    assert u.run("create-server", "vm2", "--host", "host2").returncode == 0
    assert u.run("delete", "vm2").returncode == 0
    assert u.run("check", "--expect", "vm2:host2=0").returncode == 0  # tracked: freed now
    os.kill(u.status()["hosts"]["host1"]["pid"], signal.SIGKILL)
    _wait_state(u, "host1", "down")
    assert u.run("evacuate", "vm1", "--to", "host2").returncode == 0
    assert u.run("delete", "vm1").returncode == 0
    bound = u.status()["hosts"]["host2"]
    assert bound["servers"] == ["vm1"], bound  # not tracked on host2 yet: still bound
    assert u.run("audit", "host2").returncode == 0
    assert u.run("check", "--expect", "vm1:host2=0").returncode == 0
    assert u.run("restart", "host1").returncode == 0  # and the source frees its own
    assert u.run("check", "--expect", "vm1:host1=0", "--expect", "vm1:host2=0").returncode == 0
