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

It holds and releases only through the policy it installs on the cluster's hold board, and must
not change the scenario or its checks: the same choices make the same run.
"""

from __future__ import annotations

import copy
import logging
import shutil
import threading
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from orchestrator.cluster.cluster import Cluster
from orchestrator.cluster.footprint import lock
from orchestrator.explore.findings import Signature, signature
from orchestrator.explore.prestart import Prestart, Worker
from orchestrator.explore.replays import write_replay
from orchestrator.explore.schedule import DEADLOCK, Release, Schedule, Summary
from orchestrator.explore.strategies import Diverged, Option, Strategy
from orchestrator.explore.timers import Timers
from orchestrator.explore.timers import footprint as fire_footprint
from orchestrator.holds.board import Trace
from orchestrator.holds.explorer_policy import ExplorerPolicy
from orchestrator.run import runner
from orchestrator.run.scenario import Scenario
from orchestrator.run.verdict import FAIL
from testbed import system
from testbed.config import Config
from testbed.errors import ConfigError
from testbed.fixes import slug
from testbed.vocabulary import Event, TaskStatus

log = logging.getLogger("testbed.explorer")


class Driver:
    """Runs beside the scenario's steps (a runner observer) and makes the decisions."""

    def __init__(
        self, cluster: Cluster, hosts: list[str], strategy: Strategy, tick: float, loops: Worker
    ) -> None:
        self.cluster, self.hosts, self.strategy, self.tick = cluster, hosts, strategy, tick
        self.loops = loops  # the thread its loop runs in, the exploration's (one per schedule
        # started, the schedules' thread waited about a millisecond for each)
        c = cluster.config.cluster
        self.timers = Timers(c.timer_fires, c.audit_interval, cluster.supervisor.pid)
        # the order of the hosts' conductor and lock requests is ours: each is held until
        # released here (the hosts must be traced)
        self.gate = ExplorerPolicy(cluster.board, cluster.conductor.wake, hosts)
        cluster.board.install([cluster.api.known(h) for h in hosts], self.gate)
        # a system that names its requests (the history's ``describe``) names the steps too
        self.describe = getattr(cluster.system, "describe", None)
        self.quiet = {*cluster.system.ops.names(), "service.heartbeat"}
        self.steps: list[Release] = []
        self.seen: dict[str, int] = {}
        self.error: str | None = None
        self.stop = threading.Event()
        self.nudged = threading.Event()
        self.looped = threading.Event()

    def __enter__(self) -> Driver:
        self.loops.submit(None, self._loop)
        # a decision is due only when something happened: the conductor's thread decides
        # after each request it serves (``now``), the scenario's as it begins to wait
        # (``waits``: decisions are made only while it waits); this loop looks every tick, for
        # what neither tells (time passing, a host's process ending)
        self.cluster.api.on_wait = self.waits
        self.cluster.conductor.after = self.now
        return self

    def __exit__(self, *exc: object) -> None:
        self.cluster.api.on_wait = None
        self.cluster.conductor.after = None
        self.stop.set()
        self.nudged.set()  # out of its wait now, not at the next tick
        self.looped.wait(5)
        wrong = self.cluster.conductor.footprint_violations()  # the strategy trusted them
        if wrong and self.error is None:
            self.error = wrong[0]

    def _roles(self, tasks: list[dict]) -> dict[str, str]:
        """Task id -> ``host:op`` (``op#n`` from a host's second task of an op on), in
        creation order (``tasks``: the tasks table): the same in every run of the scenario."""
        roles = {}
        seen: dict[tuple[str, str], int] = {}
        for t in tasks:
            if t["host"] in self.hosts:
                n = seen[t["host"], t["op"]] = seen.get((t["host"], t["op"]), 0) + 1
                roles[t["id"]] = f"{t['host']}:{t['op']}" + ("" if n == 1 else f"#{n}")
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
        option = Option(f"{process}:{label}", process, accesses, t.event == Event.TIMER)
        step = self.cluster.history.current_step
        return Release(option, t.host, t.point, self.gate.holds_lock(t), call, step)

    def _ready(self) -> list[tuple[Release, Trace]]:
        """(step, task) of what may go, when every live task is held and the scenario waits;
        else []. The board is looked at first: the scenario's waits read the state."""
        if not self.gate.options():  # nothing held that could go: nothing to decide
            return []
        live = [h for h in self.hosts if self.cluster.alive(h)]
        # the tasks table says which tasks still run (a killed incarnation's are over); the
        # board adds the host's own threads that are no task of the API's (periodic audits)
        tasks = self.cluster.state.tasks()
        known = {t["id"]: t for t in tasks if t["host"] in live}
        running = {i for i, t in known.items() if t["state"] == TaskStatus.RUNNING}
        own = [t for h in live for t in self.gate.live(h) if t.task not in known]
        running |= {t.task for t in own if not self.timers.stale(t)}
        if not running or not self.gate.at_rest(running):
            return []
        if not self.timers.seen(live, {t.task for t in own}) or not self.cluster.api.waiting():
            return []
        roles = self._roles(tasks)
        held = self.timers.offer([(t, t) for t in self.gate.options() if t.task in running])
        ready = [(self._step(t, roles.get(t.task) or self.timers.role(t)), t) for t, _ in held]
        # still waiting, on the same tasks: the scenario may have gone on between the looks
        # (a task ended, the next not started yet), which only an idle timer would not show.
        # Waiting first: a task made after the tasks are read again is made by a thread that
        # was no longer waiting when it was asked
        if not self.cluster.api.waiting():
            return []
        again = {t["id"] for t in self.cluster.state.tasks() if t["host"] in live}
        if again != set(known):
            return []
        return sorted(ready, key=lambda r: r[0].option.label)

    def _decide(self) -> bool:
        """One decision, if one is due: made under the board's lock (``watch``), so the
        driver's thread and the conductor's never decide at once."""
        ready = self._ready()
        if not ready:
            return False
        i = self.strategy.choose([s.option for s, _ in ready])
        for step, _ in ready:
            self.seen.setdefault(step.option.process, len(self.steps))
        self.steps.append(ready[i][0])
        self.timers.release(ready[i][1])
        self.gate.release(ready[i][1].task)
        return True

    def _loop(self) -> None:
        try:
            while not self.stop.is_set():
                self.gate.at_once(self._decide)
                self.nudged.wait(self.tick)
                self.nudged.clear()
        except Exception as exc:
            self._failed(exc)
        finally:
            self.looped.set()

    def now(self, op: str) -> None:
        """Called by the conductor's thread after each request it served (``op``): a decision
        due now is made there, and its reply sent at once, with no thread to wake in between.
        A task's own request (an operation of the system) or a heartbeat leaves a task
        running: no decision is due after it (the driver's thread looks again anyway)."""
        if op not in self.quiet:
            self.waits()

    def waits(self) -> None:
        """A decision due now, made in the calling thread: the conductor's (``now``), or the
        scenario's as it begins to wait (``API.on_wait``, without the state's lock), so that
        no other thread has to wake for it."""
        if self.stop.is_set() or self.error is not None:
            return
        try:
            self.gate.at_once(self._decide)
        except Exception as exc:
            self._failed(exc)

    def _failed(self, exc: Exception) -> None:
        if isinstance(exc, Diverged):
            self.error = str(exc)
            self.stop.set()
            self.cluster.api.abort_waits(f"explorer: {exc}")
            return
        # a bug here must end the run, not hang it until timeouts
        log.error("explorer failed", exc_info=exc)
        self.error = f"{type(exc).__name__}: {exc}"
        self.stop.set()
        self.cluster.api.abort_waits(f"explorer: {self.error}")


