"""``testbed explore``: every interleaving of a scenario's host steps (one per class), random
ones, or every built-in scenario with both trackers; losing schedules as replay files and, on
request, as minimal scenario files.

A face: it parses, prints and picks exit codes (0 nothing loses, 1 a schedule loses or the
exploration failed, 2 bad usage); the exploring is ``orchestrator.explore.explorer``'s.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from orchestrator.cli.options import check_footprints_arg
from orchestrator.explore import cores
from orchestrator.run.verdict import EXIT_CODES
from testbed.errors import ConfigError
from testbed.fixes import PRESETS

STRATEGIES = ("dpor", "exhaustive", "random")


def add_parser(sub: Any, scenario_args: Any) -> None:
    exp = sub.add_parser(
        "explore",
        help="run a scenario under every class of interleavings (or random ones)",
        description="Hold every conductor request and lock request of every host's tasks, "
        "release them in a chosen order, check the scenario at the end of each schedule. "
        "Dynamic partial-order reduction (the default) runs one schedule per class of "
        "equivalent interleavings, learned from each operation's footprint. Exit 0 when no "
        "schedule loses, 1 when one does (each written as a replay file).",
    )
    scenario_args(exp)
    exp.add_argument("--strategy", choices=STRATEGIES, default="dpor")
    exp.add_argument("--runs", type=int, default=20, metavar="N", help="random: schedules to run")
    exp.add_argument("--seed", type=int, default=0, metavar="S", help="random: the seed")
    exp.add_argument(
        "--host",
        action="append",
        default=[],
        help="explore only this host's steps (repeatable; default: every host)",
    )
    exp.add_argument(
        "--all",
        action="store_true",
        help="every built-in scenario with both trackers, as a table",
    )
    exp.add_argument(
        "--jobs",
        type=int,
        default=len(cores.available()),
        metavar="N",
        help="--all: explorations at once; --emit-scenario: groups minimised at once; each "
        "in a process of its own (default: the cores this command may use, %(default)s here)",
    )
    exp.add_argument(
        "--first",
        action="store_true",
        help="stop at the first losing schedule (its replay and timeline written)",
    )
    exp.add_argument(
        "--out", metavar="DIR", help="where replay files go (default: a new temporary directory)"
    )
    exp.add_argument(
        "--emit-scenario",
        metavar="DIR",
        help="for each group of losing schedules, minimise one to the fewest holds that "
        "still lose and write it here as a scenario file when it fails 10/10 with the "
        "explored fixes and passes 10/10 with every fix on",
    )
    exp.add_argument(
        "--timer-fires",
        type=int,
        default=None,
        metavar="N",
        help="fire each explored host's periodic audit (audit_interval > 0) at most N times "
        "per schedule, wherever the explorer chooses; 0: only the scenario's audit steps "
        "(default: the scenario's explore.timer_fires, 1 unless it says otherwise)",
    )
    exp.add_argument("--json", action="store_true", help="print one JSON object")
    check_footprints_arg(exp)
    exp.set_defaults(func=cmd_explore)


def _strategy(args: argparse.Namespace) -> Any:
    from orchestrator.explore.strategies.dpor import Dpor
    from orchestrator.explore.strategies.exhaustive import Exhaustive
    from orchestrator.explore.strategies.randomized import Randomized

    if args.strategy == "random":
        return Randomized(args.runs, args.seed)
    return Exhaustive() if args.strategy == "exhaustive" else Dpor()


def _one(
    args: argparse.Namespace, scenario: Any, config: Any, out: Path, label: str, show: bool = True
) -> Any:
    from orchestrator.cli.progress import Progress
    from orchestrator.explore import explorer

    total = args.runs if args.strategy == "random" else None
    bar = Progress(f"explore {label}", total, enabled=show)
    losing = 0

    def progress(schedule: Any) -> None:
        nonlocal losing
        losing += schedule.outcome == "fail"
        bar.step(f"losing {losing}")

    try:
        return explorer.explore(
            scenario,
            config,
            _strategy(args),
            args.host or None,
            out,
            progress=progress,
            strategy_name=args.strategy,
            first=args.first,
        )
    finally:
        bar.close()


def _emit(args: argparse.Namespace, scenario: Any, config: Any, summary: Any) -> list[dict]:
    """One regression scenario a group, ``--jobs`` groups minimised at once (each in a
    process of its own, as ``--all`` explores); a group's error is its row's."""
    from orchestrator.explore.jobs import run_all
    from orchestrator.explore.minimize import Tally, emit_group

    out = Path(args.emit_scenario)
    # groups minimised one after the other, failing alike, share their runs
    tally = Tally(passed=any(s.result.outcome == "pass" for s in summary.schedules))

    def emit(group: Any) -> dict:
        return emit_group(scenario, config, group, out, tally)

    rows = run_all(emit, summary.groups, args.jobs)
    blank = {"path": None, "holds": {}, "ok": False}
    return [r if "error" not in r else blank | {"why": r["error"]} for r in rows]


def cmd_explore(args: argparse.Namespace) -> int:
    from orchestrator.cli.options import scenario_and_config

    if args.runs < 1:
        raise ConfigError(f"--runs must be at least 1, got {args.runs}")
    if args.timer_fires is not None and args.timer_fires < 0:
        raise ConfigError(f"--timer-fires must be 0 or more, got {args.timer_fires}")
    if args.jobs < 1:
        raise ConfigError(f"--jobs must be at least 1, got {args.jobs}")
    # made only when a schedule loses: an exploration that finds nothing leaves nothing
    out = Path(args.out or Path(tempfile.gettempdir()) / f"testbed-replays-{os.getpid()}")
    if args.all:
        return _explore_all(args, out)
    scenario, config = scenario_and_config(args, args.scenario)
    summary = _one(args, scenario, config, out, f"{scenario.name} ({config.cluster.tracker})")
    emitted = _emit(args, scenario, config, summary) if args.emit_scenario else []
    if args.json:
        hints = sorted({h for s in summary.schedules for h in s.result.footprint_hints})
        extra = {"emitted": emitted, "footprint_hints": hints}
        print(json.dumps(summary.to_dict() | extra, indent=2))
    else:
        _print_summary(summary)
        for n, e in enumerate(emitted, 1):
            _print_emitted(n, e)
    if summary.error:
        print(f"testbed: {summary.error}", file=sys.stderr)
        return 1
    if summary.losing or summary.deadlocks:
        return EXIT_CODES["fail"]
    return EXIT_CODES["inconclusive" if summary.inconclusive else "pass"]


def _row(args: argparse.Namespace, name: str, tracker: str, out: Path, show: bool) -> dict:
    """One exploration of ``--all``, as its row (``--json``'s object)."""
    from orchestrator.cli.options import scenario_and_config

    args = argparse.Namespace(**vars(args) | {"tracker": tracker})
    scenario, config = scenario_and_config(args, name)
    return _one(args, scenario, config, out, f"{name} ({tracker})", show).to_dict()


def _print_summary(summary: Any) -> None:
    d = summary.to_dict()
    print(
        f"explore   {summary.scenario} on {', '.join(summary.hosts)}, tracker "
        f"{summary.tracker}, strategy {summary.strategy}"
    )
    print(
        f"schedules {d['schedules']}, losing {d['losing']} in {len(d['groups'])} group(s), "
        + (f"inconclusive {d['inconclusive']}, " if d["inconclusive"] else "")
        + f"final states {d['final_states']}, "
        f"{d['seconds']:.2f} s (interleavings without reduction: at most "
        f"{d['interleavings_bound']})"
    )
    if summary.timers_off:
        print(f"timers    off: {summary.timers_off}")
    for n, g in enumerate(summary.groups, 1):
        print(f"  {n}. {g.count} schedule(s): {g.signature.line}")
        for what in g.signature.failed:
            print(f"     {what}")
        print(f"     replay: testbed run --replay {g.first.replay}")
        if g.first.timeline:
            print(f"     timeline: {g.first.timeline}")
    if not summary.losing:
        print("no losing schedule")
    for sched in summary.deadlocks:
        print(f"  schedule {sched.number}: {sched.deadlock}")
        print(f"     replay: testbed run --replay {sched.replay}")
    for sched in summary.inconclusive:
        print(f"  inconclusive schedule {sched.number}: {sched.result.inconclusive[0]}")


def _print_emitted(n: int, e: dict[str, Any]) -> None:
    if not e["path"]:
        print(f"  group {n}: no scenario written: {e['why']}")
        return
    print(
        f"  group {n}: scenario {e['path']}: {len(e['holds'])} hold(s), "
        f"buggy {e['buggy']}, fixed {e['fixed']}"
    )
    print("    [config.holds]")
    for point, after in e["holds"].items():
        print(f"    {json.dumps(point)} = {json.dumps(after)}")


def _explore_all(args: argparse.Namespace, out: Path) -> int:
    from orchestrator.cli.progress import Progress
    from orchestrator.explore.jobs import run_all
    from orchestrator.run import scenario as sc

    items = [(name, tracker) for name in sc.builtin_names() for tracker in PRESETS]
    one_bar = args.jobs > 1  # one bar for them all, not one per exploration at once
    bar = Progress("explore --all", len(items), enabled=one_bar)

    def row(item: tuple[str, str]) -> dict:
        name, tracker = item
        blank = {"scenario": name, "tracker": tracker, "schedules": 0, "losing": 0}
        blank |= {"groups": [], "inconclusive": 0, "seconds": 0.0, "timers_off": None}
        blank["error"] = None
        try:
            return blank | _row(args, name, tracker, out, not one_bar)
        except ConfigError as exc:  # this scenario's own: the others go on
            return blank | {"error": str(exc)}
        except Exception as exc:  # a failed exploration is its row's error, as it is alone
            return blank | {"error": f"{type(exc).__name__}: {exc}"}

    try:
        rows = run_all(row, items, args.jobs, lambda _: bar.step())
    finally:
        bar.close()
    failed = any(r["losing"] or r["error"] or r["inconclusive"] for r in rows)
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        width = max(len(r["scenario"]) for r in rows)
        print(f"{'SCENARIO':<{width}}  TRACKER  SCHEDULES  LOSING  GROUPS  INCONCL  SECONDS")
        for r in rows:
            print(
                f"{r['scenario']:<{width}}  {r['tracker']:<7}  {r['schedules']:>9}  "
                f"{r['losing']:>6}  {len(r['groups']):>6}  {r['inconclusive']:>7}  "
                f"{r['seconds']:>7.2f}" + (f"  {r['error']}" if r["error"] else "")
            )
        off = {r["scenario"]: r["timers_off"] for r in rows if r["timers_off"]}
        for name, why in off.items():
            print(f"{name}: timers off: {why}")
    return 1 if failed else 0
