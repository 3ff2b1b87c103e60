"""The explorer's policy, and the explorer's handle on the hold board.

On the hosts it is installed for, every conductor request a task is about to send (a read or
write of the shared state) and every request for the host's lock is held, and nothing goes on
by itself: the explorer looks at the held tasks, picks one, and releases it (which wakes the
conductor to send the reply). Injection points are not held: they stay for delays, holds
and faults. Nobody lists the steps that matter: every access to shared state is a scheduling
point, and the footprints say which ones commute.

It must not decide *which* task goes (that is the strategy's choice, made in
``orchestrator.explore.explorer``), and it must not change the board's facts except by releasing a
held task.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar

from orchestrator.holds.board import Board, Trace
from testbed.vocabulary import Event

T = TypeVar("T")


class ExplorerPolicy:
    def __init__(self, board: Board, wake: Callable[[], None], hosts: Iterable[str]) -> None:
        self.board = board
        self.wake = wake  # tells the conductor a reply waits in the board's outbox
        self.hosts = list(hosts)

    # -- as a policy (the board asks, under its lock) --------------------------------------
    def holds(self, board: Board, task: Trace, event: str, point: str) -> bool:
        return event in (Event.LOCK_REQUEST, Event.REQUEST, Event.TIMER)

    def may_go(self, board: Board, task: Trace) -> bool:
        return False  # only the explorer lets a task go, by release()

    def reached(self, board: Board, task: Trace, point: str) -> None:
        pass  # points are not scheduling points here

    def gave_up(self, board: Board, task: Trace) -> None:
        pass  # the host's task fails with the hold's timeout: the run's verdict sees that

    def waits_for(self, board: Board, task: Trace) -> list[tuple[str, list[str]]]:
        # a held request or timer goes when the explorer says; a lock request, once its
        # lock's holder lets go
        holder = board.lock_holder(task.host)
        if task.event == Event.LOCK_REQUEST and holder not in (None, task.task):
            return [(f"{task.host}'s lock", [holder])]
        return []

    # -- for the explorer (its own thread) ------------------------------------------------
    def options(self) -> list[Trace]:
        """Held tasks that may go on now (a lock request only when its lock is free). Call it
        inside ``at_once`` for one consistent view of the board."""
        return [
            t
            for host in self.hosts
            for t in self.board.held(host)
            if t.event == Event.REQUEST or self.board.lock_holder(host) is None
        ]

    def holds_lock(self, task: Trace) -> bool:
        return self.board.lock_holder(task.host) == task.task

    def live(self, host: str) -> list[Trace]:
        """Tasks of ``host`` the board has heard of and that have not finished."""
        return self.board.live_tasks(host)

    def at_rest(self, running: set[str]) -> bool:
        return self.board.at_rest(running)

    def at_once(self, predicate: Callable[[], T]) -> T:
        """``predicate()`` under the board's lock: the driver's decisions are made one at a
        time, whichever thread makes them."""
        return self.board.at_once(predicate)

    def release(self, task: str) -> None:
        self.board.release(task)
        self.wake()
