"""A forked host lets go of what it inherited from the orchestrator: the state's SQLite files
and their shared memory, the run log, the orchestrator's ZeroMQ sockets. Read from
``/proc/PID/fd`` and ``/proc/PID/maps`` of real host processes."""

from __future__ import annotations

import os

import pytest

STATE = ("state.sqlite", "state.sqlite-wal", "state.sqlite-shm", "testbed.log")


def open_files(pid: int) -> list[str]:
    out = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            out.append(os.readlink(f"/proc/{pid}/fd/{fd}"))
        except OSError:  # closed while listing
            pass
    return out


def sockets(pid: int) -> set[str]:
    return {f for f in open_files(pid) if f.startswith("socket:")}


@pytest.mark.parametrize("transport", ["ipc", "tcp"])
def test_a_host_holds_none_of_the_orchestrators_files_or_sockets(make_cluster, transport) -> None:
    c = make_cluster(f"cluster.transport={transport}")
    c.api.create_server("vm1", "host1", 1)  # the host works on its own sockets
    c.restart("host2")  # a second incarnation is forked from a busier orchestrator
    me = os.getpid()
    mine = open_files(me)
    assert any(f.endswith("/state.sqlite") for f in mine)  # the test can see it: it is there
    for host in ("host1", "host2"):
        pid = c.supervisor.pid(host)
        files = open_files(pid)
        assert not [f for f in files if os.path.basename(f) in STATE], (host, files)
        assert not sockets(pid) & sockets(me), (host, "shares the orchestrator's sockets")
        assert sockets(pid), (host, "has no socket of its own")
        with open(f"/proc/{pid}/maps") as fh:
            assert "state.sqlite" not in fh.read(), (host, "maps the state's shared memory")
    assert c.api.allocations()["host1"] == {"vm1": 1}
    assert c.api.host_view("host2") is not None  # the restarted host answers
