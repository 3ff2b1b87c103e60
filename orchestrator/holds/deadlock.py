"""Deadlocks: a cycle of tasks each waiting for the next, found on the hold board at once.

A blocked task waits for another task: one waiting for its host's lock for the lock's holder,
one held by a policy for what that policy names (``Policy.waits_for``: the hold policy, the
tasks standing at a point it waits to see passed; the explorer's, the holder of a lock it
asks for). When those waits close a cycle, none of its tasks can ever go on: the run is
stuck, and saying so now, with the cycle, beats waiting out ``timeouts.hold``.

The board looks for a cycle after every report (``Board.cycle``); this module only finds it
and names it, and must not release anything.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Wait:
    """One edge of a cycle: ``who`` (at ``at``) waits for ``what``, held by ``by``."""

    task: str
    who: str
    at: str
    what: str
    on: str
    by: str

    def __str__(self) -> str:
        return f"{self.who} at {self.at} waits for {self.what}, held by {self.by}"

    def to_dict(self) -> dict[str, str]:
        return {"task": self.who, "at": self.at, "waits_for": self.what, "held_by": self.by}


def ring(graph: dict[str, list[tuple[str, str]]]) -> list[tuple[str, str, str]]:
    """The first cycle of the wait-for ``graph`` (blocked task -> [(task, what)]), as
    (task, what, task it waits on) edges, or []. Only blocked tasks (the graph's keys) can be
    in one: a task that can move ends every wait on it."""
    state: dict[str, int] = {}  # 1: on the current path, 2: no cycle through it

    def visit(task: str, path: list[tuple[str, str]]) -> list[tuple[str, str, str]]:
        state[task] = 1
        for on, what in graph.get(task, []):
            if on not in graph:
                continue
            if state.get(on) == 1:
                edges = path + [(task, what)]
                start = next(i for i, (t, _) in enumerate(edges) if t == on)
                cycle = edges[start:]
                return [(t, w, cycle[(i + 1) % len(cycle)][0]) for i, (t, w) in enumerate(cycle)]
            if on not in state:
                found = visit(on, path + [(task, what)])
                if found:
                    return found
        state[task] = 2
        return []

    for task in sorted(graph):
        if task not in state:
            found = visit(task, [])
            if found:
                return found
    return []


def named(
    edges: list[tuple[str, str, str]], at: dict[str, str], name: Callable[[str], str]
) -> list[Wait]:
    """The cycle's edges with each task's name (``host:op``) and where it stands."""
    return [Wait(t, name(t), at.get(t, "?"), w, o, name(o)) for t, w, o in edges]


def describe(cycle: list[Wait]) -> str:
    """One line: the cycle, edge by edge."""
    return "deadlock: " + "; ".join(map(str, cycle))
