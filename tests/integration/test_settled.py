"""When a running cluster counts as settled."""

from __future__ import annotations

import signal


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
