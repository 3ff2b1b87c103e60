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
A step that *lapses* (a timer's fire) is offered only for a while: the step after which it
is no longer offered took away its chance, so that step and the lapsed one race as dependent
steps do, and the decision where it lapsed tries it too. A fire touches nothing itself (the
audit it starts does, a step at a time), so it commutes with every other step: where it lands
matters only through the audit's own steps, whose races move it. At a new decision a lapsing
step goes last, so a run fires a timer only where a race asks for it.
The *sleep set* of a decision holds processes whose next step was explored from an earlier
sibling and is independent of what has been done since: choosing them again would only repeat
an explored class.

The search order (``order="races"``, the default) decides only which pending branch runs
next, never which are run: every backtrack choice, with the race it is there to reverse, stays
in the tree of decisions until it is tried. A run that reverses a race no run has reversed yet
comes first, the race found most recently first (a new race is usually one step further into
the window the last reversal opened, where a loss hides); once every race has been run both
ways round, the rest goes depth first. ``order="depth"`` is plain depth first throughout.
Both cover every class (``tests/unit/test_dpor.py`` checks them against brute force).

This module knows nothing of hosts, sockets or the state: it sees options and answers indexes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from orchestrator.cluster.footprint import Access
from orchestrator.explore.strategies import Diverged, Option, dependent


@dataclass(eq=False)
class _Node:
    """A decision: what was enabled, what to try, what was tried, what sleeps; where it is in
    the tree of decisions (its parent, and the parent's choice that led here)."""

    enabled: dict[str, Option]  # process -> its next step
    sleep: dict[str, Option]
    parent: _Node | None = None
    via: str = ""
    depth: int = 0
    serial: int = 0  # how many decisions were made before it, in every run
    backtrack: set[str] = field(default_factory=set)
    done: set[str] = field(default_factory=set)
    # choices left to another part of a split exploration (``orchestrator.explore.split``):
    # never tried here, and, not explored here, they put nothing to sleep
    skip: set[str] = field(default_factory=set)
    chosen: str = ""
    # process of the backtrack set -> the race it is there to reverse: (first, then) labels
    why: dict[str, tuple[str, str]] = field(default_factory=dict)
    found: dict[str, int] = field(default_factory=dict)  # process -> when its race was found

    def todo(self) -> set[str]:
        return self.backtrack - self.done - self.skip - set(self.sleep)

    def path(self) -> list[_Node]:
        """The decisions from the first one to this one."""
        path = [self]
        while path[-1].parent is not None:
            path.append(path[-1].parent)
        return path[::-1]


ORDERS = ("races", "depth")


@dataclass(frozen=True)
class Branch:
    """A branch one exploration hands to another (``hand_over``; the parts of a split one on
    one machine, ``orchestrator.explore.split``): the choices from the first decision to it,
    the last its own, and at each of those decisions every choice the giver's tree holds
    (tried, waiting or handed on), which the taker leaves to the giver; what slept there, and
    what the giver had tried there: the taker's decisions sleep what the giver's would, so
    that it runs no other schedule of a class the giver ran."""

    choices: tuple[str, ...]
    known: tuple[frozenset[str], ...]
    sleep: tuple[dict[str, Option], ...] = ()
    done: tuple[frozenset[str], ...] = ()

    def to_json(self) -> dict:
        return {
            "choices": list(self.choices),
            "known": [sorted(k) for k in self.known],
            "sleep": [{p: _option_json(o) for p, o in s.items()} for s in self.sleep],
            "done": [sorted(d) for d in self.done],
        }

    @classmethod
    def from_json(cls, doc: dict) -> Branch:
        return cls(
            tuple(doc["choices"]),
            tuple(frozenset(k) for k in doc["known"]),
            tuple({p: _option(o) for p, o in s.items()} for s in doc.get("sleep", [])),
            tuple(frozenset(d) for d in doc.get("done", [])),
        )


def _option_json(o: Option) -> dict:
    accesses = [
        {"table": a.table, "write": a.write, "rows": dict(a.rows), "columns": sorted(a.columns)}
        for a in o.accesses
    ]
    return {"label": o.label, "process": o.process, "accesses": accesses, "lapses": o.lapses}


def _option(doc: dict) -> Option:
    # a row value JSON changes (a tuple made a list) makes the option unequal to the taker's
    # own: it then sleeps less, which only repeats a class, never loses one
    accesses = tuple(
        Access(a["table"], a["write"], a["rows"], frozenset(a["columns"])) for a in doc["accesses"]
    )
    return Option(doc["label"], doc["process"], accesses, doc["lapses"])


class Dpor:
    def __init__(self, order: str = "races", given: Branch | None = None) -> None:
        if order not in ORDERS:
            raise ValueError(f"unknown order '{order}' (orders: {', '.join(ORDERS)})")
        self.order = order
        # a branch handed over: its first run follows the path to it, and the races whose
        # steps are all on that path are the giver's (its tree has them); the decisions on
        # the path try only what the giver's tree does not hold
        self.given = given
        self.nodes: list[_Node] = []  # the decisions of the current run, in order
        self.open: list[_Node] = []  # every decision that may still have a choice to try
        self.ordered: set[tuple[str, str]] = set()  # (a, b): a ran before b, dependent, once
        self.depth = 0
        self.made = 0
        self.races = 0  # races found so far, in every run
        self.started = False
        self.learnt = False  # the last run is learnt (``_learn``)
        self.redundant = 0  # runs that hit a decision whose every option sleeps
        # the steps of the run so far and what happens before each (``_find_races``): each
        # new decision adds a step, and only what is new is worked out
        self.hb_steps: list[Option] = []
        self.hb_after: list[set[int]] = []

    # -- the strategy protocol -------------------------------------------------------------
    def next_run(self) -> bool:
        self.depth = 0
        if not self.started:
            self.started = True
            return True
        self._learn()
        self.open = [n for n in self.open if n.todo()]
        if not self.open:
            return False
        self.learnt = False  # the run about to start is not learnt yet
        path = self._branch().path()  # branch there; the decisions above it are replayed
        for above, below in zip(path, path[1:], strict=False):
            above.chosen = below.via
        self.nodes = path
        return True

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
            pick = self._next(node)
        else:
            node = self._new_node(d, by_process)
            self.nodes.append(node)
            first_run = self.made == d + 1  # every decision so far made a new node
            if self.given is not None and first_run and d < len(self.given.choices):
                pick = self.given.choices[d]  # the first run follows the path handed over
                if pick not in by_process:
                    raise Diverged(
                        f"decision {d + 1} offered {', '.join(sorted(by_process))}; the branch "
                        f"handed over chose {pick}"
                    )
                node.backtrack |= self.given.known[d]
                node.skip |= self.given.known[d] - {pick}
                if self.given.sleep:  # the giver's own: computed when its path was new
                    node.sleep = dict(self.given.sleep[d])
                    node.done |= self.given.done[d]
            else:
                self._find_races(d)
                self._lapsed(d - 1, set(by_process))
                awake = sorted(
                    (p for p in by_process if p not in node.sleep),
                    key=lambda p: (by_process[p].lapses, p),
                )
                if not awake:  # every way on repeats an explored class: finish the run anyway
                    self.redundant += 1
                    awake = sorted(by_process)
                pick = awake[0]
            node.backtrack.add(pick)
        node.done.add(pick)
        node.chosen = pick
        return self._index(options, pick)

    # -- handing branches over -----------------------------------------------------------
    def waiting(self) -> list[tuple[_Node, str]]:
        """Every branch waiting to be tried, once the run just ended is learnt: the one the
        next run takes first, then the others, shallowest first (the most left under them)."""
        if not self.started:
            return []
        self._learn()  # what next_run learns first (once)
        self.open = [n for n in self.open if n.todo()]
        if not self.open:
            return []
        node = self._branch()
        first = (node, self._next(node))
        rest = [(n, p) for n in self.open for p in sorted(n.todo()) if (n, p) != first]
        return [first, *sorted(rest, key=lambda b: b[0].depth)]

    def hand_over(self, node: _Node, process: str) -> Branch:
        """Give away a waiting branch: never tried here (it puts nothing to sleep either: the
        taker explores it whole), and what the taker needs to run it."""
        path = node.path()
        node.skip.add(process)
        choices = tuple(n.via for n in path[1:]) + (process,)
        return Branch(
            choices,
            tuple(frozenset(n.backtrack) for n in path),
            tuple(dict(n.sleep) for n in path),
            tuple(frozenset(n.done) for n in path),
        )

    # -- the reduction -------------------------------------------------------------------
    def _new_node(self, d: int, enabled: dict[str, Option]) -> _Node:
        if d == 0:
            node = _Node(enabled, {}, serial=self.made)
            self.made += 1
            self.open.append(node)
            return node
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
        node = _Node(enabled, sleep, parent, parent.chosen, d, self.made)
        self.made += 1
        self.open.append(node)
        return node

    def _find_races(self, d: int) -> None:
        """Each step that some process wants to take at decision ``d`` and races with an
        earlier step (dependent, and nothing in between already orders them) could have gone
        first: make sure the decision before that step tries a way to that other order."""
        steps = [n.enabled[n.chosen] for n in self.nodes[:d]]
        after = self._happens_before(steps)
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

    def _lapsed(self, d: int, now: set[str]) -> None:
        """Steps offered at decision ``d`` that lapsed with the step taken there: each could
        have gone instead, so ``d`` tries it (once: not when done, asleep, or to be tried)."""
        if d < 0:
            return
        node = self.nodes[d]
        step = node.enabled[node.chosen]
        for p, o in node.enabled.items():
            if o.lapses and p not in now and p not in node.done | set(node.sleep) | node.backtrack:
                node.backtrack.add(p)
                if node not in self.open:
                    self.open.append(node)
                self.races += 1
                node.why.setdefault(p, (step.label, o.label))
                node.found.setdefault(p, self.races)

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
        added = {can[0]} if can else set(pre.enabled) - pre.backtrack
        pre.backtrack |= added
        if added and pre not in self.open:  # a decision of the path whose choices were spent
            self.open.append(pre)
        self.races += 1
        for q in added:
            pre.why.setdefault(q, (steps[i].label, nxt.label))
            pre.found.setdefault(q, self.races)

    def _happens_before(self, steps: list[Option]) -> list[set[int]]:
        """``_extend([], steps)``, reusing what was worked out for the longest prefix of
        ``steps`` seen last (the same step objects: a run's decisions, or those it replays)."""
        known, after = self.hb_steps, self.hb_after
        k = 0
        while k < min(len(known), len(steps)) and known[k] is steps[k]:
            k += 1
        del known[k:], after[k:]
        known.extend(steps[k:])
        return _extend(after, steps)

    # -- the search order ------------------------------------------------------------------
    def _learn(self) -> None:
        """Remember which dependent steps ran in which order in the run just finished (and
        what lapsed at its end); once a run."""
        if self.learnt:
            return
        self.learnt = True
        if self.nodes and self.nodes[-1].chosen:
            self._lapsed(len(self.nodes) - 1, set())
        steps = [n.enabled[n.chosen] for n in self.nodes if n.chosen]
        for j, b in enumerate(steps):
            self.ordered |= {(a.label, b.label) for a in steps[:j] if dependent(a, b)}

    def _newness(self, node: _Node, p: str) -> int:
        """When the race that trying ``p`` at ``node`` reverses was found; 0 when no run has
        to reverse it any more (one already ran its steps the other way round)."""
        first, then = node.why.get(p, ("", ""))
        return node.found[p] if first and (then, first) not in self.ordered else 0

    def _next(self, node: _Node) -> str:
        """The choice a run branching at ``node`` tries: the newest race's first."""
        return min(node.todo(), key=lambda p: (-self._newness(node, p), p))

    def _branch(self) -> _Node:
        """Where the next run branches off. ``depth``: the deepest decision of the last run
        with a choice left (depth first, as DPOR is usually run). ``races``: first the
        decision whose choice left reverses the newest race no run has reversed yet; depth
        first when none does."""
        on_path = set(map(id, self.nodes))
        deepest = max(self.open, key=lambda n: (id(n) in on_path, n.depth))
        if self.order == "depth":
            return deepest
        newest = max(self.open, key=lambda n: max(self._newness(n, p) for p in n.todo()))
        return newest if any(self._newness(newest, p) for p in newest.todo()) else deepest

    @staticmethod
    def _index(options: list[Option], process: str) -> int:
        return next(i for i, o in enumerate(options) if o.process == process)


def _extend(after: list[set[int]], steps: list[Option]) -> list[set[int]]:
    """``after[j]``: every earlier step that happens before step ``j`` (same process or a
    chain of dependent steps); ``after`` holds it for a prefix of ``steps`` and is made
    whole, in place."""
    for j in range(len(after), len(steps)):
        s = steps[j]
        before: set[int] = set()
        for i in range(j):
            if steps[i].process == s.process or dependent(steps[i], s):
                before |= {i} | after[i]
        after.append(before)
    return after
