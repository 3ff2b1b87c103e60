"""Footprints: what a conductor operation reads and writes of the state.

Every conductor operation declares its footprint beside its handler (the generic ones in
``orchestrator.cluster.conductor``, a system's beside its own operations), as a function of
the request body: a list of ``Access`` (table, read or write, which rows, which columns). The
explorer learns from these alone which
steps of which hosts can affect each other; nobody keeps a list of "steps that matter". A
footprint must not look at the state and must not change anything: it is computed from the body
before the request runs.

Two accesses *conflict* when they touch the same table, at least one writes, and the rows they
select can overlap. Rows are selected by equality on columns (``uuid=...``, ``host=...``); no
selection means every row. Selections on the same column with different values are disjoint,
unless the write names that column among those it changes (it can move a row from one
selection into the other); a write that names no columns changes anything but the columns it
selects by. A read that names columns reads only those (and the ones it selects by): a write
that changes none of them does not meet it.
Anything else is assumed to overlap: a footprint may be too wide (more schedules), never too
narrow (a missed race).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

# The generic tables of orchestrator.cluster.state (a system names its own beside its ops).
SERVICES = "services"
TASKS = "tasks"
LOCKS = "locks"  # not a table: each host's resource lock, so lock requests conflict too


@dataclass(frozen=True)
class Access:
    table: str
    write: bool
    rows: Mapping[str, Any] = field(default_factory=dict)  # column -> value; {} = every row
    columns: frozenset[str] = frozenset()  # columns written; empty = all but the selection

    def __str__(self) -> str:
        where = ",".join(f"{k}={v}" for k, v in sorted(self.rows.items())) or "*"
        cols = f" [{','.join(sorted(self.columns))}]" if self.columns else ""
        return f"{'write' if self.write else 'read'} {self.table}({where}){cols}"


Footprint = Callable[[dict[str, Any]], list[Access]]


def reads(table: str, *columns: str, **rows: Any) -> Access:
    return Access(table, False, rows, frozenset(columns))


def writes(table: str, *columns: str, **rows: Any) -> Access:
    return Access(table, True, rows, frozenset(columns))


def lock(host: str) -> Access:
    """What asking for ``host``'s resource lock touches."""
    return writes(LOCKS, host=host)


def conflict(a: Access, b: Access) -> bool:
    if a.table != b.table or not (a.write or b.write):
        return False
    differ = [c for c in set(a.rows) & set(b.rows) if a.rows[c] != b.rows[c]]
    if differ:
        return any(w.write and w.columns & set(differ) for w in (a, b))
    # the same rows, or selections that may overlap: a read that names its columns meets only
    # a write that names one of them or one it selects by
    for r, w in ((a, b), (b, a)):
        if not r.write and r.columns and w.columns and not w.columns & (r.columns | set(r.rows)):
            return False
    return True


def conflicts(left: Sequence[Access], right: Sequence[Access]) -> bool:
    """Do two footprints touch the same rows, at least one of them writing?"""
    return any(conflict(a, b) for a in left for b in right)
