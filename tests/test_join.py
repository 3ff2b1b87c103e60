"""Hosts that join a running cluster from another terminal, and the CURVE guard of tcp."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import time

import pytest
import zmq
from helpers import alive, start_cli, wait_for_file_text, wait_gone
from test_control import Up

from testbed import secure, wire

TCP3 = [
    "--set", "cluster.transport=tcp",
    "--set", "cluster.hosts=host1,host2,host3",
    "--set", "cluster.joined=host3",
    "--set", "timeouts.service_down_time=0.3",
]  # fmt: skip


@pytest.fixture
def procs():
    """CLI processes a test starts (testbed up, testbed host); killed by pid at the end."""
    made = []
    yield made
    for p in made:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
        p.communicate(timeout=10)


def _up(tmp_path, procs, *args: str) -> Up:
    u = Up(tmp_path, "--run-dir", str(tmp_path / "runs"), "--set", "timeouts.orphan_after=1", *args)
    procs.append(u.proc)
    return u


def _until(what, predicate, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _join_file(u: Up) -> str:
    return json.loads((u.cwd / ".testbed-control.json").read_text())["join_file"]


def test_joined_host_is_killed_by_the_user_and_its_server_evacuated(tmp_path, procs) -> None:
    u = _up(tmp_path, procs, *TCP3)
    join_file = _join_file(u)
    assert stat.S_IMODE(os.stat(join_file).st_mode) == 0o600
    assert u.status()["hosts"]["host3"]["state"] == "down"  # not there until it joins
    host3 = start_cli("host", "host3", "--join-file", join_file)  # "another terminal"
    procs.append(host3)
    _until("host3 up", lambda: u.status()["hosts"]["host3"]["state"] == "up")
    row = u.status()["hosts"]["host3"]
    assert row["joined"] and row["pid"] == host3.pid
    assert not u.status()["hosts"]["host1"]["joined"]
    assert "joined" in u.run("status").stdout
    made = u.run("server", "create", "vm1", "--host", "host3")
    assert made.returncode == 0, made.stderr
    refused = u.run("kill", "host3")  # the user's to kill, not the supervisor's
    assert refused.returncode == 1 and "joined the cluster" in refused.stderr
    os.kill(host3.pid, signal.SIGKILL)  # kill -9, as from the host's own terminal
    _until("host3 down", lambda: u.status()["hosts"]["host3"]["state"] == "down")
    out = u.run("evacuate", "vm1", "--to", "host2")
    assert out.returncode == 0, out.stderr
    checked = u.run("check", "--expect", "vm1:host2=1", "--expect", "vm1:host3=1")
    assert checked.returncode == 0, checked.stdout


def test_joined_host_exits_when_the_orchestrator_is_gone(tmp_path, procs) -> None:
    u = _up(tmp_path, procs, *TCP3)
    host3 = start_cli("host", "host3", "--join-file", _join_file(u))
    procs.append(host3)
    _until("host3 up", lambda: u.status()["hosts"]["host3"]["state"] == "up")
    os.kill(u.proc.pid, signal.SIGKILL)
    assert wait_gone([host3.pid], 1 + 3) == []  # orphan_after, plus slack for a loaded box
    _, err = host3.communicate(timeout=5)
    assert "orchestrator silent" in err


def test_join_by_control_endpoint_without_curve(tmp_path, procs) -> None:
    u = _up(tmp_path, procs, "--set", "cluster.hosts=host1,host3", "--set", "cluster.joined=host3")
    endpoint = json.loads((u.cwd / ".testbed-control.json").read_text())["endpoint"]
    host3 = start_cli("host", "host3", "--join", endpoint, cwd=tmp_path)
    procs.append(host3)
    _until("host3 up", lambda: u.status()["hosts"]["host3"]["state"] == "up")
    wrong = start_cli("host", "host1", "--join", endpoint, cwd=tmp_path)
    _, err = wrong.communicate(timeout=30)
    assert wrong.returncode == 2 and "may not join" in err and err.count("\n") == 1


def test_peer_without_the_clusters_keys_gets_no_answer_and_is_logged(tmp_path, procs) -> None:
    u = _up(tmp_path, procs, *TCP3)
    doc = json.loads((u.cwd / ".testbed-control.json").read_text())
    log = tmp_path / "runs" / os.path.basename(doc["run_dir"]) / "testbed.log"
    ctx = zmq.Context()
    try:
        socks = []
        for keys in (
            None,
            secure.Curve(
                *[json.load(open(doc["join_file"]))["curve"]["server"]]
                + [k.decode() for k in zmq.curve_keypair()]
            ),
        ):
            sock = ctx.socket(zmq.DEALER)
            sock.setsockopt(zmq.LINGER, 0)
            secure.client(sock, keys)
            sock.connect(doc["endpoint"])
            sock.send(wire.encode(wire.request("control", {"cmd": "status", "args": {}})))
            socks.append(sock)
        time.sleep(1)  # both asked at once: a second for an answer that must not come
        assert [s.poll(0) for s in socks] == [0, 0]
        for sock in socks:
            sock.close()
    finally:
        ctx.term()
    assert wait_for_file_text(log, "no CURVE handshake", 5)
    assert wait_for_file_text(log, "not issued by this cluster", 5)
    assert u.run("status").returncode == 0  # with the keys the join file holds
    assert alive(u.proc.pid)


def test_listen_and_curve_configuration_errors() -> None:
    from orchestrator.cli.options import load
    from testbed.errors import ConfigError

    with pytest.raises(ConfigError, match="'cluster.listen' must be tcp://ADDR:PORT"):
        load(sets=["cluster.transport=tcp", "cluster.listen=10.0.0.1"])
    with pytest.raises(ConfigError, match="needs cluster.transport"):
        load(sets=["cluster.listen=tcp://127.0.0.1:0"])
    with pytest.raises(ConfigError, match="loopback only"):
        load(
            sets=["cluster.transport=tcp", "cluster.curve=false", "cluster.listen=tcp://0.0.0.0:0"]
        )
    with pytest.raises(ConfigError, match="'cluster.joined': unknown host 'host9'"):
        load(sets=["cluster.joined=host9"])


def test_listen_port_is_the_control_sockets(tmp_path, procs) -> None:
    with socket.socket() as s:  # a free port now; bound again by testbed up just below
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    u = _up(tmp_path, procs, "--set", "cluster.transport=tcp",
            "--set", f"cluster.listen=tcp://127.0.0.1:{port}")  # fmt: skip
    doc = json.loads((u.cwd / ".testbed-control.json").read_text())
    assert doc["endpoint"] == f"tcp://127.0.0.1:{port}"
    assert u.run("status").returncode == 0


def test_rate_limited_lines_count_what_they_held_back(caplog) -> None:
    import logging

    from testbed.ratelimit import RateLimited, kind_of

    limited = RateLimited(logging.getLogger("testbed.test"), interval=0.2)
    with caplog.at_level(logging.WARNING, "testbed.test"):
        logged = [limited.warning(kind_of(f"unknown op '{i}'"), "bad %d", i) for i in range(100)]
        time.sleep(0.25)
        limited.warning(kind_of("unknown op 'x'"), "bad again")
    assert logged.count(True) == 1
    assert [r.getMessage() for r in caplog.records][-1].endswith(
        "(and 99 more like it in the last 0.2 s)"
    )
