"""Dynamic partial-order reduction: one schedule per class of equivalent interleavings.

After Flanagan and Godefroid, "Dynamic partial-order reduction for model checking software"
(POPL 2005), with sleep sets, run statelessly: each schedule is a fresh run of the real
system, steered by replaying a prefix of choices and then extending it.

A step is an ``Option``: the process (a host task) that takes it and its footprint (what of
the shared state it reads and writes, and which host's lock it asks for). Two steps of
different processes are *dependent* when their footprints conflict. Two schedules that order
every dependent pair alike are equivalent (the same Mazurkiewicz trace): they end in the same
state, so running one of them is enough.

At each new decision the strategy looks back along the run for the last step that is
dependent with what some process wants to do next and not already ordered before it; such a
race could have gone the other way, so the process (or, when it was not enabled then, every
process enabled then) is added to the *backtrack set* of the decision before that step. After
a run, the deepest decision with an untried backtrack choice is where the next run branches.
The *sleep set* of a decision holds processes whose next step was explored from an earlier
sibling and is independent of what has been done since: choosing them again would only repeat
an explored class.

This module knows nothing of hosts, sockets or the state: it sees options and answers indexes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from orchestrator.explore.strategies import Diverged, Option, dependent


@dataclass
class _Node:
    """A decision: what was enabled, what to try, what was tried, what sleeps."""

    enabled: dict[str, Option]  # process -> its next step
    sleep: dict[str, Option]
    backtrack: set[str] = field(default_factory=set)
    done: set[str] = field(default_factory=set)
    chosen: str = ""


class Dpor:
    def __init__(self) -> None:
        self.nodes: list[_Node] = []  # the decisions of the current run, in order
        self.depth = 0
        self.started = False
        self.redundant = 0  # runs that hit a decision whose every option sleeps

    # -- the strategy protocol -------------------------------------------------------------
    def next_run(self) -> bool:
        self.depth = 0
        if not self.started:
            self.started = True
            return True
        while self.nodes:
            node = self.nodes[-1]
            if node.backtrack - node.done - set(node.sleep):
                return True  # branch here; the decisions above it are replayed
            self.nodes.pop()
        return False

    def choose(self, options: list[Option]) -> int:
        d, self.depth = self.depth, self.depth + 1
        by_process = {o.process: o for o in options}
        if d < len(self.nodes) - 1:  # replaying the prefix
            node = self.nodes[d]
            if set(node.enabled) != set(by_process):
                raise Diverged(
                    f"decision {d + 1} offered {', '.join(sorted(by_process))}; before: "
                    f"{', '.join(sorted(node.enabled))}"
                )
            return self._index(options, node.chosen)
        if d == len(self.nodes) - 1:  # the branch point: its next untried choice
            node = self.nodes[d]
            if set(node.enabled) != set(by_process):
                raise Diverged(f"decision {d + 1} offered {', '.join(sorted(by_process))}")
            pick = sorted(node.backtrack - node.done - set(node.sleep))[0]
        else:
            node = self._new_node(d, by_process)
            self.nodes.append(node)
            self._find_races(d)
            awake = [p for p in sorted(by_process) if p not in node.sleep]
            if not awake:  # every way on repeats an explored class: finish the run anyway
                self.redundant += 1
                awake = sorted(by_process)
            pick = awake[0]
            node.backtrack.add(pick)
        node.done.add(pick)
        node.chosen = pick
        return self._index(options, pick)

    # -- the reduction -------------------------------------------------------------------
    def _new_node(self, d: int, enabled: dict[str, Option]) -> _Node:
        if d == 0:
            return _Node(enabled, {})
        parent = self.nodes[d - 1]
        step = parent.enabled[parent.chosen]
        candidates = dict(parent.sleep)
        for p in parent.done - {parent.chosen}:
            candidates[p] = parent.enabled[p]
        sleep = {
            p: o
            for p, o in candidates.items()
            if p in enabled and enabled[p] == o and not dependent(o, step)
        }
        return _Node(enabled, sleep)

    def _find_races(self, d: int) -> None:
        """Each step that some process wants to take at decision ``d`` and races with an
        earlier step (dependent, and nothing in between already orders them) could have gone
        first: make sure the decision before that step tries a way to that other order."""
        steps = [n.enabled[n.chosen] for n in self.nodes[:d]]
        after = _happens_before(steps)
        for p, nxt in self.nodes[d].enabled.items():
            # the earlier steps the next one must follow: p's own, and their dependents
            before = {i for i, s in enumerate(steps) if s.process == p or dependent(s, nxt)}
            before |= {k for i in before for k in after[i]}
            for i in sorted(before):
                s = steps[i]
                if s.process == p or not dependent(s, nxt):
                    continue
                if any(i in after[k] for k in before if k > i):
                    continue  # ordered through a step in between: not a direct race
                self._reverse(i, steps, after, nxt)

    def _reverse(self, i: int, steps: list[Option], after: list[set[int]], nxt: Option) -> None:
        """Source sets (Abdulla et al., POPL 2014): the steps after ``i`` that do not depend on
        it, then ``nxt``, is a way to run ``nxt`` before step ``i``; its first steps (those
        nothing before them in it orders) are the processes that can start it."""
        pre = self.nodes[i]
        rest = [s for k, s in enumerate(steps[i + 1 :], i + 1) if i not in after[k]] + [nxt]
        starts = []
        for n, s in enumerate(rest):
            if not any(r.process == s.process or dependent(r, s) for r in rest[:n]):
                starts.append(s.process)
        if pre.backtrack & set(starts):
            return
        can = [q for q in starts if q in pre.enabled]
        pre.backtrack |= {can[0]} if can else set(pre.enabled)

    @staticmethod
    def _index(options: list[Option], process: str) -> int:
        return next(i for i, o in enumerate(options) if o.process == process)


def _happens_before(steps: list[Option]) -> list[set[int]]:
    """``after[j]``: every earlier step that happens before step ``j`` (same process or a
    chain of dependent steps)."""
    after: list[set[int]] = []
    for j, s in enumerate(steps):
        before: set[int] = set()
        for i in range(j):
            if steps[i].process == s.process or dependent(steps[i], s):
                before |= {i} | after[i]
        after.append(before)
    return after
