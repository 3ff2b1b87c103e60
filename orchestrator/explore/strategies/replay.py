"""One schedule, exactly as recorded: at each decision, the option the replay file names."""

from __future__ import annotations

from orchestrator.explore.strategies import Diverged, Option


class Replay:
    def __init__(self, order: list[str]) -> None:
        self.order = order
        self.done = False
        self.depth = 0

    def next_run(self) -> bool:
        if self.done:
            return False
        self.done, self.depth = True, 0
        return True

    def choose(self, options: list[Option]) -> int:
        labels = [o.label for o in options]
        d, self.depth = self.depth, self.depth + 1
        if d >= len(self.order):
            raise Diverged(
                f"the replay ends after {len(self.order)} steps; the run offers more: "
                f"{', '.join(labels)}"
            )
        if self.order[d] not in labels:
            raise Diverged(
                f"step {d + 1} of the replay is {self.order[d]}; the run offers {', '.join(labels)}"
            )
        return labels.index(self.order[d])
