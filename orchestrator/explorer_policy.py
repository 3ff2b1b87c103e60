"""The explorer's policy, and the explorer's handle on the hold board.

On the hosts it is installed for, every lock request and every step of ``VISIBLE`` is held
and nothing goes on by itself: the explorer looks at the held tasks, picks one, and releases
it (which wakes the conductor to send the reply). Every other point commutes and runs on.

It must not decide *which* task goes (that is the strategy's choice, made in
``orchestrator.explorer``), and it must not change the board's facts except by releasing a
held task.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from orchestrator.holds import Board, Trace
from testbed.vocabulary import Event

T = TypeVar("T")

# Steps whose order matters to the race: they read or write what the other path touches.
# The explorer branches here and at lock requests; every other point commutes and runs on.
VISIBLE = {
    "audit.instance_list",  # reads the instances of the host
    "audit.migration_list",  # reads the in-progress migrations
    "evacuate.set_host",  # writes instance.host
    "instance.drop_migration_context",  # writes the instance's migration context
    "evacuate.migration_done",  # writes the migration's status
}


class ExplorerPolicy:
    def __init__(self, board: Board, wake: Callable[[], None]) -> None:
        self.board = board
        self.wake = wake  # tells the conductor a reply waits in the board's outbox

    # -- as a policy (the board asks, under its lock) --------------------------------------
    def holds(self, board: Board, task: Trace, event: str, point: str) -> bool:
        return event == Event.LOCK_REQUEST or point in VISIBLE

    def may_go(self, board: Board, task: Trace) -> bool:
        return False  # only the explorer lets a task go, by release()

    # -- for the explorer (its own thread) ------------------------------------------------
    def options(self, host: str) -> list[Trace]:
        """Held tasks of ``host`` that may go on now (a lock request only when it is free).
        Call it inside ``watch`` for one consistent view of the board."""
        free = self.board.lock_holder(host) is None
        return [t for t in self.board.held(host) if t.event == Event.POINT or free]

    def at_rest(self, running: set[str]) -> bool:
        return self.board.at_rest(running)

    def watch(self, predicate: Callable[[], T], timeout: float) -> T:
        return self.board.watch(predicate, timeout)

    def release(self, task: str) -> None:
        self.board.release(task)
        self.wake()
