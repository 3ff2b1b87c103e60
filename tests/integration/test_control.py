"""testbed up and the control commands, as a user drives them from two terminals."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pytest
from helpers import CLI, alive, run_cli, start_cli, wait_gone


class Up:
    """``testbed up`` in its own directory and session (as a terminal would run it)."""

    def __init__(self, cwd, *args: str) -> None:
        self.cwd = cwd
        self.proc = start_cli("up", "--refresh", "0.1", *args, cwd=cwd)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not (cwd / ".testbed-control.json").exists():
            assert self.proc.poll() is None, self.proc.communicate()
            time.sleep(0.05)
        assert (cwd / ".testbed-control.json").exists(), "testbed up never became reachable"

    def run(self, *args: str) -> subprocess.CompletedProcess:
        """A command from the second terminal (its ``main``, run in this process)."""
        return run_cli(*args, cwd=self.cwd)

    def status(self) -> dict:
        out = self.run("status", "--json")
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout)

    def host_pids(self) -> list[int]:
        return [h["pid"] for h in self.status()["hosts"].values()]

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.communicate(timeout=10)


@pytest.fixture
def up(tmp_path):
    made = []

    def start(*args: str) -> Up:
        made.append(Up(tmp_path, "--set", "timeouts.orphan_after=1", *args))
        return made[-1]

    yield start
    for u in made:
        u.stop()


def test_walkthrough(up) -> None:
    u = up()
    assert u.run("server", "create", "vm1", "--host", "host1", "--pci", "1").returncode == 0
    host1 = u.status()["hosts"]["host1"]["pid"]
    os.kill(host1, signal.SIGKILL)  # "kill -9 PID" from another shell
    deadline = time.monotonic() + 5
    while u.status()["hosts"]["host1"]["state"] != "down" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert u.status()["hosts"]["host1"]["state"] == "down"
    out = u.run("evacuate", "vm1")
    assert out.returncode == 0 and "to host2" in out.stdout, out.stderr
    assert u.run("check", "--expect", "vm1:host2=1").returncode == 0
    assert u.run("restart", "host1").returncode == 0
    checked = u.run("check", "--expect", "vm1:host1=0", "--expect", "vm1:host2=1", "--json")
    assert checked.returncode == 0 and json.loads(checked.stdout)["invariants"]["ok"]
    pids = u.host_pids()
    os.killpg(u.proc.pid, signal.SIGINT)  # Ctrl-C in the terminal of testbed up
    out, _ = u.proc.communicate(timeout=15)
    assert u.proc.returncode == 0 and "stopped" in out
    assert wait_gone(pids, 5) == []
    assert not (u.cwd / ".testbed-control.json").exists()


def test_refusals_are_one_line_with_exit_codes(up) -> None:
    u = up("--set", "cluster.audit_interval=0")  # settled: the failing check stops at once
    u.run("server", "create", "vm1", "--host", "host1")
    refused = u.run("evacuate", "vm1")
    assert refused.returncode == 1
    assert refused.stderr.strip() == (
        "testbed: cannot evacuate vm1: its host host1 is up (evacuation needs the source host down)"
    )
    failed = u.run("check", "--expect", "vm1:host1=2")
    assert failed.returncode == 1 and "expected 2 device(s) bound, found 1" in failed.stdout
    assert u.run("kill", "host7").returncode == 1
    assert u.run("kill", "host1", "--signal", "HUP").returncode == 2  # argparse: bad usage
    second = subprocess.run([*CLI, "up"], cwd=u.cwd, capture_output=True, text=True, timeout=30)
    assert second.returncode == 2 and "already up in this directory" in second.stderr


def test_no_cluster_here(tmp_path) -> None:
    out = subprocess.run([*CLI, "status"], cwd=tmp_path, capture_output=True, text=True, timeout=30)
    assert out.returncode == 2 and "no running cluster found here" in out.stderr


def test_hosts_exit_when_up_is_killed(up) -> None:
    u = up()
    pids = u.host_pids()
    os.kill(u.proc.pid, signal.SIGKILL)  # only the orchestrator
    u.proc.communicate(timeout=10)
    assert wait_gone(pids, 1 + 2) == [], [p for p in pids if alive(p)]


def test_stopped_host_is_seen_down_and_comes_back(up) -> None:
    u = up("--set", "timeouts.service_down_time=0.3")
    assert u.run("kill", "host2", "--signal", "STOP").returncode == 0
    deadline = time.monotonic() + 5
    while u.status()["hosts"]["host2"]["state"] != "down" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert u.status()["hosts"]["host2"]["state"] == "down"  # heartbeats stopped
    assert u.run("kill", "host2", "--signal", "CONT").returncode == 0
    deadline = time.monotonic() + 5
    while u.status()["hosts"]["host2"]["state"] != "up" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert u.status()["hosts"]["host2"]["state"] == "up"


def test_a_scenario_s_steps_are_commands_too(up) -> None:
    """The waits, the network's faults and the fields a step has (``until``, ``wait``) are
    commands with the step's names in kebab case."""
    u = up("--set", "cluster.audit_interval=0")
    made = u.run("create-server", "vm1", "--host", "host1", "--no-wait")
    assert made.returncode == 0, made.stderr
    assert u.run("wait-server", "vm1", "host1").stdout.strip() == "vm1 is active on host1"
    assert u.run("audit", "host2", "--no-wait").stdout.strip() == "audit on host2: started"
    assert u.run("wait-idle").returncode == 0
    assert u.run("partition", "host2", "--direction", "to_host").returncode == 0
    assert u.run("heal").stdout.strip() == "healed"
    assert u.run("kill", "host1").returncode == 0
    assert u.run("wait-down", "host1").stdout.strip() == "host1 is down"
    out = u.run("evacuate", "vm1", "--until", "claimed", "--json")
    assert out.returncode == 0 and json.loads(out.stdout)["dest"] == "host2", out.stderr
    assert u.run("wait-server", "vm1", "host2").returncode == 0
    leaked = u.run("no-leaks")  # the dead source still holds vm1's device
    assert leaked.returncode == 1 and "host1: vm1 expected 0" in leaked.stdout, leaked.stdout
    assert u.run("restart", "host1").returncode == 0
    assert u.run("wait-up", "host1").returncode == 0
    assert u.run("check", "--expect", "vm1:host1=0", "--expect", "vm1:host2=1").returncode == 0
    assert u.run("no-leaks").returncode == 0
    assert u.run("create-server", "vm2", "--pci", "-1").returncode == 1  # the step's check
