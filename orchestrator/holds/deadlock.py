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
    """One edge of a cycle: ``who`` (at ``at``) waits for ``what``, which only ``by`` (itself
    stuck) can give."""

    task: str
    who: str
    at: str
    what: str
    on: str
    by: str

    def __str__(self) -> str:
        return f"{self.who} at {self.at} waits for {self.what}, on {self.by}"

    def to_dict(self) -> dict[str, str]:
        return {"task": self.who, "at": self.at, "waits_for": self.what, "on": self.by}


Graph = dict[str, list[tuple[str, list[str]]]]  # blocked task -> [(what, tasks that can give it)]


def ring(graph: Graph) -> list[tuple[str, str, str]]:
    """A cycle of tasks that can never go on, as (task, what, task it waits on) edges, or [].

    Each blocked task needs every one of its waits met, and a wait is met by any one of its
    tasks (a lock by its holder; a point by the task standing at it or, when none does yet,
    by any other task of its host). The stuck set is the largest set of blocked tasks each of
    which has a wait whose every task is in the set; a wait nobody can give yet (no such
    task) may still be met by a task to come, so it sticks nobody."""
    stuck = {t for t, waits in graph.items() if waits}
    changed = True
    while changed:
        changed = False
        for t in sorted(stuck):
            if not any(on and set(on) <= stuck for _, on in graph[t]):
                stuck.discard(t)
                changed = True
    if not stuck:
        return []
    path: list[tuple[str, str, str]] = []
    seen: dict[str, int] = {}
    t = min(stuck)
    while t not in seen:
        seen[t] = len(path)
        what, on = next((w, o) for w, o in graph[t] if o and set(o) <= stuck)
        nxt = sorted(on)[0]
        path.append((t, what, nxt))
        t = nxt
    return path[seen[t] :]


def named(
    edges: list[tuple[str, str, str]], at: dict[str, str], name: Callable[[str], str]
) -> list[Wait]:
    """The cycle's edges with each task's name (``host:op``) and where it stands."""
    return [Wait(t, name(t), at.get(t, "?"), w, o, name(o)) for t, w, o in edges]


def describe(cycle: list[Wait]) -> str:
    """One line: the cycle, edge by edge."""
    return "deadlock: " + "; ".join(map(str, cycle))
