"""The cores an exploration keeps to beside others (``orchestrator.explore.cores``)."""

from __future__ import annotations

import os
import threading

import pytest

from orchestrator.explore import cores


def test_slots_get_disjoint_runs_of_the_cores_that_cover_them() -> None:
    cpus = {0, 1, 2, 3, 4, 5, 6}
    shares = [cores.share(slot, 3, cpus) for slot in range(3)]
    assert shares == [{0, 1}, {2, 3}, {4, 5, 6}]
    assert cores.share(0, 2, {4, 9}) == {4} and cores.share(1, 2, {4, 9}) == {9}


def test_one_slot_or_more_slots_than_cores_pin_nothing() -> None:
    assert cores.share(0, 1, {0, 1}) == {0, 1}
    assert cores.share(2, 3, {0, 1}) == {0, 1}
    assert cores.share(5, 2, {0, 1}) == {0, 1}  # a slot out of range: no share of its own


@pytest.mark.skipif(
    not hasattr(os, "sched_setaffinity") or len(cores.available()) < 2, reason="one core"
)
def test_kept_to_holds_for_what_the_thread_starts_then_lets_go() -> None:
    before = cores.available()
    one = {min(before)}
    seen: list[set[int]] = []
    with cores.kept_to(one):
        assert os.sched_getaffinity(0) == one
        thread = threading.Thread(target=lambda: seen.append(os.sched_getaffinity(0)))
        thread.start()
        thread.join()
    assert seen == [one]
    assert os.sched_getaffinity(0) == before


def test_an_xdist_worker_keeps_to_its_share() -> None:
    from types import SimpleNamespace

    from orchestrator.explore.pytest_items import _worker_cores

    worker = SimpleNamespace(workerinput={"workerid": "gw1", "workercount": 2})
    assert _worker_cores(worker) == cores.share(1, 2)  # type: ignore[arg-type]
    # not a worker (a session started inside one inherits its environment): every core
    assert _worker_cores(SimpleNamespace()) == cores.available()  # type: ignore[arg-type]
