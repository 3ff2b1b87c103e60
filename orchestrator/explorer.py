"""The explorer: runs a scenario once per schedule, deciding who goes next on one host.

Every lock request and every step that touches what the other path reads or writes
(``holds.VISIBLE``) is held on the explored host; the other points commute and run on. The
explorer decides only when its host is at rest (every running task is held) and the scenario
waits, so the order of decisions depends on nothing but the choices: a schedule replays.
Each schedule runs on a fresh cluster; a losing one is written as a replay file.
"""

from __future__ import annotations

import copy
import logging
import threading
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from orchestrator import runner
from orchestrator.cluster import Cluster
from orchestrator.runner import Result
from orchestrator.scenario import Scenario
from orchestrator.strategies import Diverged, Strategy
from testbed.config import Config
from testbed.errors import ConfigError

log = logging.getLogger("testbed.explorer")


@dataclass
class Schedule:
    number: int
    order: list[str]
    result: Result
    replay: str | None = None

    @property
    def ok(self) -> bool:
        return self.result.ok

    @property
    def line(self) -> str:
        """The order of the steps that matter, as one line (lock grants left out)."""
        return " < ".join(lbl.split(":", 1)[1] for lbl in self.order if not lbl.endswith(":lock"))


@dataclass
class Summary:
    scenario: str
    tracker: str
    host: str
    schedules: list[Schedule] = field(default_factory=list)
    seconds: float = 0.0
    error: str | None = None

    @property
    def losing(self) -> list[Schedule]:
        return [s for s in self.schedules if not s.ok]

    def to_dict(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "tracker": self.tracker,
            "host": self.host,
            "schedules": len(self.schedules),
            "losing": len(self.losing),
            "replays": [s.replay for s in self.losing],
            "losing_orders": [s.line for s in self.losing],
            "seconds": round(self.seconds, 3),
            "error": self.error,
        }


class Driver:
    """Runs beside the scenario's steps (a runner observer) and makes the decisions."""

    def __init__(self, cluster: Cluster, host: str, strategy: Strategy, tick: float) -> None:
        self.cluster, self.host, self.strategy, self.tick = cluster, host, strategy, tick
        self.board = cluster.conductor.board
        self.board.explored.add(host)
        self.order: list[str] = []
        self.error: str | None = None
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="explorer", daemon=True)

    def __enter__(self) -> Driver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(5)

    def _roles(self) -> dict[str, str]:
        """Task id -> ``op`` (``op#n`` from the second task of an op on), in creation order."""
        roles, seen = {}, {}
        for t in self.cluster.state.tasks(self.host):
            seen[t["op"]] = seen.get(t["op"], 0) + 1
            roles[t["id"]] = t["op"] + ("" if seen[t["op"]] == 1 else f"#{seen[t['op']]}")
        return roles

    def _ready(self) -> list[tuple[str, str]]:
        """(label, task) of the steps that may go, when the host is at rest; else []."""
        if not self.cluster.api.waiting:
            return []
        running = {t["id"] for t in self.cluster.state.tasks_running(self.host)}
        if not running or not self.board.at_rest(running):
            return []
        roles = self._roles()
        return sorted((f"{roles[t.task]}:{t.label}", t.task) for t in self.board.options(self.host))

    def _loop(self) -> None:
        try:
            while not self.stop.is_set():
                with self.board.cond:
                    ready = self._ready()
                    if not ready:
                        self.board.cond.wait(self.tick)
                        continue
                labels = [label for label, _ in ready]
                i = self.strategy.choose(labels)
                self.order.append(labels[i])
                self.board.release(ready[i][1])
                self.cluster.conductor.wake()
        except Diverged as exc:
            self.error = str(exc)
            self.cluster.api.abort = f"explorer: {exc}"


TICK = 0.002


def _new_driver(
    out: list[Driver], host: str, strategy: Strategy, tick: float, cluster: Cluster
) -> Driver:
    out.append(Driver(cluster, host, strategy, tick))
    return out[-1]


def explore_config(config: Config, host: str) -> Config:
    """The scenario's configuration with the explored host traced, and no delays, orderings
    or faults: the explorer alone decides the order there."""
    if host not in config.cluster.hosts:
        known = ", ".join(config.cluster.hosts)
        raise ConfigError(f"explore: unknown host '{host}' (hosts: {known})")
    config = copy.deepcopy(config)
    config.cluster.trace = [host]
    config.delays, config.holds, config.faults = {}, {}, {}
    return config


def default_host(scenario: Scenario) -> str:
    """The destination of the scenario's first evacuation."""
    for step in scenario.steps:
        if step.do == "evacuate" and step.args.get("to"):
            return step.args["to"]
    raise ConfigError(
        f"explore: scenario '{scenario.name}' has no evacuate step with 'to'; "
        "name the host to explore with --host"
    )


def write_replay(path: Path, scenario: str, tracker: str, host: str, sched: Schedule) -> str:
    lines = [
        f'scenario = "{scenario}"',
        f'tracker = "{tracker}"',
        f'host = "{host}"',
        f'outcome = "{"pass" if sched.ok else "fail"}"',
        f"# {sched.line}",
        "order = [",
    ]
    lines += [f'    "{label}",' for label in sched.order] + ["]", ""]
    path.write_text("\n".join(lines))
    return str(path)


def read_replay(path: str) -> dict[str, Any]:
    try:
        with open(path, "rb") as fh:
            doc = tomllib.load(fh)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read replay file '{path}': {exc}") from None
    for key in ("scenario", "tracker", "host", "order"):
        if key not in doc:
            raise ConfigError(f"replay file '{path}': missing key '{key}'")
    if not isinstance(doc["order"], list) or not all(isinstance(x, str) for x in doc["order"]):
        raise ConfigError(f"replay file '{path}': 'order' must be a list of steps")
    return doc


def explore(
    scenario: Scenario,
    config: Config,
    host: str,
    strategy: Strategy,
    out_dir: Path | None = None,
    run_base: str | None = None,
    progress: Callable[[Schedule], None] | None = None,
) -> Summary:
    config = explore_config(config, host)
    summary = Summary(scenario.name, config.cluster.tracker, host)
    started = time.monotonic()
    while strategy.next_run():
        drivers: list[Driver] = []
        # The driver is woken by every report, not by the runner starting to wait: it looks
        # again this often (cheap: nothing is read while no caller waits).
        tick = min(TICK, config.timeouts.heartbeat_interval)
        observer = partial(_new_driver, drivers, host, strategy, tick)
        result = runner.run(scenario, config, run_base, observer=observer)
        driver = drivers[0] if drivers else None
        sched = Schedule(len(summary.schedules) + 1, driver.order if driver else [], result)
        summary.schedules.append(sched)
        if driver and driver.error:
            summary.error = driver.error
            break
        if not sched.ok and out_dir is not None:
            out_dir.mkdir(parents=True, exist_ok=True)
            name = f"{scenario.name}-{summary.tracker}-{sched.number:04d}.toml"
            sched.replay = write_replay(out_dir / name, scenario.name, summary.tracker, host, sched)
        if progress:
            progress(sched)
    summary.seconds = time.monotonic() - started
    return summary
