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
import random
import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from orchestrator.explore.findings import failed
from orchestrator.explore.strategies import dependent
from orchestrator.explore.timers import is_fire
from orchestrator.holds.record import LOCK
from orchestrator.run.toml_writer import scenario_toml
from testbed import fixes
from testbed.config import Config
from testbed.points import POINTS

if TYPE_CHECKING:
    from orchestrator.explore.findings import Group
    from orchestrator.explore.schedule import Schedule
    from orchestrator.run.scenario import Scenario

log = logging.getLogger("testbed.minimize")
CONFIRM = 10  # a set of holds is kept when this many runs lose; the result passes as often fixed
JITTER = 0.002  # s: the most a shaken point sleeps in a run that confirms a set of holds loses
SHAKEN = 6  # points shaken in each such run, drawn anew each run
ATTEMPTS = 3  # schedules of one group minimised, at most, before it is reported unwritten

T = TypeVar("T")


@dataclasses.dataclass
class Tally:
    """What one exploration's minimising has seen, shared by its groups: per failure wanted
    and set of holds, the outcome of each run, in order (a set that once did not lose so is
    not run again); and whether the exploration ran the scenario through a schedule that did
    not lose (``passed``): then the scenario with no hold at all can pass, however often it
    lost in a row, and is never kept."""

    runs: dict[tuple[tuple[str, ...], frozenset[tuple[str, str]]], list[str]] = dataclasses.field(
        default_factory=dict
    )
    passed: bool = False


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


def _with_holds(
    config: Config,
    rules: list[tuple[str, str]],
    on: list[str],
    shake: int | None = None,
    racing: Sequence[str] = (),
) -> Config:
    """The scenario's configuration with these holds and fixes, and nothing else. ``shake``:
    ``SHAKEN`` points also sleep a little, drawn anew each seed (up to ``JITTER``), so that an
    order the holds leave to timing does not come out the same in every run by luck: drawn
    from ``racing`` (the points of the racing steps, where the order is decided) when given,
    else from every point of every host."""
    config = copy.deepcopy(config)
    config.delays, config.faults, config.holds = {}, {}, holds_table(rules)
    if shake is not None:
        rng = random.Random(shake)
        points = sorted(racing) or [f"{h}:{p}" for h in config.cluster.hosts for p in POINTS]
        chosen = rng.sample(points, min(SHAKEN, len(points)))
        config.delays = {a: rng.uniform(0, JITTER) for a in chosen}
    config.cluster.fixes, config.cluster.tracker = list(on), fixes.label(on)
    config.cluster.trace = []
    config.cluster.history = False  # runs only for their outcome: nothing to read afterwards
    config.timeouts.hold = min(config.timeouts.hold, 0.25)  # an impossible order fails fast
    return config


