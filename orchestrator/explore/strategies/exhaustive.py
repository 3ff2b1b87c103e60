"""Every interleaving, depth first, with no reduction: replay a prefix of choices, then take the
first option at each new decision; afterwards move to the next untried sibling of the deepest
decision. Only for small scenarios and for checking the reduction against."""

from __future__ import annotations

from orchestrator.explore.strategies import Diverged, Option


class Exhaustive:
    def __init__(self) -> None:
        self.prefix: list[int] = []  # the choice made at each decision of the current run
        self.widths: list[int] = []  # how many options each decision had
        self.depth = 0
        self.started = False

    def next_run(self) -> bool:
        self.depth = 0
        if not self.started:
            self.started = True
            return True
        while self.prefix and self.prefix[-1] + 1 >= self.widths[-1]:
            self.prefix.pop()
            self.widths.pop()
        if not self.prefix:
            return False
        self.prefix[-1] += 1
        return True

    def choose(self, options: list[Option]) -> int:
        labels = [o.label for o in options]
        d, self.depth = self.depth, self.depth + 1
        if d < len(self.prefix):
            if self.widths[d] != len(labels):
                raise Diverged(
                    f"decision {d + 1} offered {len(labels)} options, "
                    f"{self.widths[d]} before: {', '.join(labels)}"
                )
            return self.prefix[d]
        self.prefix.append(0)
        self.widths.append(len(labels))
        return 0
