"""From a losing schedule to a regression test: the fewest holds (``[holds]``) that still
make the run lose, written back as a scenario file.

A losing schedule orders every step of every task. The holds that can matter are those
between dependent steps of different tasks (their footprints meet); each becomes a candidate
``[holds]`` rule: hold the later step's point until the earlier step's point has passed.
Delta debugging (Zeller and Hildebrandt, "Simplifying and isolating failure-inducing input",
2002) then removes candidates while the run still loses. A schedule in which the explorer fired
a host's periodic audit is tried two ways, the first that reproduces it kept: an ``audit`` step
(without waiting) before the step during which it fired, with periodic audits off; or the
periodic audit itself, which the holds then order. This module only decides and writes:
running a scenario is the caller's ``test``.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from orchestrator.explore.strategies import dependent
from orchestrator.explore.timers import is_fire
from orchestrator.run.toml_writer import scenario_toml
from testbed import fixes
from testbed.config import Config

if TYPE_CHECKING:
    from orchestrator.explore.explorer import Schedule
    from orchestrator.run.scenario import Scenario

log = logging.getLogger("testbed.minimize")
RELIABLE = (3, 8, 20)  # a candidate set loses when each of this many runs loses (stricter)
CONFIRM = 10  # the result is run this many times with each tracker

T = TypeVar("T")


def ddmin(items: Sequence[T], fails: Callable[[list[T]], bool]) -> list[T]:
    """A 1-minimal subset of ``items`` for which ``fails`` still holds (``fails(items)`` must):
    removing any one more item makes it pass."""
    if fails([]):
        return []
    current, n = list(items), 2
    while len(current) >= 2:
        size = len(current) // n
        chunks = [current[i : i + size] for i in range(0, len(current), size)]
        for chunk in chunks:
            if fails(chunk):  # a subset alone still fails
                current, n = chunk, 2
                break
        else:
            for k in range(len(chunks)):
                rest = [x for j, c in enumerate(chunks) if j != k for x in c]
                if fails(rest):  # the complement of one chunk still fails
                    current, n = rest, max(n - 1, 2)
                    break
            else:
                if n >= len(current):
                    break
                n = min(n * 2, len(current))
    return current


def candidates(schedule: Schedule) -> list[tuple[str, str]]:
    """(held point, point it waits for) for every dependent pair of steps of different tasks,
    in the order the schedule ran them: hold the later step's point until the earlier step's
    point has passed. Steps before their task's first point cannot be addressed and are left
    out."""
    out: list[tuple[str, str]] = []
    for steps in schedule.groups():  # tasks the scenario itself ordered need no rule
        for j, b in enumerate(steps):
            for a in steps[:j]:
                _candidate(a, b, out)
    return out


def _candidate(a: Any, b: Any, out: list[tuple[str, str]]) -> None:
    if not (a.point and b.point and dependent(a.option, b.option)):
        return
    rule = (f"{b.host}:{b.point}", f"{a.host}:{a.point}")
    if rule[0] != rule[1] and rule not in out:
        out.append(rule)


def holds_table(rules: list[tuple[str, str]]) -> dict[str, list[str]]:
    table: dict[str, list[str]] = {}
    for point, after in rules:
        table.setdefault(point, []).append(after)
    return table


def _with_holds(config: Config, rules: list[tuple[str, str]], on: list[str]) -> Config:
    config = copy.deepcopy(config)
    config.delays, config.faults, config.holds = {}, {}, holds_table(rules)
    config.cluster.fixes, config.cluster.tracker = list(on), fixes.label(on)
    config.cluster.trace = []
    config.timeouts.hold = min(config.timeouts.hold, 1.0)  # an impossible order fails fast
    return config


def fire_variants(
    scenario: Scenario, config: Config, schedule: Schedule
) -> list[tuple[Scenario, Config, str]]:
    """(scenario, config, how) that make the schedule's timer fires happen with no explorer."""
    from orchestrator.run.scenario import Step

    fires = [s for s in schedule.steps if is_fire(s.option.label)]
    if not fires:
        return [(scenario, config, "")]
    steps = [copy.copy(s) for s in scenario.steps]
    for f in sorted(fires, key=lambda f: f.step, reverse=True):
        at = next((i for i, s in enumerate(steps) if s.number == f.step), len(steps))
        steps.insert(at, Step(0, "audit", {"host": f.host, "wait": False}))
    for n, s in enumerate(steps, 1):
        s.number = n
    audited = copy.deepcopy(config)
    audited.cluster.audit_interval = 0.0
    stepped = dataclasses.replace(scenario, steps=steps)
    return [(stepped, audited, "audit step"), (scenario, config, "periodic audit")]


