"""N schedules, each choice drawn from a generator seeded with (seed, run number): the same
seed gives the same schedules."""

from __future__ import annotations

import random

from orchestrator.explore.strategies import Option


class Randomized:
    def __init__(self, runs: int, seed: int) -> None:
        self.runs, self.seed = runs, seed
        self.run = 0
        self.rng = random.Random()

    def next_run(self) -> bool:
        if self.run >= self.runs:
            return False
        self.rng = random.Random(f"{self.seed}:{self.run}")
        self.run += 1
        return True

    def choose(self, options: list[Option]) -> int:
        return self.rng.randrange(len(options))
