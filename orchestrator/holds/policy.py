"""The hold policy: the ``[holds]`` table of the configuration, applied on the board.

``P = [Q, ...]`` holds P until every Q has *passed* (the task that reached Q has reached its
next point or finished). When the holder of P owns the resource lock and every other live task
of that host waits for the lock, the hold cannot happen under the lock: P is released and
the log says so. Lock requests are never held here.

It reads the board's facts (see ``orchestrator.holds.board``) and writes down what happened to each
hold (``orchestrator.holds.record``: met, released by the lock, timed out, never reached);
it must not release or wait itself — the board does that with what this policy answers.
"""

from __future__ import annotations

import logging

from orchestrator.holds.board import Board, Trace
from orchestrator.holds.record import HoldRecord
from testbed.config import Config
from testbed.points import ANY_HOST, Address, parse_address
from testbed.vocabulary import Event

log = logging.getLogger("testbed.holds")


class HoldPolicy:
    def __init__(self, config: Config) -> None:
        hosts = self.hosts = config.cluster.hosts
        self.rules: dict[Address, list[Address]] = {
            a: [parse_address(q, hosts) for q in after]
            for a, after in config.addresses(config.holds).items()
        }
        self.record = HoldRecord(self.rules)  # what happened to each hold

    def holds(self, board: Board, task: Trace, event: str, point: str) -> bool:
        # an idle timer (a host whose periodic audit the explorer fires) is the explorer's to
        # fire: it waits here until the explorer's policy takes its host over
        if event == Event.TIMER:
            return True
        return event == Event.POINT and bool(self._unmet(board, task.host, point))

    def may_go(self, board: Board, task: Trace) -> bool:
        if task.event == Event.TIMER:
            return False
        unmet = self._unmet(board, task.host, task.point)
        by_lock = bool(unmet) and self._blocks_everyone(board, task)
        if by_lock:
            log.info(
                "%s:%s cannot wait for %s: it holds the lock the others wait for; released",
                task.host,
                task.point,
                ", ".join(map(str, unmet)),
            )
        if by_lock or not unmet:
            self.record.released(task.task, by_lock)
            return True
        return False

    def reached(self, board: Board, task: Trace, point: str) -> None:
        self.record.reached(task.host, task.task, point, board.has_passed)

    def gave_up(self, board: Board, task: Trace) -> None:
        self.record.gave_up(task.host, task.task, f"{task.host}:{task.label}")

    def waits_for(self, board: Board, task: Trace) -> list[tuple[str, list[str]]]:
        # a point that has not passed: the task standing at it must go on (a task passes a
        # point when it reaches its next one); while none stands there, any other task of
        # that host might reach it
        out = []
        for q in self._unmet(board, task.host, task.point):
            others = [
                o
                for host in (self.hosts if q.host == ANY_HOST else [q.host])
                for o in board.live_tasks(host)
                if o is not task
            ]
            at = [o.task for o in others if q.matches(o.host, o.last_point)]
            out.append((f"{q} to pass", at or [o.task for o in others]))
        return out

    def _unmet(self, board: Board, host: str, point: str) -> list[Address]:
        after = [q for a, qs in self.rules.items() if a.matches(host, point) for q in qs]
        return [q for q in after if not board.has_passed(q)]

    def _blocks_everyone(self, board: Board, task: Trace) -> bool:
        if board.lock_holder(task.host) != task.task:
            return False
        others = [o for o in board.live_tasks(task.host) if o is not task]
        return bool(others) and all(o.state == "waiting" for o in others)