def emit_scenario(
    scenario: Scenario, config: Config, schedule: Schedule, out_dir: Path
) -> dict[str, Any]:
    """The first way of its timer fires (``fire_variants``) that reproduces the schedule."""
    found: dict[str, Any] = {}
    for variant, conf, how in fire_variants(scenario, config, schedule):
        found = _emit(variant, conf, schedule, out_dir, scenario.name) | {"fires_as": how}
        if found["ok"]:
            break
    return found


def _emit(
    scenario: Scenario, config: Config, schedule: Schedule, out_dir: Path, name: str
) -> dict[str, Any]:
    """Minimise ``schedule`` (which lost) to the fewest holds that still make the run
    lose with the fixes it was explored with (``buggy`` below), check them with every fix on
    (``fixed``), and write the scenario file."""
    from orchestrator.run import runner

    base = tempfile.mkdtemp(prefix="testbed-minimize-")
    explored = list(config.cluster.fixes)

    def outcome(rules: list[tuple[str, str]], on: list[str]) -> str:
        result = runner.run(scenario, _with_holds(config, rules, on), base)
        return result.outcome

    def loses(rules: list[tuple[str, str]], times: int) -> bool:
        # holds decide only what they name; a set that loses by luck is no regression test
        # (no hold at all must lose as often as the result is confirmed: it is the set
        # that luck alone makes lose most easily)
        runs = times if rules else CONFIRM
        return all(outcome(rules, explored) == "fail" for _ in range(runs))

    every = candidates(schedule)
    for times in RELIABLE:  # a set that lost by luck fails its confirmation: again, stricter
        rules = ddmin(every, lambda rules, times=times: loses(rules, times))
        buggy = [outcome(rules, explored) for _ in range(CONFIRM)]
        if buggy.count("fail") == CONFIRM:
            break
    fixed = [outcome(rules, list(fixes.ALL)) for _ in range(CONFIRM)]
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}-minimal-{schedule.number:04d}.toml"
    raw = {k: dict(v) for k, v in scenario.config.items() if k not in ("delays", "faults", "holds")}
    raw["cluster"] = raw.get("cluster", {}) | {"audit_interval": config.cluster.audit_interval}
    text = scenario_toml(
        f"{name}-minimal",
        f"{name}, reduced by testbed explore to {len(rules)} hold(s)",
        {"buggy": "fail", "fixed": "pass"},
        raw | {"holds": holds_table(rules)},
        [{"do": s.do, **s.args} for s in scenario.steps],
        bug=scenario.bug,
        comment=[
            f"Written by testbed explore from a losing schedule of '{name}':",
            f"  {schedule.line}",
            "Each hold below is needed: without any one of them the run with",
            f"fixes '{fixes.label(explored)}' no longer loses. No delays.",
        ],
    )
    path.write_text(text)
    log.info("wrote %s (%d holds)", path, len(rules))
    return {
        "path": str(path),
        "holds": holds_table(rules),
        "buggy": f"fail {buggy.count('fail')}/{CONFIRM}",
        "fixed": f"pass {fixed.count('pass')}/{CONFIRM}",
        "ok": buggy.count("fail") == CONFIRM and fixed.count("pass") == CONFIRM,
    }
