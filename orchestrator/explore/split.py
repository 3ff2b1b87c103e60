"""One exploration split by schedule prefix into parts that run apart (pytest-xdist workers,
other machines) and together cover what the whole exploration covers.

Every part runs dynamic partial-order reduction the same way, so the parts of a *team* (at
first, all of them) run the same schedules, run for run. Once the team has run ``WAIT``
schedules a member of the next teams it would form (the first branches found lead to subtrees
of unequal size) and at least two branches wait to be tried, it splits: into as many teams as
branches wait, at most one a part, their sizes as even as can be; the waiting branches (each a
prefix of choices: the decisions of the current schedule up to a node, then an untried choice
at it) are dealt out to them in a fixed order, one each in turn. A part never tries the
branches dealt to other teams, and goes on with its new team, which splits again the same way
while it has more than one part. Those branches do not sleep in its schedules as explored ones
would: a branch sleeps only in the subtrees explored after its own, and a part's subtrees must
hold every order they begin, as they would if they came first. (Asleep on both sides, two
independent branches dealt apart each left the order that starts with both of them to the
other, and nobody ran it.) A branch a part finds afterwards (a race its own schedules reveal) is its
team's to run, even if another team finds it too: the parts may repeat a schedule, never miss
one, so the union of their losing orders and final states is the whole exploration's.

No deal can know how much lies under a branch, so parts on one machine (pytest-xdist workers)
also hand branches over as they go (``orchestrator.explore.exchange``): a part alone in its
team gives a waiting branch to a part that ran out, and that part explores it whole
(``Dpor``'s ``Branch``: the path to it is followed, the giver's choices on the way left to the
giver).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from orchestrator.explore.strategies import Option
from orchestrator.explore.strategies.dpor import Dpor

if TYPE_CHECKING:
    from orchestrator.explore.exchange import Exchange

WAIT = 2  # shared schedules a part of the teams to be formed: an earlier deal is lopsided


class Split:
    """Part ``part`` (0-based) of ``parts`` of a DPOR exploration."""

    def __init__(self, part: int, parts: int, exchange: Exchange | None = None) -> None:
        if not 0 <= part < parts:
            raise ValueError(f"part {part} of {parts}")
        self.part, self.parts = part, parts
        self.dpor = Dpor()
        self.team = list(range(parts))  # the parts that run the same schedules as this one
        self.runs = 0  # schedules run since this part's team formed
        self.exchange = exchange  # parts on this machine: branches handed over as they go

    def next_run(self) -> bool:
        if len(self.team) > 1 and self.dpor.started:
            waiting = [
                (node, process)
                for node in self.dpor.open  # every decision with a branch waiting
                for process in sorted(node.todo())
            ]
            teams = min(len(self.team), len(waiting))
            if teams >= 2 and self.runs >= WAIT * teams:
                self._deal(waiting, teams)
        self.runs += 1
        if self.exchange is not None and len(self.team) == 1:
            self._feed(self.exchange)  # alone: what it gives away no teammate runs
        while not self.dpor.next_run():
            branch = self.exchange.take() if self.exchange is not None else None
            if branch is None:
                return False
            self.dpor, self.team = Dpor(given=branch), [self.part]
        return True

    def _feed(self, exchange: Exchange) -> None:
        """Give a waiting branch to each part that waits for one, keeping the one the next
        run takes; say how many are left to spare."""
        waiting = self.dpor.waiting()
        for part in exchange.hungry():
            if len(waiting) < 2 or not exchange.claim(part):
                continue
            # the deepest: least is under it, and a part that runs out comes back for more,
            # so that both end about together (the shallowest could hold most of the rest)
            node, process = waiting.pop()
            exchange.send(part, self.dpor.hand_over(node, process))
        exchange.spare(max(0, len(waiting) - 1))

    def _deal(self, waiting: list, teams: int) -> None:
        size = len(self.team)
        split = [self.team[size * t // teams : size * (t + 1) // teams] for t in range(teams)]
        mine = next(t for t, members in enumerate(split) if self.part in members)
        for n, (node, process) in enumerate(waiting):
            if n % teams != mine:
                node.skip.add(process)
        self.team, self.runs = split[mine], 0

    def choose(self, options: list[Option]) -> int:
        return self.dpor.choose(options)
