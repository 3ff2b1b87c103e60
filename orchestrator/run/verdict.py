"""Did a run set up what it meant to? The reasons that make it *inconclusive*.

A run passes when its checks and invariants hold *and* what the scenario set up actually
happened: every task it started ended as the scenario expected (``done``, unless its step says
``may_fail``), every hold was released (never timed out, never left held), and every hold
of ``[holds]`` was reached and met or released by the lock rule. Otherwise the checks looked
at a cluster where the race may never have run: the outcome is **inconclusive** (exit 3), with
one line per reason naming the task, the point and what it waited for.

Outcomes, in order of precedence: ``fail`` (a check or an invariant does not hold, or the
cluster refused a step for a reason of its own), ``inconclusive``, ``pass``. This module only
judges: it reads tasks and the hold record, and changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from orchestrator.holds.record import HELD, TIMED_OUT, WAITING

PASS, FAIL, INCONCLUSIVE = "pass", "fail", "inconclusive"
EXIT_CODES = {PASS: 0, FAIL: 1, INCONCLUSIVE: 3}


@dataclass
class TaskEnd:
    """How one task the run started ended: done, failed, lost (its host died) or running."""

    id: str
    host: str
    op: str
    state: str
    error: str | None = None
    step: str | None = None  # "step 6" of the scenario that started it
    may_fail: bool = False
    points: list[str] = field(default_factory=list)  # reached, in order (traced hosts only)
    crashed: bool = False  # the host's code raised what it does not expect: a finding

    @property
    def label(self) -> str:
        where = f", {self.step}" if self.step else ""
        return f"{self.op} on {self.host} (task {self.id[:8]}{where})"

    @property
    def unexpected(self) -> bool:
        """Failed when its step did not allow it. A crash is no reason to doubt the run: it
        is what the run found (the invariants report it)."""
        return self.state != "done" and not self.may_fail and not self.crashed

    def to_dict(self) -> dict[str, Any]:
        return {
            "task": self.id,
            "host": self.host,
            "op": self.op,
            "state": self.state,
            "error": self.error,
            "step": self.step,
            "may_fail": self.may_fail,
            "expected": not self.unexpected,
            "points": self.points,
            "crashed": self.crashed,
        }


def end_state(row: dict[str, Any], host_exited: bool) -> str:
    """A task still running on a host whose process ended was lost with it."""
    return "lost" if row["state"] == "running" and host_exited else row["state"]


def _task_line(t: TaskEnd) -> str:
    if t.state == "running":
        return f"{t.label} was still running when the run ended"
    if t.state == "lost":
        return f"{t.label} was lost: its host died" + (f" ({t.error})" if t.error else "")
    return f"{t.label} {t.state}: {t.error or 'no error given'}"


def reasons(
    tasks: Iterable[TaskEnd],
    holds: list[dict[str, Any]],
    timeouts: Iterable[dict[str, str]] = (),
    final: bool = True,
) -> list[str]:
    """One line per reason the run is inconclusive; [] when everything happened as set up.
    Not ``final`` (the run goes on, or a live cluster): a running task, a held point and an
    hold not reached yet are no reason; a failed task and a timed-out hold are.

    The cause comes first: a failed task (its error names the point and what it waited for),
    then a hold its host gave up on; a task left running (the run stopped early) and an
    hold never reached are mostly consequences."""
    tasks = [t for t in tasks if final or t.state != "running"]
    by_id = {t.id: t for t in tasks}
    failed = [t for t in tasks if t.unexpected and t.state != "running"]
    out = [_task_line(t) for t in failed]
    named = {t.id for t in failed}

    def who(task: str, host: str) -> str:
        t = by_id.get(task)
        return t.label if t else f"{task} on {host}"

    bad = (TIMED_OUT, WAITING, HELD) if final else (TIMED_OUT,)
    never = []
    for o in holds:
        for h in o["hits"]:
            if h["task"] in named or h["status"] not in bad:
                continue
            named.add(h["task"])
            what = ", ".join(h["waited_for"])
            if h["status"] == TIMED_OUT:
                out.append(
                    f"{who(h['task'], h['host'])}: {o['point']} held {h['seconds']:.2g} s "
                    f"waiting for {what} to pass; its host gave up and went on"
                )
            else:
                out.append(
                    f"{who(h['task'], h['host'])}: {o['point']} still held waiting for {what} "
                    "when the run ended"
                )
        if final and not o["hits"]:
            never.append(
                f"hold {o['point']} after {', '.join(o['after'])}: never reached "
                "(no task got to that point)"
            )
    for t in timeouts:  # holds of the explorer: no hold names them
        if t["task"] not in named:
            named.add(t["task"])
            out.append(
                f"{who(t['task'], t['host'])}: held at {t['held_at']} until its host gave up "
                "waiting and went on"
            )
    running = [_task_line(t) for t in tasks if t.unexpected and t.id not in named]
    return out + running + never


def outcome(held: bool, refused: bool, why_inconclusive: list[str]) -> str:
    """``held``: checks and invariants hold; ``refused``: a step failed with an error."""
    if why_inconclusive and (held or refused):
        return INCONCLUSIVE  # a refusal that follows from what did not happen is no finding
    return PASS if held and not refused else FAIL


def live_reasons(cluster: Any) -> list[str]:
    """A running cluster (``testbed up``): a task that failed or was lost, a hold that timed
    out. Nothing there says a task may fail, and its holds may not be reached yet."""
    ends = [
        TaskEnd(
            t["id"],
            t["host"],
            t["op"],
            end_state(t, cluster.exited(t["host"])),
            t["error"],
        )
        for t in cluster.state.tasks()
    ]
    record = cluster.hold_record()
    return reasons(ends, record.snapshot(), record.timeouts, final=False)
