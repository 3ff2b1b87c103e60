"""A check stops retrying as soon as the cluster is settled, and only then."""

from __future__ import annotations

import signal

from orchestrator.cli.options import load
from orchestrator.run.checks import Expect, check_allocations, check_invariants
from testbed.config import Checks

LONG = Checks(stop_after=60.0, wait_min=0.01)  # a policy that would retry for a minute


def _counting(observe):
    calls = []

    def counted():
        calls.append(1)
        return observe()

    return counted, calls


def test_a_failing_check_on_a_settled_cluster_reads_once() -> None:
    observe, calls = _counting(lambda: {"host2": {}})
    result = check_allocations(observe, [Expect("vm1", "host2", 1)], LONG, lambda: True)
    assert not result.ok and len(calls) == 1


def test_a_check_retries_while_the_cluster_can_change() -> None:
    """Settled is sampled before each read: a change that lands between two reads counts."""
    states = iter([False, False, True])
    seen = iter([{"host2": {}}, {"host2": {}}, {"host2": {"vm1": 1}}, {"host2": {}}])
    observe, calls = _counting(lambda: next(seen))
    result = check_allocations(observe, [Expect("vm1", "host2", 1)], LONG, lambda: next(states))
    assert result.ok and len(calls) == 3


def test_settled_after_the_read_does_not_stop_the_retries() -> None:
    """Unsettled when read, settled just after: the read may predate the last change."""
    flags = iter([False, True])
    seen = iter([{"host2": {}}, {"host2": {"vm1": 1}}])
    observe, calls = _counting(lambda: next(seen))
    result = check_allocations(observe, [Expect("vm1", "host2", 1)], LONG, lambda: next(flags))
    assert result.ok and len(calls) == 2


def test_invariants_stop_on_a_settled_cluster_too() -> None:
    config = load(sets=["checks.stop_after=60", "checks.wait_min=0.01"])
    observe, calls = _counting(lambda: ["a violation"])
    assert not check_invariants(observe, config, lambda: True).ok
    assert len(calls) == 1


def test_settled_cluster_states(make_cluster) -> None:
    c = make_cluster()
    assert c.settled()  # hosts up, no task, no periodic audit, nothing held
    c.api.create_server("vm1", "host1", 1)
    assert c.settled()
    c.kill("host2", signal.SIGSTOP)  # stopped: it may come back, or be seen down later
    assert not c.settled()
    c.kill("host2", signal.SIGCONT)
    c.api.wait_host("host2", "up")
    assert c.settled()
    c.kill("host1")  # SIGKILL: reaped, down at once, nothing of it can change
    assert c.settled()


def test_a_running_task_or_a_held_point_unsettles(make_cluster) -> None:
    c = make_cluster("holds.host2:audit.start=host2:evacuate.claim", "timeouts.hold=20")
    task = c.api.audit("host2", wait=False)  # held at audit.start until a claim that never comes
    c.api.wait_for("the audit to be held", c.board.holding)
    assert c.state.task_get(task)["state"] == "running"
    assert not c.settled()
    c.kill("host2")  # the held task dies with its host: nothing of it can change any more
    assert c.state.task_get(task)["state"] == "running"  # lost, not finished
    assert c.settled()


def test_a_periodic_audit_keeps_the_cluster_unsettled(make_cluster) -> None:
    c = make_cluster("cluster.audit_interval=30")
    assert not c.settled()
