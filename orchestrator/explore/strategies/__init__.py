"""How the explorer picks the next step among those that may go: one strategy per file.

A strategy is asked ``next_run()`` before each schedule (False: nothing left to run) and
``choose(options)`` at each decision, with the steps that may go now in a stable order; it
answers an index. A step (``Option``) names the process that takes it (a host task) and its
footprint: what of the shared state it reads and writes, and which host's lock it asks for.
Strategies must not act on the system: they only choose.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from orchestrator.cluster.footprint import Access, conflicts


@dataclass(frozen=True)
class Option:
    label: str  # stable across runs: "host2:evacuate:instance.save"
    process: str  # the task taking it: "host2:evacuate"
    accesses: tuple[Access, ...] = ()
    # offered only for a while, and may go away untaken (a timer's fire: not offered once the
    # scenario has no other step, nor once its host is gone)
    lapses: bool = False


def dependent(a: Option, b: Option) -> bool:
    """Steps of two processes that do not commute: their footprints meet."""
    return a.process != b.process and conflicts(a.accesses, b.accesses)


class Strategy(Protocol):
    def next_run(self) -> bool: ...

    def choose(self, options: list[Option]) -> int: ...


class Diverged(Exception):
    """A run did not offer what the strategy expected: the system is not deterministic under
    these holds, or a replay file does not fit this scenario."""
