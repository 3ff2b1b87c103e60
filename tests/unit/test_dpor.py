"""The reduction on its own: DPOR against brute force on small programs of processes whose steps
read and write shared rows and take locks. Every class of equivalent interleavings must be
covered, and (far) fewer schedules run than there are interleavings."""

from __future__ import annotations

import random
import threading
import time
from itertools import combinations
from pathlib import Path

import pytest

from orchestrator.cluster.footprint import Access, reads, writes
from orchestrator.explore.exchange import Exchange
from orchestrator.explore.split import Split
from orchestrator.explore.strategies import Option, dependent
from orchestrator.explore.strategies.dpor import Dpor, _extend

LOCK = "lock"  # a step that asks for the lock (held until the process's "unlock" step ends)


class Program:
    """Processes as lists of steps; a step is (footprint, unlock-after)."""

    def __init__(self, procs: dict[str, list[tuple[tuple[Access, ...], bool]]]) -> None:
        self.procs = procs

    def options(self, pcs: dict[str, int], holder: str | None) -> list[Option]:
        out = []
        for p, steps in sorted(self.procs.items()):
            if pcs[p] < len(steps):
                accesses, _ = steps[pcs[p]]
                wants_lock = any(a.table == LOCK for a in accesses)
                if wants_lock and holder not in (None, p):
                    continue  # blocked: not enabled
                out.append(Option(f"{p}:{pcs[p]}", p, accesses))
        return out

    def step(self, pcs: dict[str, int], holder: str | None, o: Option) -> str | None:
        _, unlock = self.procs[o.process][pcs[o.process]]
        pcs[o.process] += 1
        if any(a.table == LOCK for a in o.accesses):
            holder = o.process
        if unlock:
            holder = None
        return holder

    def run(self, choose) -> list[Option]:
        pcs, holder, done = {p: 0 for p in self.procs}, None, []
        while True:
            opts = self.options(pcs, holder)
            if not opts:
                return done
            o = opts[choose(opts)]
            holder = self.step(pcs, holder, o)
            done.append(o)

    def every_interleaving(self) -> list[list[Option]]:
        out: list[list[Option]] = []

        def walk(pcs, holder, done):
            opts = self.options(pcs, holder)
            if not opts:
                out.append(list(done))
            for o in opts:
                pcs2 = dict(pcs)
                h2 = self.step(pcs2, holder, o)
                walk(pcs2, h2, [*done, o])

        walk({p: 0 for p in self.procs}, None, [])
        return out


def trace_class(run: list[Option]) -> frozenset[tuple[str, str]]:
    """The Mazurkiewicz trace: how every dependent pair is ordered."""
    return frozenset((a.label, b.label) for a, b in combinations(run, 2) if dependent(a, b))


def explore(program: Program, order: str = "races") -> tuple[set, int]:
    dpor, classes, runs = Dpor(order), set(), 0
    while dpor.next_run():
        classes.add(trace_class(program.run(dpor.choose)))
        runs += 1
        assert runs < 10_000
    return classes, runs


def step(*accesses: Access, unlock: bool = False) -> tuple[tuple[Access, ...], bool]:
    return tuple(accesses), unlock


def lock() -> Access:
    return writes(LOCK)


def test_independent_processes_need_one_schedule() -> None:
    program = Program(
        {
            "a": [step(writes("t", id=1)), step(reads("t", id=1))],
            "b": [step(writes("t", id=2)), step(reads("t", id=2))],
        }
    )
    classes, runs = explore(program)
    assert runs == 1 and len(program.every_interleaving()) == 6


def test_a_write_and_a_read_of_one_row_need_two() -> None:
    program = Program({"w": [step(writes("t", id=1))], "r": [step(reads("t", id=1))]})
    classes, runs = explore(program)
    assert runs == 2 and len(classes) == 2


def test_a_row_moved_into_a_selection_conflicts_with_reading_that_selection() -> None:
    # the evacuation sets vm1's host; the audit lists the instances of host2
    set_host = Option("e", "evacuate", (writes("instances", "host", uuid="vm1"),))
    listing = Option("a", "audit", (reads("instances", host="host2"),))
    other_column = Option("x", "x", (writes("pci", "status", host="host1"),))
    own_host = Option("y", "y", (reads("pci", host="host2"),))
    assert dependent(set_host, listing)
    assert not dependent(other_column, own_host)


def test_the_evacuation_race_shape() -> None:
    """The audit (lock; list instances; list migrations; save devices) against the buggy
    evacuation (lock; claim; unlock; set host; drop context; migration done)."""
    audit = [
        step(lock()),
        step(reads("instances", host="h2")),
        step(reads("migrations")),
        step(writes("pci", host="h2"), unlock=True),
    ]
    evacuate = [
        step(lock()),
        step(writes("pci", host="h2"), unlock=True),
        step(writes("instances", "host", uuid="vm1")),
        step(writes("instances", "migration_context", uuid="vm1")),
        step(writes("migrations", "status", id=1)),
    ]
    program = Program({"audit": audit, "evacuate": evacuate})
    every = program.every_interleaving()
    classes, runs = explore(program)
    assert classes == {trace_class(r) for r in every}
    assert runs == len(classes) < len(every)


def random_program(seed: int) -> Program:
    rng = random.Random(seed)
    rows = [("t", 1), ("t", 2), ("u", 1)]

    def random_step() -> tuple[tuple[Access, ...], bool]:
        table, key = rng.choice(rows)
        make = writes if rng.random() < 0.5 else reads
        return step(make(table, id=key))

    procs: dict[str, list] = {}
    for p in "abc"[: rng.randint(2, 3)]:
        steps = [random_step() for _ in range(rng.randint(1, 3))]
        if rng.random() < 0.4:  # a critical section around the first steps
            steps = [step(lock()), *steps[:-1], (steps[-1][0], True)]
        procs[p] = steps
    return Program(procs)


