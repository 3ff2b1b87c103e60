"""The explorer: runs a scenario once per schedule, deciding which host task goes next.

On every explored host (all of the scenario's, unless restricted) each conductor request a
task is about to send and each request for the host's lock is a scheduling point, held until
the explorer picks it, and so is each idle periodic thread's timer (``timers``: a fire is a
choice too). What each step touches comes from the conductor operation's declared
footprint (``orchestrator.cluster.footprint``); nobody lists the steps that matter. The strategy
(dynamic partial-order reduction by default) sees every held step with its footprint and runs
one schedule per class of equivalent interleavings.

The explorer decides only when every running task of the explored hosts is held and the
scenario waits, so the order of decisions depends on nothing but the choices: a schedule
replays. Each schedule runs on a fresh cluster; a losing one is written as a replay file.

It holds and releases only through the gate the cluster gives it (``Cluster.gate``), and must
not change the scenario or its checks: the same choices make the same run.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from orchestrator.cluster.cluster import Cluster
from orchestrator.cluster.footprint import LOCKS, lock
from orchestrator.explore.findings import Group, group_by_signature
from orchestrator.explore.prestart import Prestart
from orchestrator.explore.replays import write_replay
from orchestrator.explore.strategies import Diverged, Option, Strategy, dependent
from orchestrator.explore.timers import Timers
from orchestrator.explore.timers import footprint as fire_footprint
from orchestrator.holds.board import Trace
from orchestrator.holds.deadlock import describe
from orchestrator.holds.explorer_policy import ExplorerPolicy
from orchestrator.run import runner
from orchestrator.run.runner import Result
from orchestrator.run.scenario import Scenario
from orchestrator.run.verdict import FAIL, INCONCLUSIVE
from testbed.config import Config
from testbed.errors import ConfigError
from testbed.fixes import slug
from testbed.vocabulary import Event, TaskStatus

log = logging.getLogger("testbed.explorer")
DEADLOCK = "deadlock"  # a schedule's outcome when its tasks wait on each other in a cycle


@dataclass(frozen=True)
class Release:
    """One released step of a schedule: which option went, on which host, after which point."""

    option: Option
    host: str
    point: str  # the last injection point its task passed ("" before the first)
    locked: bool  # its task held its host's lock when it went
    call: str = ""  # the system's name for the request, if it names them (Instance.save)
    step: int = 0  # the scenario's step that was running (where a fire goes in a scenario)

    @property
    def name(self) -> str:
        """How the racing line names it: the call at its point, or the point."""
        return f"{self.call}@{self.point}" if self.call and self.point else self.call or self.point

    def races(self, other: Release) -> bool:
        """Dependent, and not merely ordered by one lock both hold."""
        same_lock = self.locked and other.locked and self.host == other.host
        return dependent(self.option, other.option) and not same_lock


@dataclass
class Schedule:
    number: int
    steps: list[Release]
    result: Result
    replay: str | None = None
    # process -> the decision at which it was first ready to go: its task was alive from then
    seen: dict[str, int] = field(default_factory=dict)
    timeline: str | None = None  # the losing run's timeline.html, beside its replay file

    @property
    def order(self) -> list[str]:
        return [s.option.label for s in self.steps]

    @property
    def ok(self) -> bool:
        return self.result.ok

    def groups(self) -> list[list[Release]]:
        """The steps, grouped by tasks whose lifetimes overlap in this schedule (a task lives
        from the first decision at which it was ready to go): tasks in different groups were
        ordered by the scenario itself (it waited for one to finish before it started the
        other), so only steps within a group can be reordered."""
        span: dict[str, list[int]] = {}
        for i, s in enumerate(self.steps):
            start = min(self.seen.get(s.option.process, i), i)
            span.setdefault(s.option.process, [start, i])[1] = i
        groups: list[list[Release]] = []
        end = -1
        for i, s in enumerate(self.steps):
            if i > end:
                groups.append([])
            groups[-1].append(s)
            # a task ready (alive) since before this step overlaps it, even if it goes later
            end = max([end] + [last for first, last in span.values() if first <= i])
        return groups

    @property
    def outcome(self) -> str:
        """The run's, or ``deadlock`` when its tasks ended up waiting on each other."""
        return DEADLOCK if self.result.deadlock else self.result.outcome

    @property
    def deadlock(self) -> str:
        return describe(self.result.deadlock) if self.result.deadlock else ""

    @property
    def line(self) -> str:
        """The order of the state accesses that race with one of another task (lock requests
        and accesses ordered by one lock both hold left out), by the points they follow (and
        the calls, where the system names them)."""
        return self._line(Release.races) or self._line(lambda s, o: dependent(s.option, o.option))

    def _line(self, related: Callable[[Release, Release], bool]) -> str:
        # ``races`` first; when the lock orders every dependent pair (one critical section
        # before another decides the outcome), the dependent pairs it orders
        names: list[str] = []
        for group in self.groups():
            for s in group:
                racing = s.option.accesses[0].table != LOCKS and any(
                    related(s, o)
                    for o in group
                    if o.option.accesses[0].table != LOCKS and o.option.process != s.option.process
                )
                if racing and s.name and s.name not in names:
                    names.append(s.name)
        return " < ".join(names)

    @property
    def interleavings(self) -> int:
        """How many orders of these steps there are within each group of overlapping tasks,
        ignoring the lock: an upper bound on what exploring without reduction would run."""
        total = 1
        for group in self.groups():
            counts: dict[str, int] = {}
            for s in group:
                counts[s.option.process] = counts.get(s.option.process, 0) + 1
            n = math.factorial(sum(counts.values()))
            for k in counts.values():
                n //= math.factorial(k)
            total *= n
        return total

    @property
    def final_state(self) -> str:
        return json.dumps([self.result.outcome, self.result.allocations], sort_keys=True)


