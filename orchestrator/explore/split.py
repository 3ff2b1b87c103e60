"""One exploration split by schedule prefix into parts that run apart (pytest-xdist workers,
other machines) and together cover what the whole exploration covers.

Every part runs dynamic partial-order reduction the same way, so their first schedules are the
same run for run, until at least as many branches wait to be tried as there are parts (after
``WAIT`` shared schedules a part: the first branches found lead to subtrees of unequal size).
There the waiting branches (each a prefix of choices: the decisions of the current schedule
up to a node, then an untried choice at it) are dealt out in a fixed order, one each in turn;
a part marks the others' as done, so they sleep in its later schedules exactly as they would
after being explored. A branch a part finds afterwards (a race its own schedules reveal) is
its own to run, even if another part finds it too: the parts may repeat a schedule, never miss
one, so the union of their losing orders and final states is the whole exploration's.
"""

from __future__ import annotations

from orchestrator.explore.strategies import Option
from orchestrator.explore.strategies.dpor import Dpor

WAIT = 2  # shared schedules per part before dealing: an earlier deal is lopsided


class Split:
    """Part ``part`` (0-based) of ``parts`` of a DPOR exploration."""

    def __init__(self, part: int, parts: int) -> None:
        if not 0 <= part < parts:
            raise ValueError(f"part {part} of {parts}")
        self.part, self.parts = part, parts
        self.dpor = Dpor()
        self.dealt = False
        self.runs = 0  # schedules run so far

    def next_run(self) -> bool:
        if not self.dealt and self.dpor.started:
            waiting = [
                (node, process)
                for node in self.dpor.open  # every decision with a branch waiting
                for process in sorted(node.backtrack - node.done - set(node.sleep))
            ]
            if len(waiting) >= self.parts and self.runs >= WAIT * self.parts:
                for n, (node, process) in enumerate(waiting):
                    if n % self.parts != self.part:
                        node.done.add(process)
                self.dealt = True
        self.runs += 1
        return self.dpor.next_run()

    def choose(self, options: list[Option]) -> int:
        return self.dpor.choose(options)