TICK = 0.002


def _new_driver(
    out: list[Driver],
    hosts: list[str],
    strategy: Strategy,
    tick: float,
    loops: Worker,
    cluster: Cluster,
) -> Driver:
    out.append(Driver(cluster, hosts, strategy, tick, loops))
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
    timer_fires: int | None = None,
    max_schedules: int | None = None,
) -> Summary:
    """Run the scenario once per schedule ``strategy`` asks for (``first``: until one
    loses; ``max_schedules``: at most that many), losing schedules written to ``out_dir`` as
    replay files and timelines. ``prestart``: each schedule's cluster is started while the one
    before runs (``orchestrator.explore.prestart``); False starts each when its schedule
    begins. ``timer_fires``: how often the explorer may fire each host's periodic audit
    (default: the configuration's ``explore.timer_fires``)."""
    if timer_fires is None:
        timer_fires = config.explore.timer_fires
    interval = config.cluster.audit_interval
    config = explore_config(config, hosts, timer_fires)
    hosts = config.cluster.trace
    summary = Summary(scenario.name, config.cluster.tracker, hosts, strategy_name)
    summary.timer_fires = timer_fires if interval > 0 else 0
    if interval > 0 and not timer_fires:  # not blind without saying so
        summary.timers_off = (
            f"the periodic audits (every {interval:g} s) never ran: explore.timer_fires is 0"
        )
    started = time.monotonic()
    prestart = prestart and system.orchestrator_system(config.cluster.system).overlap
    early = Prestart(scenario.name, config, run_base, eager=first) if prestart else None
    drawn: set[Signature] = set()  # the groups whose first schedule has its timeline
    loops = Worker("explorer", owner=None)  # the drivers' loops, one schedule's at a time
    try:
        while (
            max_schedules is None or len(summary.schedules) < max_schedules
        ) and strategy.next_run():
            drivers: list[Driver] = []
            tick = min(TICK, config.timeouts.heartbeat_interval)
            observer = partial(_new_driver, drivers, hosts, strategy, tick, loops)
            cluster = early.take() if early else None
            done: list[Cluster] = []
            result = runner.run(
                scenario,
                config,
                run_base,
                observer=observer,
                cluster=cluster,
                finish_with=lambda _, c, done=done: done.append(c),
            )
            if not drivers:  # its cluster did not start, and the next would not either
                summary.error = result.error or "the schedule's cluster did not start"
                keep = partial(runner.finish, result, done[0], False, True)  # why, in its log
                if early:
                    early.retire(done[0], keep)
                else:
                    keep()
                break
            driver = drivers[0]
            sched = Schedule(len(summary.schedules) + 1, driver.steps, result)
            sched.seen = driver.seen
            summary.schedules.append(sched)
            failed = driver.error
            written = sched.outcome in (FAIL, DEADLOCK) and out_dir is not None and not failed
            replay = None
            if written:
                out_dir.mkdir(parents=True, exist_ok=True)
                name = f"{scenario.name}-{slug(config.cluster.fixes)}-{sched.number:04d}"
                replay = partial(
                    write_replay,
                    out_dir / f"{name}.toml",
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
            teardown = partial(_teardown, sched, done[0], _evidence(sched, drawn), replay)
            if early:
                early.retire(done[0], teardown)  # while the next schedule runs
            else:
                teardown()
            if failed:
                summary.error = failed
                break
            if progress:
                progress(sched)
            if first and sched.outcome == FAIL:
                break
    finally:
        loops.close()
        if early:
            early.close()  # every teardown done; the cluster started for no schedule closed
    summary.seconds = time.monotonic() - started
    return summary


def _evidence(sched: Schedule, drawn: set[Signature]) -> bool:
    """Whether the schedule's run directory is kept and drawn as a timeline: one that did not
    pass, except a losing one of a group already drawn (its replay file stands for it)."""
    if sched.outcome == FAIL:
        new = signature(sched) not in drawn
        drawn.add(signature(sched))
        return new
    return not sched.ok


def _teardown(
    sched: Schedule, cluster: Cluster, evidence: bool, replay: Callable[[], str] | None
) -> None:
    """Close the schedule's cluster; write its replay file (``replay``), and beside it its
    timeline when it is evidence."""
    runner.finish(sched.result, cluster, evidence, evidence)
    if replay is not None:
        sched.replay = replay()
        if sched.result.timeline:
            sched.timeline = sched.replay[: -len(".toml")] + ".html"
            shutil.copyfile(sched.result.timeline, sched.timeline)
