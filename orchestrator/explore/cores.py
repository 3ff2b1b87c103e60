"""The cores an exploration keeps to when others run beside it.

An exploration's processes (the orchestrator, the zygote, the hosts) hand work to each other
all the time: a request, its reply, the next decision. Beside another exploration on the same
cores, a thread woken by a hand-over often waits for a core the other holds, or is woken on
the other core (an interrupt there, and a TLB flush when its process's pages change). On two
cores, two explorations of ``evacuate-then-rebuild`` side by side took about 1.6 times as
long each as one alone; each kept to a core of its own, about 1.15 times
(``benchmarks/side_by_side.py``). So explorations side by side (``testbed explore --all
--jobs N``, split parts on pytest-xdist workers) each keep to a share of the cores: slot ``i``
of ``n`` gets the ``i``-th of ``n`` equal runs of them. With more slots than cores nothing is
pinned: sharing cores is the system scheduler's to do. A single exploration is never pinned:
alone, it gains from a second core.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator


def available() -> set[int]:
    """The cores this process may run on (all of them where the system cannot say)."""
    if hasattr(os, "sched_getaffinity"):
        return set(os.sched_getaffinity(0))
    return set(range(os.cpu_count() or 1))


def share(slot: int, slots: int, cpus: set[int] | None = None) -> set[int]:
    """Slot ``slot``'s (0-based) cores among ``slots`` explorations side by side on ``cpus``
    (default: this process's); every core when there is one slot, or more slots than cores."""
    ordered = sorted(available() if cpus is None else cpus)
    if slots <= 1 or slots > len(ordered) or not 0 <= slot < slots:
        return set(ordered)
    return set(ordered[len(ordered) * slot // slots : len(ordered) * (slot + 1) // slots])


@contextlib.contextmanager
def kept_to(cpus: set[int]) -> Iterator[None]:
    """The calling thread, and every thread and process it starts meanwhile, on ``cpus``
    until the end of the ``with``; then the thread runs where it ran before."""
    if not hasattr(os, "sched_setaffinity") or cpus == available():
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cpus)  # 0: the calling thread; what it starts inherits it
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)
