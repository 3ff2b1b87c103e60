"""Nothing outlives its run; a dead host silences nobody; bad input takes nothing down."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time

import zmq
from helpers import alive, start_cli, wait_for_file_text, wait_gone

from orchestrator.run.checks import Expect, check_allocations


def _start_slow_run(tmp_path, *extra: str) -> tuple[subprocess.Popen, object]:
    proc = start_cli(
        "run", "--run-dir", str(tmp_path), "--delay", "host2:evacuate.spawn=30", *extra
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not any(tmp_path.iterdir()):
        time.sleep(0.02)
    log = next(tmp_path.iterdir()) / "testbed.log"
    assert wait_for_file_text(log, "evacuate.spawn: delay", 20), "evacuation never started"
    return proc, log


def _host_pids(log) -> list[int]:
    return [int(p) for p in re.findall(r"started host\d as pid (\d+)", log.read_text())]


def test_ctrl_c_during_evacuation_leaves_nothing(tmp_path) -> None:
    proc, log = _start_slow_run(tmp_path)
    pids = _host_pids(log)
    assert len(pids) == 2
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does: the whole group
    _, err = proc.communicate(timeout=15)
    assert proc.returncode == 130
    assert "interrupted" in err and "Traceback" not in err
    assert wait_gone(pids, 5) == []


def test_hosts_exit_when_orchestrator_is_killed(tmp_path) -> None:
    proc, log = _start_slow_run(tmp_path, "--set", "timeouts.orphan_after=1")
    pids = _host_pids(log)
    sockets = re.search(r"conductor at ipc://(\S+)/conductor", log.read_text()).group(1)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=10)
    assert wait_gone(pids, 1 + 2) == [], "hosts outlived their orchestrator"
    assert not os.path.exists(sockets), "the orphaned hosts left the socket directory behind"


def test_killed_host_does_not_silence_the_others(make_cluster) -> None:
    cluster = make_cluster(delays=("host2:audit.instance_list=0.01",))
    cluster.kill("host1")
    cluster.api.audit("host2")
    cluster.runlog.handlers[0].flush()
    text = cluster.runlog.path.read_text()
    kill_at = text.index("sent SIGKILL to host1")
    assert re.search(r"host2\[\d+\] INFO testbed.injection: audit.instance_list", text[kill_at:])


def test_malformed_messages_do_not_take_the_conductor_down(make_cluster) -> None:
    # runs after test_wire's malformed frames in the same process, its line still logged: each
    # cluster's conductor has a rate limiter of its own
    cluster = make_cluster()
    ctx = zmq.Context()
    try:
        raw = ctx.socket(zmq.DEALER)
        raw.setsockopt(zmq.LINGER, 0)
        raw.connect(cluster.conductor.endpoint)
        for frame in (
            b"\x80garbage",
            b"[]",
            b'{"v": 1}',
            b'{"v": 9, "id": "x", "op": "ping"}',
            b'{"v": 1, "id": "y", "op": "instance.get", "body": {"uuid": 5}}',
        ):
            raw.send(frame)
        replies = []
        while raw.poll(500):
            replies.append(raw.recv())
        assert any(b'"id":"x"' in r and b'"ok":false' in r for r in replies)
        assert any(b'"id":"y"' in r and b"wrong type" in r for r in replies)
        raw.close()
    finally:
        ctx.term()
    cluster.api.create_server("vm1", "host1", 1)  # still serving
    assert cluster.api.allocations()["host1"] == {"vm1": 1}
    assert "malformed message" in cluster.runlog.path.read_text()


def test_stop_all_reaps_every_host(make_cluster) -> None:
    cluster = make_cluster()
    pids = [p for h, p in cluster.pids().items() if h != "orchestrator"]
    cluster.kill("host2", signal.SIGSTOP)  # a stopped host still ends
    cluster.close()
    assert not any(alive(p) for p in pids)


def test_tcp_transport(make_cluster) -> None:
    cluster = make_cluster("cluster.transport=tcp")
    assert cluster.conductor.endpoint.startswith("tcp://127.0.0.1:")
    cluster.api.create_server("vm1", None, 2)
    result = check_allocations(
        cluster.api.allocations, [Expect("vm1", "host1", 2)], cluster.config.checks
    )
    assert result.ok, result.diff()


def test_a_cluster_never_started_closes_quietly(tmp_path) -> None:
    """A cluster made and closed without being started (an exploration stopped while the
    next schedule's was being made) closes its sockets and state, and raises nothing."""
    from orchestrator.cli.options import option_layers
    from orchestrator.cluster.cluster import Cluster
    from orchestrator.run import scenario as sc

    _, config = sc.load_with_config("evacuate-race", *option_layers(tracker="buggy"))
    cluster = Cluster(config, tmp_path / "run")
    cluster.close()
    cluster.close()  # twice: the second does nothing
    assert cluster.conductor.sock.closed and not cluster.conductor.thread.is_alive()
    assert not os.path.exists(cluster.ipc_dir)
