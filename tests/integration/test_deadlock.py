"""A deadlock is a finding: holds that wait on each other (the audit holding the lock) end
the run at once with the cycle named, not after ``timeouts.hold``."""

from __future__ import annotations

import time

from helpers import run_json

CYCLE = """
name = "hold-cycle"
description = "the audit, under the lock, and the evacuation each wait for the other"

[config.cluster]
hosts = ["host1", "host2"]
audit_interval = 0.0

[config.devices]
per_host = 1

[config.timeouts]
heartbeat_interval = 0.02
service_down_time = 1.0
hold = 30.0

[config.holds]
"host2:audit.migration_list" = ["host2:evacuate.set_host"]
"host2:evacuate.claim" = ["host2:audit.save"]

[[steps]]
do = "create_server"
server = "vm1"
host = "host1"
pci = 1

[[steps]]
do = "kill"
host = "host1"

[[steps]]
do = "wait_down"
host = "host1"

[[steps]]
do = "audit"
host = "host2"
wait = false

[[steps]]
do = "evacuate"
server = "vm1"
to = "host2"

[[steps]]
do = "check"
expect = ["vm1:host2=1"]
"""


EVACUATE = "host2:evacuate"


def test_a_hold_cycle_is_a_deadlock_named_at_once(tmp_path) -> None:
    path = tmp_path / "cycle.toml"
    path.write_text(CYCLE)
    started = time.monotonic()
    rc, out = run_json("run", str(path), "--run-dir", str(tmp_path / "runs"))
    assert time.monotonic() - started < 15  # the hold timeout is 30 s
    assert rc == 3 and out["outcome"] == "inconclusive", out
    assert out["duration"] < 1.0, out["duration"]
    cycle = {(w["task"], w["at"], w["waits_for"], w["on"]) for w in out["deadlock"]}
    assert cycle == {
        (
            "host2:audit",
            "audit.migration_list",
            "host2:evacuate.set_host to pass",
            "host2:evacuate",
        ),
        ("host2:evacuate", "evacuate.claim", "host2:audit.save to pass", "host2:audit"),
    }
    assert out["inconclusive"][0].startswith("deadlock: ")
    history = (tmp_path / "runs").glob("*/history.jsonl")
    assert any('"deadlock"' in p.read_text() for p in history)
