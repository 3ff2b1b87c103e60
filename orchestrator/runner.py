"""Runs a scenario on a fresh cluster and says how it went."""

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

from orchestrator.checks import CheckResult
from orchestrator.cluster import Cluster
from orchestrator.invariants import InvariantResult, check_invariants
from orchestrator.scenario import Scenario, Step
from orchestrator.steps import STEPS
from testbed.config import Config
from testbed.errors import ApiError, WaitTimeout

log = logging.getLogger("testbed.runner")


@dataclass
class Result:
    scenario: str
    tracker: str
    run_dir: str
    ok: bool = False
    kept: bool = True
    duration: float = 0.0
    last_check: CheckResult | None = None
    invariants: InvariantResult | None = None
    failed_step: Step | None = None
    error: str | None = None
    allocations: dict[str, dict[str, int]] = field(default_factory=dict)
    pids: dict[str, int | None] = field(default_factory=dict)
    pid_history: dict[str, list[int]] = field(default_factory=dict)

    @property
    def outcome(self) -> str:
        return "pass" if self.ok else "fail"

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
            "error": self.error,
            "failed_step": str(self.failed_step) if self.failed_step else None,
            "check": self.last_check.to_dict() if self.last_check else None,
            "invariants": self.invariants.to_dict() if self.invariants else None,
        }


def _steps(scenario: Scenario, config: Config, cluster: Cluster, result: Result) -> None:
    """Every step in order; the first failing check ends the run; then the invariants."""
    for step in scenario.steps:
        log.info("%s", step)
        result.failed_step = step
        outcome = STEPS[step.do].run(cluster, **step.args)
        if isinstance(outcome, CheckResult):
            result.last_check = outcome
            if not outcome.ok:
                log.error("%s failed: %s", step, "; ".join(outcome.diff()))
                return
    result.failed_step = None
    result.invariants = check_invariants(cluster.api.invariant_violations, config, cluster.settled)
    result.ok = result.invariants.ok
    if not result.ok:
        log.error("invariants violated: %s", "; ".join(result.invariants.violations))


def run(
    scenario: Scenario,
    config: Config,
    run_base: str | None = None,
    verbose: bool = False,
    keep: bool = False,
    observer: Callable[[Cluster], AbstractContextManager] | None = None,
) -> Result:
    """Start the cluster, run every step, stop at the first failing one, then check the
    invariants; always tear down. The run directory is removed when everything held, unless
    ``keep``. ``observer`` (the explorer) runs alongside the steps, from start to checks."""
    if run_base:
        Path(run_base).mkdir(parents=True, exist_ok=True)
    run_dir = tempfile.mkdtemp(prefix=f"testbed-{scenario.name}-", dir=run_base)
    result = Result(scenario.name, config.cluster.tracker, run_dir)
    started = time.monotonic()
    cluster = Cluster(config, Path(run_dir), verbose)
    try:
        cluster.start()
        with observer(cluster) if observer else nullcontext():
            _steps(scenario, config, cluster, result)
    except (ApiError, WaitTimeout) as exc:
        result.error = str(exc)
        log.error("%s failed: %s", result.failed_step, exc)
    finally:
        try:
            result.allocations = cluster.api.allocations()
        except Exception:  # the state may be unreadable after an interrupted start
            pass
        result.pids = cluster.pids()
        result.pid_history = {h: list(p) for h, p in cluster.supervisor.history.items()}
        cluster.close()
        result.duration = time.monotonic() - started
    if result.ok and not keep:
        shutil.rmtree(run_dir, ignore_errors=True)
        result.kept = False
    return result