def emit_group(
    scenario: Scenario,
    config: Config,
    group: Group,
    out_dir: Path,
    tally: Tally | None = None,
) -> dict[str, Any]:
    """One regression scenario for a group of losing schedules: its schedules are minimised
    in turn (at most ``ATTEMPTS``) until one is written; else why none could be. ``tally``
    may be shared by the groups of one exploration."""
    whys = []
    tally = Tally() if tally is None else tally
    for schedule in group.schedules[:ATTEMPTS]:
        found = emit_scenario(scenario, config, schedule, out_dir, tally)
        if found["path"]:
            return found
        whys.append(f"schedule {schedule.number}: {found['why']}")
    return {"path": None, "holds": {}, "ok": False, "why": "; ".join(whys)}


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
    scenario: Scenario,
    config: Config,
    schedule: Schedule,
    out_dir: Path,
    tally: Tally | None = None,
) -> dict[str, Any]:
    """Minimise ``schedule`` (which lost) to the fewest holds that still make the run
    lose with the fixes it was explored with (``buggy`` below), check them with every fix on
    (``fixed``), and write the scenario file only when both are deterministic: it fails
    ``CONFIRM`` times out of ``CONFIRM`` buggy and passes as often fixed. Else nothing is
    written and ``why`` says what was not deterministic. ``tally``: what earlier runs showed.
    A schedule with timer fires is tried each way its fires can happen with no explorer
    (``fire_variants``), the first that reproduces it kept."""
    base = tempfile.mkdtemp(prefix="testbed-minimize-")
    tally = Tally() if tally is None else tally
    found: dict[str, Any] = {}
    try:
        for variant, conf, how in fire_variants(scenario, config, schedule):
            # a variant with fires runs another scenario, never explored: its runs, and
            # whether it passes with no hold, are not the plain one's
            own = tally if not how else Tally()
            found = _emit(variant, conf, schedule, out_dir, own, base, scenario.name)
            found |= {"fires_as": how} if how else {}
            if found["ok"]:
                break
        return found
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _emit(
    scenario: Scenario,
    config: Config,
    schedule: Schedule,
    out_dir: Path,
    tally: Tally,
    base: str,
    name: str,
) -> dict[str, Any]:
    from orchestrator.run import runner

    explored = list(config.cluster.fixes)
    # the group's failure, not any: a run that loses another way tests another race
    expect = failed(schedule.result)

    holds = candidates(schedule)
    racing = {point for rule in holds for point in rule}  # where confirming runs are shaken

    def outcome(rules: list[tuple[str, str]], on: list[str], shake: int | None = None) -> str:
        result = runner.run(scenario, _with_holds(config, rules, on, shake, racing), base)
        if result.outcome == "fail" and failed(result) != expect:
            return "fail otherwise"
        if on == explored and any(h["status"] == LOCK for o in result.holds for h in o["hits"]):
            # a hold let go because its holder had the lock the others waited for: the order
            # it stood for was left to when they asked for the lock (fixed passes that way)
            return "released by the lock"
        return result.outcome

    def runs(rules: list[tuple[str, str]], times: int) -> list[str]:
        # every run of a set of holds, up to the first that does not lose as the group does:
        # a set asked for more runs adds only the missing ones, one that once did not lose so
        # is not run again
        got = tally.runs.setdefault((expect, frozenset(rules)), [])
        while len(got) < times and (not got or got[-1] == "fail"):
            got.append(outcome(rules, explored, shake=len(got)))
        return got

    def loses(rules: list[tuple[str, str]], times: int) -> bool:
        # holds decide only what they name; a set that loses by luck is no regression test
        if tally.passed and not rules:  # the scenario as written loses only by luck
            return False
        return runs(rules, times)[-1] == "fail"

    # kept only when each of CONFIRM runs lost as the group does: the result is confirmed
    rules = ddmin(holds, lambda rules: loses(rules, CONFIRM))
    buggy = runs(rules, CONFIRM)  # every run of the set (ddmin may not have run the whole)
    fixed: list[str] = []  # with every fix on: fresh runs, up to the first that does not pass
    while buggy[-1] == "fail" and len(fixed) < CONFIRM and (not fixed or fixed[-1] == "pass"):
        fixed.append(outcome(rules, list(fixes.ALL)))
    found: dict[str, Any] = {
        "path": None,
        "holds": holds_table(rules),
        "buggy": f"fail {buggy.count('fail')}/{len(buggy)}",  # every run of the set
        "fixed": f"pass {fixed.count('pass')}/{len(fixed)}",
        "ok": buggy.count("fail") == len(buggy) >= CONFIRM and fixed.count("pass") == CONFIRM,
    }
    if not found["ok"]:
        found["why"] = _why(buggy, fixed, explored, len(rules))
        return found
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
    return found | {"path": str(path)}


def _why(buggy: list[str], fixed: list[str], explored: list[str], holds: int) -> str:
    """Why a minimised schedule is no regression test, in words: the first confirmation run
    that did not go as it must."""
    if buggy.count("fail") < CONFIRM:
        how = {
            "pass": "passed",
            "fail otherwise": "lost another way",
            "released by the lock": "a hold was released by the lock (its order left to timing)",
        }.get(buggy[-1], buggy[-1])
        return (
            f"not deterministic: with fixes '{fixes.label(explored)}' and {holds} hold(s) it "
            f"lost as the group does in {len(buggy) - 1} run(s), then {how}"
        )
    return (
        f"not deterministic: with every fix on it passed {len(fixed) - 1} run(s), "
        f"then {'failed' if fixed[-1] != 'inconclusive' else 'was inconclusive'}"
    )