@dataclass
class Summary:
    scenario: str
    tracker: str
    hosts: list[str]
    strategy: str = "dpor"
    schedules: list[Schedule] = field(default_factory=list)
    seconds: float = 0.0
    error: str | None = None

    @property
    def losing(self) -> list[Schedule]:
        return [s for s in self.schedules if s.outcome == FAIL]

    @property
    def deadlocks(self) -> list[Schedule]:
        """Schedules whose tasks ended up waiting on each other in a cycle: a finding."""
        return [s for s in self.schedules if s.outcome == DEADLOCK]

    @property
    def inconclusive(self) -> list[Schedule]:
        """Schedules that did not run as chosen (a task failed, a hold timed out): they
        neither lose nor win."""
        return [s for s in self.schedules if s.outcome == INCONCLUSIVE]

    @property
    def groups(self) -> list[Group]:
        """The losing schedules by signature: what failed, after which racing accesses."""
        return group_by_signature(self.losing)

    @property
    def interleavings(self) -> int:
        """Without reduction, at most this many schedules (see ``Schedule.interleavings``)."""
        return max((s.interleavings for s in self.schedules), default=0)

    def to_dict(self) -> dict[str, Any]:
        runs = len(self.schedules)
        return {
            "scenario": self.scenario,
            "tracker": self.tracker,
            "hosts": self.hosts,
            "strategy": self.strategy,
            "schedules": runs,
            "losing": len(self.losing),
            "groups": [g.to_dict() for g in self.groups],
            "final_states": len({s.final_state for s in self.schedules}),
            "interleavings_bound": self.interleavings,
            "reduction": round(self.interleavings / runs, 1) if runs else None,
            "replays": [s.replay for s in self.losing],
            "timelines": [s.timeline for s in self.losing],
            "losing_orders": [s.line for s in self.losing],
            "deadlocks": len(self.deadlocks),
            "deadlock_cycles": [s.deadlock for s in self.deadlocks],
            "deadlock_replays": [s.replay for s in self.deadlocks],
            "inconclusive": len(self.inconclusive),
            "inconclusive_reasons": [s.result.inconclusive for s in self.inconclusive],
            "seconds": round(self.seconds, 3),
            "schedules_per_second": round(runs / self.seconds, 1) if self.seconds else None,
            "error": self.error,
        }


