"""The 64-host cell: the race happens on every destination, and only buggy loses devices.

The outcome alone could hide a race that never happened on some host (a buggy run fails as
soon as one server loses its devices), so each destination's own log is read as well.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from helpers import wait_gone

DESTINATIONS = [f"host{i:02d}" for i in range(1, 9)]
SERVERS = [f"host{h}-vm{k}" for h in range(61, 65) for k in (1, 2)]


def _uuids(run_dir: str) -> dict[str, str]:
    db = sqlite3.connect(Path(run_dir) / "state.sqlite")
    try:
        return dict(db.execute("SELECT name, uuid FROM instances"))
    finally:
        db.close()


@pytest.mark.long
@pytest.mark.parametrize("tracker", ["buggy", "fixed"])
def test_cell_evacuation_races_on_every_destination(run_scenario, tracker: str) -> None:
    # buggy's last check cannot come right by waiting: no need to retry it for 2 s
    checks = {"stop_after": 0.3} if tracker == "buggy" else {}
    result = run_scenario("cell-evacuation", tracker=tracker, checks=checks)
    log = (Path(result.run_dir) / "testbed.log").read_text()
    placed = dict(zip(SERVERS, DESTINATIONS, strict=True))
    if tracker == "fixed":
        assert result.ok, result.error or result.invariants.violations or result.last_check.diff()
        assert {
            s: h for h, servers in result.allocations.items() for s in servers if h in DESTINATIONS
        } == placed  # the scheduler's picks, one server each
        for dest in DESTINATIONS:  # the audit held the lock while the evacuation waited for it
            assert (
                f"{dest}:audit.migration_list cannot wait for {dest}:evacuate.migration_done" in log
            ), dest
    else:
        assert not result.ok and result.error is None
        failing = {(r.expect.server, r.expect.host) for r in result.last_check.rows if not r.ok}
        assert failing == set(placed.items())  # every server lost its devices, each one named
        diff = "\n".join(result.last_check.diff())
        for server, dest in placed.items():
            assert f"{dest}: {server} expected 4 device(s) bound, found 0" in diff
        uuids = _uuids(result.run_dir)
        for server, dest in placed.items():  # freed by its destination's own audit
            assert f"{dest}[" in log
            assert any(
                line.split(" ", 3)[2].startswith(f"{dest}[")
                and f"clean_usage freed the devices of {uuids[server]}" in line
                for line in log.splitlines()
            ), (server, dest)
    pids = [pid for history in result.pid_history.values() for pid in history]
    assert len(pids) == 64 and wait_gone(pids, 2) == []
