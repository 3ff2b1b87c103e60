"""The hold board with each policy, fed reports directly (no processes): the board records,
the policy decides. The same behaviour on real hosts is in test_hold_policy and test_explorer."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from orchestrator.cli.options import load
from orchestrator.holds.board import Board
from orchestrator.holds.explorer_policy import ExplorerPolicy
from orchestrator.holds.policy import HoldPolicy


@contextmanager
def logged(name: str) -> Iterator[list[logging.LogRecord]]:
    """The records of one logger (the project's loggers may not propagate to the root)."""
    logger, records = logging.getLogger(name), []
    handler, level = logging.Handler(logging.INFO), logger.level
    handler.emit = records.append
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield records
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def report(board: Board, task: str, event: str, point: str = "", host: str = "host2") -> bool:
    return board.on_trace({"task": task, "host": host, "event": event, "point": point}, task)


def test_a_hold_waits_until_the_point_has_passed() -> None:
    board = Board(HoldPolicy(load(sets=["holds.host2:audit.start=host2:evacuate.claim"])))
    assert report(board, "audit", "point", "audit.start")  # held: no claim yet
    assert not report(board, "evac", "point", "evacuate.claim")
    assert board.take_replies() == []  # reached, not passed
    assert not report(board, "evac", "point", "evacuate.spawn")  # now the claim has passed
    assert board.take_replies() == ["audit"]
    assert not report(board, "x", "lock.request")  # lock requests are never held by [holds]


def test_a_hold_released_after_its_host_gave_up_is_a_timeout_not_a_hold_met() -> None:
    policy = HoldPolicy(load(sets=["holds.host2:audit.start=host2:evacuate.claim"]))
    board = Board(policy)
    assert report(board, "audit", "point", "audit.start")
    report(board, "evac", "point", "evacuate.claim")
    report(board, "evac", "point", "evacuate.spawn")  # the claim has passed: released...
    assert board.take_replies() == ["audit"]
    report(board, "audit", "gave_up", "audit.start")  # ...after the host had stopped waiting
    [hold] = policy.record.snapshot()
    assert [h["status"] for h in hold["hits"]] == ["timed out"]
    assert [t["task"] for t in policy.record.timeouts] == ["audit"]
    # still held when it gives up: one timeout, counted once
    policy = HoldPolicy(load(sets=["holds.host2:audit.start=host2:evacuate.claim"]))
    board = Board(policy)
    assert report(board, "audit", "point", "audit.start")
    report(board, "audit", "gave_up", "audit.start")
    assert len(policy.record.timeouts) == 1


def test_a_hold_releases_a_holder_everyone_else_waits_for() -> None:
    rule = "holds.host2:audit.migration_list=host2:evacuate.migration_done"
    board = Board(HoldPolicy(load(sets=[rule])))
    report(board, "audit", "lock.acquired")
    assert report(board, "audit", "point", "audit.migration_list")
    assert board.take_replies() == []
    with logged("testbed.holds") as records:
        report(board, "evac", "lock.wait")  # the only other task waits for the audit's lock
    assert board.take_replies() == ["audit"]
    assert "cannot wait for host2:evacuate.migration_done" in records[0].getMessage()


def test_explorer_policy_holds_conductor_and_lock_requests_until_released() -> None:
    board = Board(HoldPolicy(load()))
    woken = []
    gate = ExplorerPolicy(board, lambda: woken.append(1), ["host2"])
    board.install(["host2"], gate)

    def request(task: str, op: str, host: str = "host2") -> bool:
        body = {
            "task": task,
            "host": host,
            "event": "request",
            "point": "p",
            "op": op,
            "body": {"uuid": "u"},
        }
        return board.on_trace(body, task)

    assert report(board, "audit", "lock.request")
    assert request("evac", "instance.save")
    assert not report(board, "evac2", "point", "evacuate.set_host")  # points run on
    assert not report(board, "other", "lock.request", host="host1")  # not explored
    assert not request("other", "instance.get", host="host1")
    assert board.at_rest({"audit", "evac"}) and not board.at_rest({"audit", "evac2"})
    report(board, "holder", "lock.acquired")
    assert [(t.task, t.op) for t in gate.options()] == [("evac", "instance.save")]  # lock taken
    request("evac2", "migration.save")  # nothing goes by itself
    assert board.take_replies() == []
    gate.release("evac")
    assert board.take_replies() == ["evac"] and woken == [1]