class Driver:
    """Runs beside the scenario's steps (a runner observer) and makes the decisions."""

    def __init__(self, cluster: Cluster, hosts: list[str], strategy: Strategy, tick: float):
        self.cluster, self.hosts, self.strategy, self.tick = cluster, hosts, strategy, tick
        c = cluster.config.cluster
        self.timers = Timers(c.timer_fires, c.audit_interval, cluster.supervisor.pid)
        # the order of the hosts' conductor and lock requests is ours: each is held until
        # released here (the hosts must be traced)
        self.gate = ExplorerPolicy(cluster.board, cluster.conductor.wake, hosts)
        cluster.board.install([cluster.api.known(h) for h in hosts], self.gate)
        # a system that names its requests (the history's ``describe``) names the steps too
        self.describe = getattr(cluster.system, "describe", None)
        self.steps: list[Release] = []
        self.seen: dict[str, int] = {}
        self.error: str | None = None
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="explorer", daemon=True)

    def __enter__(self) -> Driver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(5)
        wrong = self.cluster.conductor.footprint_violations()  # the strategy trusted them
        if wrong and self.error is None:
            self.error = wrong[0]

    def _roles(self) -> dict[str, str]:
        """Task id -> ``host:op`` (``op#n`` from a host's second task of an op on), in
        creation order: the same in every run of the scenario."""
        roles = {}
        for host in self.hosts:
            seen: dict[str, int] = {}
            for t in self.cluster.state.tasks(host):
                seen[t["op"]] = seen.get(t["op"], 0) + 1
                n = seen[t["op"]]
                roles[t["id"]] = f"{host}:{t['op']}" + ("" if n == 1 else f"#{n}")
        return roles

    def _step(self, t: Trace, process: str) -> Release:
        call = ""
        if t.event == Event.REQUEST:
            accesses = tuple(self.cluster.conductor.footprint(t.op, t.body or {}))
            if self.describe is not None and t.op in self.cluster.system.ops:
                call = self.describe(t.op, t.body or {}, None, None).get("call", "")
        elif t.event == Event.TIMER:
            accesses = fire_footprint(t.host)
        else:
            accesses = (lock(t.host),)
        label = f"{call}@{t.point}" if call else t.label
        option = Option(f"{process}:{label}", process, accesses)
        step = self.cluster.history.current_step
        return Release(option, t.host, t.point, self.gate.holds_lock(t), call, step)

    def _ready(self) -> list[tuple[Release, Trace]]:
        """(step, task) of what may go, when every live task is held; else []."""
        if not self.cluster.api.waiting():
            return []
        live = [h for h in self.hosts if self.cluster.alive(h)]
        # the tasks table says which tasks still run (a killed incarnation's are over); the
        # board adds the host's own threads that are no task of the API's (periodic audits)
        known = {t["id"]: t for h in live for t in self.cluster.state.tasks(h)}
        running = {i for i, t in known.items() if t["state"] == TaskStatus.RUNNING}
        own = [t for h in live for t in self.gate.live(h) if t.task not in known]
        running |= {t.task for t in own if not self.timers.stale(t)}
        if not running or not self.gate.at_rest(running):
            return []
        if not self.timers.seen(live, {t.task for t in own}):
            return []
        roles = self._roles()
        held = self.timers.offer([(t, t) for t in self.gate.options() if t.task in running])
        ready = [(self._step(t, roles.get(t.task) or self.timers.role(t)), t) for t, _ in held]
        # still waiting, on the same tasks: the scenario may have gone on between the looks
        # (a task ended, the next not started yet), which only an idle timer would not show
        again = {t["id"] for h in live for t in self.cluster.state.tasks(h)}
        if not self.cluster.api.waiting() or again != set(known):
            return []
        return sorted(ready, key=lambda r: r[0].option.label)

    def _loop(self) -> None:
        try:
            while not self.stop.is_set():
                ready = self.gate.watch(self._ready, self.tick)
                if not ready:
                    continue
                i = self.strategy.choose([s.option for s, _ in ready])
                for step, _ in ready:
                    self.seen.setdefault(step.option.process, len(self.steps))
                self.steps.append(ready[i][0])
                self.timers.release(ready[i][1])
                self.gate.release(ready[i][1].task)
        except Diverged as exc:
            self.error = str(exc)
            self.cluster.api.abort_waits(f"explorer: {exc}")
        except Exception as exc:  # a bug here must end the run, not hang it until timeouts
            log.exception("explorer failed")
            self.error = f"{type(exc).__name__}: {exc}"
            self.cluster.api.abort_waits(f"explorer: {self.error}")


