"""``testbed run``: run a scenario (or replay a schedule the explorer wrote), print its result
and exit with its outcome's code.

A face: the runner runs and the checks judge; this module parses, prints, and checks that a
replay is run as it was recorded. The runner is imported only once the configuration is valid.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from orchestrator.cli.options import check_footprints_arg, scenario_and_config, scenario_args
from orchestrator.run.render import verdict
from orchestrator.run.verdict import EXIT_CODES
from testbed.errors import ApiError, ConfigError


def add_parser(sub: Any) -> None:
    run = sub.add_parser(
        "run",
        help="run a scenario and check its outcome",
        description="Start the hosts, run the scenario's steps, check the PCI "
        "allocations. Exit 0 when every check holds, 1 when one fails, 3 when the run is "
        "inconclusive (a task failed unexpectedly, a hold timed out, a hold was never "
        "reached).",
    )
    scenario_args(run, default=None)  # None: --replay names its own scenario
    run.add_argument("--json", action="store_true", help="print one JSON object")
    run.add_argument("-v", "--verbose", action="store_true", help="show every process's log")
    run.add_argument("--keep", action="store_true", help="keep the run directory on success")
    run.add_argument("--run-dir", metavar="DIR", help="where run directories go (default: tmp)")
    run.add_argument(
        "--timeline",
        action="store_true",
        help="write timeline.html for a passing run too (a failing one always gets one)",
    )
    run.add_argument(
        "--replay",
        metavar="FILE",
        help="replay a schedule the explorer wrote (its scenario, tracker and exact release order)",
    )
    check_footprints_arg(run)
    run.set_defaults(func=cmd_run)


def _print_result(r: Any, verbose: bool = False) -> None:
    print(f"scenario  {r.scenario}")
    print(f"fixes     {r.tracker}")
    if r.last_check is not None:
        print("\n".join(r.last_check.lines()))
    print("\n".join(verdict(r.outcome, r.invariants.ok if r.invariants else None)))
    if r.outcome == "inconclusive":
        for line in r.inconclusive:
            print(f"  {line}")
        if r.failed_step:
            print(f"  (stopped at {r.failed_step})")
    elif not r.ok:
        if r.error:
            lines = [r.error]
        elif r.failed_step and r.last_check:
            lines = r.last_check.diff()
        else:
            lines = r.invariants.diff() if r.invariants else []
        for line in lines:
            print(f"  {line}")
        if r.failed_step:
            print(f"  (failed at {r.failed_step})")
    for hint in r.footprint_hints if verbose else ():
        print(hint)
    print(f"duration  {r.duration:.2f} s")
    print(f"run dir   {r.run_dir}" + (" (kept)" if r.kept else " (removed; --keep keeps it)"))
    if r.timeline:
        print(f"timeline  {r.timeline}")


def _replay(args: argparse.Namespace) -> Any:
    from orchestrator.explore import explorer
    from orchestrator.explore.replays import read_replay
    from orchestrator.explore.strategies.replay import Replay

    doc = read_replay(args.replay)
    if args.tracker not in (None, doc["tracker"]) or args.fix or args.no_fix:
        raise ConfigError(
            f"--replay '{args.replay}' was recorded with fixes "
            f"'{doc['tracker']}': give no --tracker, --fix or --no-fix"
        )
    # the fixes it ran with (older replay files name only the tracker)
    args.tracker, args.fix = ("buggy", doc["fixes"]) if "fixes" in doc else (doc["tracker"], [])
    # a built-in by the name it recorded, or the scenario (a file) given beside it
    scenario, config = scenario_and_config(args, args.scenario or doc["scenario"])
    if scenario.name != doc["scenario"]:
        raise ConfigError(
            f"--replay '{args.replay}' is for scenario '{doc['scenario']}', not "
            f"'{scenario.name}' ({args.scenario})"
        )
    replay = Replay(doc["order"])
    # older replay files had no timers: 0 fires, as they were explored
    summary = explorer.explore(
        scenario, config, replay, doc["hosts"], timer_fires=doc["timer_fires"]
    )
    if summary.error or replay.depth != len(doc["order"]):
        why = summary.error or f"the run made {replay.depth} of {len(doc['order'])} decisions"
        raise ApiError(f"replay '{args.replay}' diverged: {why}")
    return summary.schedules[0].result


def cmd_run(args: argparse.Namespace) -> int:
    if args.replay:
        result = _replay(args)
    else:
        scenario, config = scenario_and_config(args, args.scenario or "evacuate-race")
        from orchestrator.run import runner  # after validation: a bad file exits before loading it

        result = runner.run(
            scenario, config, args.run_dir, args.verbose, args.keep, timeline=args.timeline
        )
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        _print_result(result, args.verbose)
    return EXIT_CODES[result.outcome]