@pytest.mark.parametrize("order", ["races", "depth"])
@pytest.mark.parametrize("seed", range(60))
def test_every_class_is_covered_on_random_programs(seed: int, order: str) -> None:
    program = random_program(seed)
    every = {trace_class(r) for r in program.every_interleaving()}
    classes, runs = explore(program, order)
    assert classes == every
    assert runs <= max(len(every), 1) * 2  # close to one schedule per class


@pytest.mark.parametrize("parts", [2, 3, 5])
@pytest.mark.parametrize("seed", range(100))
def test_the_parts_of_a_split_exploration_cover_every_class(seed: int, parts: int) -> None:
    program = random_program(seed)
    every = {trace_class(r) for r in program.every_interleaving()}
    covered: set = set()
    for part in range(parts):
        split, runs = Split(part, parts), 0
        while split.next_run():
            covered.add(trace_class(program.run(split.choose)))
            runs += 1
            assert runs < 10_000
    assert covered == every


def test_a_split_deals_its_branches_again_while_a_team_has_parts() -> None:
    """Four processes each write one row then read another's: many branches wait early, and
    four parts each run fewer schedules than the whole exploration."""
    program = Program(
        {
            p: [step(writes("t", id=n)), step(reads("t", id=(n + 1) % 4))]
            for n, p in enumerate("abcd")
        }
    )
    _, whole = explore(program)
    counts = []
    for part in range(4):
        split, runs = Split(part, 4), 0
        while split.next_run():
            program.run(split.choose)
            runs += 1
        counts.append(runs)
    assert max(counts) < whole, (counts, whole)


class _Checked(Dpor):
    """Checks every happens-before worked out from the last one against working it out anew."""

    checked = 0

    def _happens_before(self, steps: list[Option]) -> list[set[int]]:
        got = super()._happens_before(steps)
        assert got == _extend([], list(steps))
        _Checked.checked += 1
        return got


@pytest.mark.parametrize("seed", range(40))
def test_happens_before_is_extended_as_it_was_worked_out_anew(seed: int) -> None:
    """Each decision extends the run's happens-before by its step, and a run that replays a
    prefix keeps what that prefix had: the same as working it out from nothing each time."""
    program = random_program(seed)
    dpor, classes, before = _Checked(), set(), _Checked.checked
    while dpor.next_run():
        classes.add(trace_class(program.run(dpor.choose)))
    assert classes == {trace_class(r) for r in program.every_interleaving()}
    assert _Checked.checked > before or len(program.procs) < 2


def test_an_unknown_order_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown order 'sideways'"):
        Dpor("sideways")


def explore_handing_over(program: Program, parts: int, rng: random.Random) -> tuple[set, int]:
    """Explorations that run a schedule each in turn, as the parts of a split on one machine
    do: the first starts with the whole tree; one with nothing left takes a waiting branch
    from another that has two or more (any but the one its next run takes)."""
    current: list[Dpor | None] = [Dpor()] + [None] * (parts - 1)
    classes: set = set()
    runs = handed = 0
    while True:
        moved = False
        for part in rng.sample(range(parts), parts):
            dpor = current[part]
            if dpor is not None and dpor.next_run():
                classes.add(trace_class(program.run(dpor.choose)))
                runs, moved = runs + 1, True
                continue
            current[part] = None
            donors = [d for d in current if d is not None and len(d.waiting()) >= 2]
            if donors:
                donor = rng.choice(donors)
                node, process = rng.choice(donor.waiting()[1:])
                current[part] = Dpor(given=donor.hand_over(node, process))
                handed, moved = handed + 1, True
        assert runs < 10_000
        if not moved:
            return classes, handed


@pytest.mark.parametrize("parts", [2, 3])
@pytest.mark.parametrize("seed", range(150))
def test_branches_handed_over_leave_no_class_out(seed: int, parts: int) -> None:
    program = random_program(seed)
    every = {trace_class(r) for r in program.every_interleaving()}
    classes, _ = explore_handing_over(program, parts, random.Random(seed))
    assert classes == every


def test_branches_are_handed_over_where_many_wait() -> None:
    program = Program(
        {
            p: [step(writes("t", id=n)), step(reads("t", id=(n + 1) % 4))]
            for n, p in enumerate("abcd")
        }
    )
    every = {trace_class(r) for r in program.every_interleaving()}
    classes, handed = explore_handing_over(program, 3, random.Random(1))
    assert classes == every and handed >= 2


@pytest.mark.parametrize("parts", [2, 3])
@pytest.mark.parametrize("seed", range(40))
def test_split_parts_handing_over_through_files_cover_every_class(
    tmp_path: Path, seed: int, parts: int
) -> None:
    """The parts of a split, each in a thread of its own, deal, then hand branches to each
    other through a real exchange directory: together they cover every class."""
    program = random_program(seed)
    every = {trace_class(r) for r in program.every_interleaving()}
    covered: list[set] = [set() for _ in range(parts)]
    ends = [Exchange(tmp_path, p, patient=bool((seed + p) % 2)) for p in range(parts)]

    def part(p: int) -> None:
        split, rng = Split(p, parts, ends[p]), random.Random(seed * 10 + p)
        while split.next_run():
            covered[p].add(trace_class(program.run(split.choose)))
            time.sleep(rng.random() * 0.001)  # the parts' schedules interleave differently
        ends[p].close()

    threads = [threading.Thread(target=part, args=(p,)) for p in range(parts)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert set().union(*covered) == every
    assert sum(e.given for e in ends) == sum(e.taken for e in ends)