TICK = 0.002


def _new_driver(
    out: list[Driver], hosts: list[str], strategy: Strategy, tick: float, cluster: Cluster
) -> Driver:
    out.append(Driver(cluster, hosts, strategy, tick))
    return out[-1]


def explore_config(config: Config, hosts: list[str] | None = None, timer_fires: int = 1) -> Config:
    """The scenario's configuration with the explored hosts traced, and no delays, holds or
    faults: the explorer alone decides the order there. Their periodic audits fire when the
    explorer says, at most ``timer_fires`` times each per schedule (0: never; scenarios then
    trigger their audits with the ``audit`` step)."""
    if timer_fires < 0:
        raise ConfigError(f"--timer-fires must be 0 or more, got {timer_fires}")
    for host in hosts or []:
        if host not in config.cluster.hosts:
            known = ", ".join(config.cluster.hosts)
            raise ConfigError(f"explore: unknown host '{host}' (hosts: {known})")
    config = copy.deepcopy(config)
    config.cluster.trace = list(hosts or config.cluster.hosts)
    config.delays, config.holds, config.faults = {}, {}, {}
    config.cluster.timer_fires = timer_fires
    if not timer_fires:
        config.cluster.audit_interval = 0.0
    return config


def explore(
    scenario: Scenario,
    config: Config,
    strategy: Strategy,
    hosts: list[str] | None = None,
    out_dir: Path | None = None,
    run_base: str | None = None,
    progress: Callable[[Schedule], None] | None = None,
    strategy_name: str = "dpor",
    prestart: bool = True,
    first: bool = False,
    timer_fires: int = 0,
    max_schedules: int | None = None,
) -> Summary:
    """Run the scenario once per schedule ``strategy`` asks for (``first``: until one
    loses; ``max_schedules``: at most that many), losing schedules written to ``out_dir`` as
    replay files and timelines. ``prestart``: each schedule's cluster is started while the one
    before runs (``orchestrator.explore.prestart``); False starts each when its schedule
    begins. ``timer_fires``: how often the explorer may fire each host's periodic audit."""
    config = explore_config(config, hosts, timer_fires)
    hosts = config.cluster.trace
    summary = Summary(scenario.name, config.cluster.tracker, hosts, strategy_name)
    started = time.monotonic()
    early = Prestart(scenario.name, config, run_base) if prestart else None
    while (max_schedules is None or len(summary.schedules) < max_schedules) and strategy.next_run():
        drivers: list[Driver] = []
        # The driver is woken by every report, not by the runner starting to wait: it looks
        # again this often (cheap: nothing is read while no caller waits).
        tick = min(TICK, config.timeouts.heartbeat_interval)
        observer = partial(_new_driver, drivers, hosts, strategy, tick)
        cluster = early.take() if early else None
        result = runner.run(scenario, config, run_base, observer=observer, cluster=cluster)
        driver = drivers[0] if drivers else None
        sched = Schedule(len(summary.schedules) + 1, driver.steps if driver else [], result)
        sched.seen = driver.seen if driver else {}
        summary.schedules.append(sched)
        if driver and driver.error:
            summary.error = driver.error
            break
        if sched.outcome in (FAIL, DEADLOCK) and out_dir is not None:
            out_dir.mkdir(parents=True, exist_ok=True)
            name = f"{scenario.name}-{slug(config.cluster.fixes)}-{sched.number:04d}.toml"
            sched.replay = write_replay(
                out_dir / name,
                scenario.name,
                summary.tracker,
                hosts,
                sched.order,
                sched.line,
                sched.ok,
                config.cluster.fixes,
                timer_fires,
                [str(w) for w in result.deadlock],
            )
            if result.timeline:
                sched.timeline = str(out_dir / f"{name[:-5]}.html")
                shutil.copyfile(result.timeline, sched.timeline)
        if progress:
            progress(sched)
        if first and sched.outcome == FAIL:
            break
    if early:
        early.close()  # the cluster started for a schedule that never came
    summary.seconds = time.monotonic() - started
    return summary
