"""The parts of a split exploration on one machine hand branches over, through a directory.

A static deal (``orchestrator.explore.split``) cannot know how much lies under a branch: one
part may run 22 schedules while another, with 12, waits. So, on one machine, a part left with
nothing to run says so (``hungry-P``), and another that has two or more branches waiting gives
it one of them (not the one its own next run takes): it claims the hungry part (renames the
file, so that one giver only answers), writes the branch (``work-P.json``, written whole then
renamed), and never tries that branch itself. A part that ran out waits while another says
it has branches to spare (``status-P``, rewritten at each of its schedules); a *patient* one
(its worker has nothing else to run) waits while another runs at all, for branches it may
find yet. Parts on other machines see other directories: they keep to the static deal.
Nothing here decides what is explored: the branches are ``Dpor``'s (``Branch``).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from orchestrator.explore.strategies.dpor import Branch

POLL = 0.005  # s: how often a waiting part looks for work
STALE = 5.0  # s: a status older than this is of a part that is gone
FRESH = 1.0  # s: a status unchanged is written again at most this often (it says "alive")
CLAIMED = 10.0  # s: the most a claimed part waits for the branch its giver writes


class Exchange:
    """Part ``part``'s end of the directory ``root``, shared with the other parts of one split
    exploration."""

    def __init__(self, root: Path, part: int, patient: bool = False) -> None:
        self.root, self.part, self.patient = root, part, patient
        root.mkdir(parents=True, exist_ok=True)
        self.given = self.taken = 0
        self._said: tuple[int, float] | None = None  # the last status written, and when

    def _path(self, kind: str, part: int | None = None) -> Path:
        return self.root / f"{kind}-{self.part if part is None else part}"

    def _write(self, path: Path, text: str) -> None:
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        tmp.write_text(text)
        tmp.replace(path)  # whole or not at all

    def spare(self, count: int) -> None:
        """Tell the others how many branches this part could give now (called at each of its
        schedules; written when it changed, or to show it is alive)."""
        now = time.monotonic()
        if self._said is not None and self._said[0] == count and now - self._said[1] < FRESH:
            return
        self._write(self._path("status"), str(count))
        self._said = (count, now)

    def hungry(self) -> list[int]:
        """The parts waiting for work."""
        return sorted(int(p.name.split("-")[1]) for p in self.root.glob("hungry-*"))

    def claim(self, part: int) -> bool:
        """Take on feeding the hungry ``part``, unless another giver got there first (or it
        stopped waiting); a claim must be followed by ``send``."""
        try:
            self._path("hungry", part).rename(self._path(f"claimed-by-{self.part}", part))
        except FileNotFoundError:
            return False
        return True

    def send(self, part: int, branch: Branch) -> None:
        self._write(self.root / f"work-{part}.json", json.dumps(branch.to_json()))
        self.given += 1

    def _others_spare(self) -> bool:
        """Whether another part says it can give (patient: whether another still runs)."""
        now = time.time()
        for path in self.root.glob("status-*"):
            if path.name == f"status-{self.part}":
                continue
            try:
                fresh = now - path.stat().st_mtime < STALE
                count = int(path.read_text() or 0)
            except (OSError, ValueError):  # gone, or being replaced
                continue
            if fresh and (count > 0 or self.patient):
                return True
        return False

    def take(self) -> Branch | None:
        """Wait for a branch while another part has some to spare; None: nothing will come."""
        self._path("status").unlink(missing_ok=True)  # nothing to spare here any more
        self._said = None
        work, hungry = self.root / f"work-{self.part}.json", self._path("hungry")
        hungry.touch()
        claimed_at = None
        while True:
            if work.exists():
                branch = Branch.from_json(json.loads(work.read_text()))
                work.unlink()
                for path in self.root.glob(f"claimed-by-*-{self.part}"):
                    path.unlink(missing_ok=True)
                self.taken += 1
                # running again, nothing to spare yet: a patient part waits for what this one
                # finds (it would see no status until this part's next schedule)
                self.spare(0)
                return branch
            if claimed_at is None and not hungry.exists():
                claimed_at = time.monotonic()  # a giver claimed it: its branch is coming
            if claimed_at is not None:
                if time.monotonic() - claimed_at > CLAIMED:
                    return None  # the giver is gone (and its part failed with it)
            elif not self._others_spare():
                try:  # done, unless a giver claims this part meanwhile
                    hungry.rename(self._path("done"))
                    return None
                except FileNotFoundError:
                    continue
            time.sleep(POLL)

    def close(self) -> None:
        for kind in ("status", "hungry", "done"):
            self._path(kind).unlink(missing_ok=True)
