"""Runs a scenario on a fresh cluster and says how it went: pass, fail or inconclusive.

Inconclusive (see ``orchestrator.run.verdict``): the checks held, or a step was refused, but what
the scenario set up did not happen: a task ended otherwise than its step allows, a hold timed
out, a hold was never reached, a kill it armed (``[faults]`` or a ``fault`` step) never
fired. A task failing, a hold timing out or a deadlock (tasks waiting on each other in a
cycle, through holds and locks) ends the run at once (every wait of the API stops), since
nothing after it can make the run pass.

Every host is stopped whatever happens; the run directory of a run that did not pass must not
be removed (it is the evidence), unless its caller keeps that evidence elsewhere (``finish``).
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator.cluster.cluster import Cluster
from orchestrator.history import recorder
from orchestrator.holds import deadlock
from orchestrator.run import verdict
from orchestrator.run.checks import CheckResult, InvariantResult, check_invariants
from orchestrator.run.scenario import Scenario, Step
from orchestrator.run.steps import STEPS
from orchestrator.run.verdict import TaskEnd
from testbed.config import Config
from testbed.errors import ApiError, WaitTimeout
from testbed.points import parse_address

log = logging.getLogger("testbed.runner")


@dataclass
class Result:
    scenario: str
    tracker: str
    run_dir: str
    held: bool = False  # the checks and the invariants held
    kept: bool = True
    duration: float = 0.0
    last_check: CheckResult | None = None
    invariants: InvariantResult | None = None
    failed_step: Step | None = None
    error: str | None = None
    allocations: dict[str, dict[str, int]] = field(default_factory=dict)
    pids: dict[str, int | None] = field(default_factory=dict)
    pid_history: dict[str, list[int]] = field(default_factory=dict)
    tasks: list[TaskEnd] = field(default_factory=list)  # every task the run started
    holds: list[dict[str, Any]] = field(default_factory=list)  # each hold of [holds]
    inconclusive: list[str] = field(default_factory=list)  # why, one line each
    notes: list[str] = field(default_factory=list)  # refusals of steps that may fail
    timeline: str | None = None  # timeline.html, written when the run fails (or asked for)
    footprint_hints: list[str] = field(default_factory=list)  # wider than needed (a hint)
    deadlock: list[deadlock.Wait] = field(default_factory=list)  # the cycle, when one formed

    @property
    def outcome(self) -> str:
        return verdict.outcome(self.held, self.error is not None, self.inconclusive)

    @property
    def ok(self) -> bool:
        return self.outcome == verdict.PASS

    def to_dict(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "tracker": self.tracker,
            "outcome": self.outcome,
            "ok": self.ok,
            "duration": round(self.duration, 3),
            "run_dir": self.run_dir,
            "run_dir_kept": self.kept,
            "allocations": self.allocations,
            "pids": self.pids,
            "pid_history": self.pid_history,
            "timeline": self.timeline,
            "error": self.error,
            "failed_step": str(self.failed_step) if self.failed_step else None,
            "check": self.last_check.to_dict() if self.last_check else None,
            "invariants": self.invariants.to_dict() if self.invariants else None,
            "inconclusive": self.inconclusive,
            "holds": self.holds,
            "tasks": [t.to_dict() for t in self.tasks],
            "notes": self.notes,
            "footprint_hints": self.footprint_hints,
            "deadlock": [w.to_dict() for w in self.deadlock],
        }


class Ledger:
    """Which step started each task: a task belongs to the step that was running when it
    first appeared in the state (steps run one at a time, in this thread)."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.step_of: dict[str, Step] = {}
        self.current: Step | None = None
        self.armed: list[str] = [*cluster.config.faults]  # HOST:POINT of every kill armed
        self.deadlock: list[deadlock.Wait] = []

    def ends(self) -> list[TaskEnd]:
        out, record = [], self.cluster.hold_record()
        down: dict[str, bool] = {}  # asked once a host: each answer is a system call
        for row in self.cluster.state.tasks():
            step = self.step_of.setdefault(row["id"], self.current)  # type: ignore[arg-type]
            exited = down.get(row["host"])
            if exited is None:
                exited = down[row["host"]] = self.cluster.exited(row["host"])
            out.append(
                TaskEnd(
                    row["id"],
                    row["host"],
                    row["op"],
                    verdict.end_state(row, exited),
                    row["error"],
                    f"step {step.number}" if step else None,
                    bool(step and step.may_fail),
                    record.path(row["id"]),
                    bool(row.get("crashed")),
                )
            )
        return out

    def guard(self) -> str | None:
        """Called by every wait of the API: a reason to stop now, or None."""
        cycle = self.cluster.board.cycle  # read without the board's lock: see Board.cycle
        if cycle and not self.deadlock and all(self.cluster.alive(h) for h, *_ in cycle):
            at = {t: where for _, t, _, _, where in cycle}
            self.deadlock = deadlock.named([e[1:4] for e in cycle], at, self.name)
            if self.deadlock:
                log.error("%s", deadlock.describe(self.deadlock))
                self.cluster.history.write("deadlock", cycle=[w.to_dict() for w in self.deadlock])
        if self.deadlock:
            return f"inconclusive: {deadlock.describe(self.deadlock)}"
        board = self.cluster.hold_record()
        why = verdict.reasons(self.ends(), board.snapshot(), board.timeouts, final=False)
        return f"inconclusive: {why[0]}" if why else None

    def name(self, task: str) -> str:
        """``host:op`` of a task (``host:periodic`` for a periodic audit's thread)."""
        row = next((t for t in self.cluster.state.tasks() if t["id"] == task), None)
        if row is not None:
            return f"{row['host']}:{row['op']}"
        periodic, _, host = task.partition("-")
        return f"{host.rpartition('-')[0]}:periodic" if periodic == "periodic" else task[:8]


