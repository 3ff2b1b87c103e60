"""How the explorer picks the next step among those that may go: one strategy per file.

A strategy is asked ``next_run()`` before each schedule (False: nothing left to run) and
``choose(labels)`` at each decision, with the labels of the waiting steps in a stable order;
it answers an index. It sees only labels and must not look at the cluster, so that the same
choices replay the same schedule."""

from __future__ import annotations

from typing import Protocol


class Strategy(Protocol):
    def next_run(self) -> bool: ...

    def choose(self, labels: list[str]) -> int: ...


class Diverged(Exception):
    """A run did not offer what the strategy expected: the system is not deterministic under
    these holds, or a replay file does not fit this scenario."""
