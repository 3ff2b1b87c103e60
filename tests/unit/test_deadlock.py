"""The wait-for graph's stuck cycles (no process: the board's facts are made up)."""

from __future__ import annotations

from orchestrator.holds.deadlock import ring


def test_a_lock_and_a_hold_close_a_cycle() -> None:
    graph = {
        "audit": [("host2:evacuate.set_host to pass", ["evacuate"])],
        "evacuate": [("host2's lock", ["audit"])],
    }
    assert ring(graph) == [
        ("audit", "host2:evacuate.set_host to pass", "evacuate"),
        ("evacuate", "host2's lock", "audit"),
    ]


def test_a_wait_another_task_can_still_meet_is_no_deadlock() -> None:
    # the audit waits for a point either stuck task or a running one may reach
    graph = {
        "audit": [("host2:evacuate.claim to pass", ["evacuate", "build"])],
        "evacuate": [("host2's lock", ["audit"])],
    }
    assert ring(graph) == []


def test_a_wait_nobody_can_meet_yet_sticks_nobody() -> None:
    # no task stands at the point nor could reach it yet: a task to come may
    assert ring({"audit": [("host2:evacuate.claim to pass", [])]}) == []


def test_a_chain_into_a_cycle_names_the_cycle_only() -> None:
    graph = {
        "a": [("x", ["b"])],
        "b": [("y", ["c"])],
        "c": [("z", ["b"])],
    }
    assert ring(graph) in ([("b", "y", "c"), ("c", "z", "b")], [("c", "z", "b"), ("b", "y", "c")])