def _steps(
    scenario: Scenario, config: Config, cluster: Cluster, result: Result, ledger: Ledger
) -> None:
    """Every step in order; the first failing check ends the run; then the invariants."""
    history = cluster.history
    history.write("scenario", name=scenario.name, description=scenario.description)
    for step in scenario.steps:
        log.info("%s", step)
        result.failed_step = ledger.current = step
        with history.step(step.number, step.do, step.args) as end:
            try:
                outcome = STEPS[step.do].run(cluster, **step.args)
            except ApiError as exc:
                if not step.may_fail or exc.args[0].startswith("inconclusive: "):
                    raise
                log.warning("%s failed, as it may: %s", step, exc)
                result.notes.append(f"{step}: {exc}")
                end["ok"] = False
                continue
            finally:
                ledger.ends()  # the tasks this step started are its own
            if step.do == "fault":
                ledger.armed.append(f"{step.args['host']}:{step.args['point']}")
            if isinstance(outcome, CheckResult):
                history.write("check", step=step.number, **outcome.to_dict())
                end["ok"] = outcome.ok
        if isinstance(outcome, CheckResult):
            result.last_check = outcome
            if not outcome.ok:
                log.error("%s failed: %s", step, "; ".join(outcome.diff()))
                return
    result.failed_step = None
    result.invariants = check_invariants(cluster.api.invariant_violations, config, cluster.settled)
    history.write("invariants", **result.invariants.to_dict())
    result.held = result.invariants.ok
    if not result.held:
        log.error("invariants violated: %s", "; ".join(result.invariants.violations))


def _judge(result: Result, cluster: Cluster, ledger: Ledger) -> None:
    """How every task ended, what happened to each hold, and what that makes the run."""
    record = cluster.hold_record()
    cluster.api.guard = lambda: None
    gave_up = {t["task"] for t in record.timeouts}
    if gave_up:  # a host that gave up a hold reports its task's end next: wait for it, briefly
        try:
            cluster.api.wait_for(
                "tasks that gave up a hold to end",
                lambda: all(t.state != "running" or t.id not in gave_up for t in ledger.ends()),
                cluster.config.timeouts.rpc,
            )
        except (ApiError, WaitTimeout):
            pass  # judged as they are: still running
    result.tasks, result.holds = ledger.ends(), record.snapshot()
    result.deadlock = ledger.deadlock
    found = [deadlock.describe(ledger.deadlock)] if ledger.deadlock else []
    result.inconclusive = (
        found
        + _unfired(cluster, ledger.armed)
        + verdict.reasons(result.tasks, result.holds, record.timeouts)
    )
    for line in result.inconclusive:
        log.error("inconclusive: %s", line)


