"""The parts of a split exploration on one machine hand branches over through a directory
(``orchestrator.explore.exchange``): one giver per hungry part, the branch whole, and a part
that ran out waits only while waiting can bring it something."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from orchestrator.explore import exchange
from orchestrator.explore.exchange import Exchange
from orchestrator.explore.strategies.dpor import Branch

BRANCH = Branch(("a", "b", "c"), (frozenset({"a", "b"}), frozenset({"b"}), frozenset({"c", "d"})))


def test_a_hungry_part_gets_the_branch_one_giver_sends(tmp_path: Path) -> None:
    taker, first, second = Exchange(tmp_path, 0), Exchange(tmp_path, 1), Exchange(tmp_path, 2)
    first.spare(1)
    got: list[Branch | None] = []
    thread = threading.Thread(target=lambda: got.append(taker.take()))
    thread.start()
    deadline = time.monotonic() + 5
    while first.hungry() != [0] and time.monotonic() < deadline:
        time.sleep(0.001)
    assert first.claim(0) and not second.claim(0)  # one giver only
    first.send(0, BRANCH)
    thread.join(5)
    assert got == [BRANCH] and taker.taken == 1 and first.given == 1
    assert not list(tmp_path.glob("work-*")) and not list(tmp_path.glob("claimed-*"))
    # the taker runs again at once: a patient part that runs out now waits for it
    assert Exchange(tmp_path, 3, patient=True)._others_spare()
    first.close()
    assert Exchange(tmp_path, 3, patient=True)._others_spare()  # the taker's status alone


def test_with_nothing_to_spare_a_part_that_ran_out_is_done_at_once(tmp_path: Path) -> None:
    taker, busy = Exchange(tmp_path, 0), Exchange(tmp_path, 1)
    busy.spare(0)
    started = time.monotonic()
    assert taker.take() is None
    assert time.monotonic() - started < 1
    assert not busy.claim(0)  # it stopped waiting: nobody can feed it any more


def test_a_patient_part_waits_while_another_runs(tmp_path: Path) -> None:
    taker, busy = Exchange(tmp_path, 0, patient=True), Exchange(tmp_path, 1)
    busy.spare(0)  # runs, nothing to spare yet
    got: list[Branch | None] = []
    thread = threading.Thread(target=lambda: got.append(taker.take()))
    thread.start()
    time.sleep(0.1)
    assert thread.is_alive()  # still waiting: the other may find branches yet
    busy.close()  # the other ended
    thread.join(5)
    assert got == [None]


def test_a_part_gone_quiet_is_not_waited_for(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(exchange, "STALE", 0.05)
    taker, gone = Exchange(tmp_path, 0, patient=True), Exchange(tmp_path, 1)
    gone.spare(3)
    old = time.time() - 1
    os.utime(tmp_path / "status-1", (old, old))  # its last word is old: it died
    assert taker.take() is None


def test_branches_travel_whole() -> None:
    assert Branch.from_json(BRANCH.to_json()) == BRANCH
