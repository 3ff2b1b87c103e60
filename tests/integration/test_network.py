"""Network faults on real processes: partitions leave processes alive, heal restores the link,
lost requests stay failed, slow links delay every message, and the partitioned-source
scenario."""

from __future__ import annotations

import os
import time

import pytest
from helpers import wait_for_file_text

from testbed.errors import ApiError


def test_partition_leaves_the_host_alive_and_heal_brings_it_back(make_cluster) -> None:
    c = make_cluster("timeouts.orphan_after=30")
    pid = c.supervisor.pid("host1")
    c.network.partition("host1")
    c.api.wait_host("host1", "down")
    time.sleep(0.3)  # well past service_down_time: still alive, still down
    os.kill(pid, 0)
    assert c.supervisor.alive("host1") and c.api.host_states()["host1"] == "down"
    assert c.api.host_states()["host2"] == "up"  # the other link is untouched
    c.network.heal("host1")
    c.api.wait_host("host1", "up")
    assert c.supervisor.pid("host1") == pid and c.supervisor.history["host1"] == [pid]


def test_a_request_lost_to_a_partition_stays_failed(make_cluster) -> None:
    c = make_cluster("timeouts.orphan_after=30", "timeouts.rpc=0.3")
    c.network.partition("host2", "to_host")  # commands lost; heartbeats still arrive
    with pytest.raises(ApiError, match="no reply from host 'host2'"):
        c.api.audit("host2")
    assert c.api.host_states()["host2"] == "up"
    assert [t["state"] for t in c.state.tasks_running("host2")] == []  # failed, not running
    c.network.heal()
    c.api.audit("host2")  # a new request goes through


def test_from_host_partition_delivers_commands_but_loses_what_the_host_sends(make_cluster):
    c = make_cluster("timeouts.orphan_after=30", "timeouts.rpc=0.3")
    c.network.partition("host1", "from_host")
    with pytest.raises(ApiError, match="no reply"):  # the reply to the command is lost
        c.api.create_server("vm1", "host1")
    # the build reached host1, whose own requests to the conductor are lost in turn
    assert wait_for_file_text(c.runlog.path, "build failed: no reply from orchestrator", 5)
    c.network.heal()
    c.api.wait_host("host1", "up")
    assert c.api.allocations()["host1"] == {}


def test_slow_link_delays_every_message(make_cluster) -> None:
    c = make_cluster("timeouts.orphan_after=30")
    started = time.monotonic()
    c.api.host_view("host2")
    quick = time.monotonic() - started
    c.network.slow("host2", delay=0.2)
    started = time.monotonic()
    c.api.host_view("host2")  # there and back: two delayed messages
    assert time.monotonic() - started >= 0.4 > quick


def test_a_jittery_link_keeps_the_order_of_each_socket(make_cluster) -> None:
    """A traced host tells its lock events without waiting for an answer; on a link that
    delays each message by a different time they still reach the board in the order each
    socket sent them (as on one connection): after every audit its lock is free again. Had
    a ``lock.released`` overtaken its ``lock.acquired``, the board would keep the ended audit
    as the lock's holder."""
    c = make_cluster("cluster.trace=host2", "network.jitter.host2=0.03", "network.seed=5")
    for _ in range(6):
        c.api.audit("host2")
        assert c.board.lock_holder("host2") is None
    tasks = c.state.tasks("host2")
    assert [t["state"] for t in tasks] == ["done"] * 6


def test_partitioned_source_scenario(run_scenario) -> None:
    result = run_scenario("evacuate-partitioned-source")
    assert result.ok, result.error or result.last_check.diff()
    assert result.allocations == {"host1": {}, "host2": {"vm1": 1}}
    assert len(result.pid_history["host1"]) == 1  # never restarted: the partition healed