def _unfired(cluster: Cluster, armed: list[str]) -> list[str]:
    """A kill the run armed that never fired: the run did not test what it set up."""
    fired = cluster.kills()
    return [
        f"the kill at {a} never fired"
        for a in map(parse_address, armed)
        if not any(a.matches(host, point) for host, point in fired)
    ]


def run(
    scenario: Scenario,
    config: Config,
    run_base: str | None = None,
    verbose: bool = False,
    keep: bool = False,
    observer: Callable[[Cluster], AbstractContextManager] | None = None,
    timeline: bool = False,
    cluster: Cluster | None = None,
    finish_with: Callable[[Result, Cluster], None] | None = None,
) -> Result:
    """Start the cluster, run every step, stop at the first failing one, then check the
    invariants; always tear down. The run directory is removed when everything held, unless
    ``keep``. ``observer`` (the explorer) runs alongside the steps, from start to checks.
    A failing run (a passing one too with ``timeline``) gets a timeline.html of its history.
    ``cluster``: one the caller made for this run from ``config`` (the explorer starts the next
    schedule's early); its directory is the run's, and its ``start`` is still called here.
    ``finish_with``: the teardown is the caller's, who must call ``finish`` (the explorer
    closes a schedule's cluster while the next one runs); the result is judged already."""
    if cluster is None:
        if run_base:
            Path(run_base).mkdir(parents=True, exist_ok=True)
        run_dir = tempfile.mkdtemp(prefix=f"testbed-{scenario.name}-", dir=run_base)
        cluster = Cluster(config, Path(run_dir), verbose, recorder=recorder.for_run)
    result = Result(scenario.name, config.cluster.tracker, str(cluster.run_dir))
    started = time.monotonic()
    ledger = Ledger(cluster)
    cluster.api.guard = ledger.guard
    try:
        try:
            cluster.start()
            with observer(cluster) if observer else nullcontext():
                _steps(scenario, config, cluster, result, ledger)
        except (ApiError, WaitTimeout) as exc:
            result.error = str(exc)
            log.error("%s failed: %s", result.failed_step, exc)
        finally:
            _end(result, cluster, ledger)
    except BaseException:  # torn down here, whoever was to do it
        finish(result, cluster, timeline or not result.ok, keep or not result.ok)
        raise
    result.duration = time.monotonic() - started
    if finish_with is not None:
        finish_with(result, cluster)
    else:
        finish(result, cluster, timeline or not result.ok, keep or not result.ok)
        result.duration = time.monotonic() - started
    return result


def _end(result: Result, cluster: Cluster, ledger: Ledger) -> None:
    """How the run ended, read while its cluster still runs."""
    try:
        result.allocations = cluster.api.allocations()
        _judge(result, cluster, ledger)
    except Exception as exc:  # the state may be unreadable after an interrupted start
        log.warning("could not read how the run ended: %s", exc)
    # an access outside a footprint: the explorer may have missed races, the run fails
    wrong = cluster.conductor.footprint_violations()
    if wrong:
        result.error, result.held = wrong[0], False
    result.footprint_hints = cluster.conductor.footprint_hints()
    result.pids = cluster.pids()
    result.pid_history = {h: list(p) for h, p in cluster.supervisor.history.items()}
    failed = str(result.failed_step) if result.failed_step else None
    cluster.history.write(
        "outcome", ok=result.ok, outcome=result.outcome, error=result.error, failed_step=failed
    )


def finish(result: Result, cluster: Cluster, timeline: bool, keep: bool) -> None:
    """Close the run's cluster; draw its history as timeline.html when ``timeline`` (the page
    is worth nothing without its run directory, which is then kept); remove the run directory
    unless ``keep``. ``run`` keeps a run that did not pass (it is the evidence); the explorer
    keeps one per group of losing schedules (the others replay from their files)."""
    if not (keep or timeline):
        cluster.history.discard()  # nobody will read it
        cluster.runlog.discard()
    cluster.close()
    if cluster.history.enabled and timeline:
        from orchestrator.history.timeline import write_page

        try:
            result.timeline = str(write_page(cluster.run_dir))
            keep = True
        except Exception:  # a page that cannot be drawn must not hide the run's outcome
            log.exception("could not write the timeline of %s", cluster.run_dir)
    if not keep:
        shutil.rmtree(cluster.run_dir, ignore_errors=True)
        result.kept = False
