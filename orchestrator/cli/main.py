"""The ``testbed`` command. Exit codes: 0 checks hold, 1 a check failed, 2 bad usage or
configuration, 3 inconclusive (what the scenario set up did not happen), 130 interrupted (the
cluster is torn down first).

A face of the orchestrator: it parses arguments, prints results and maps errors to exit
codes; it must hold no logic of the cluster, decide no run's outcome (the runner and the
checks do), nor show a user's mistake as a traceback. The cluster machinery is imported inside
each command, so ``--help``, ``points`` and ``scenarios`` start at once; a command named first
on the command line builds its own parser alone (``PARSERS``).
"""

from __future__ import annotations

import argparse
import atexit
import importlib
import json
import os
import signal
import sys
import time
from collections.abc import Callable
from typing import Any

from orchestrator.run.render import listing, verdict
from orchestrator.run.verdict import EXIT_CODES
from testbed import __version__
from testbed.config import option_layers
from testbed.errors import ApiError, ConfigError, TestbedError
from testbed.fixes import ALL as FIX_NAMES
from testbed.fixes import PRESETS
from testbed.points import CATALOGUE, PATHS

EPILOG = """\
examples:
  testbed run                                  the evacuation race, fixed tracker: exit 0
  testbed run --tracker buggy                  Nova before the fix: host2 loses the device, exit 1
  testbed run unshelve-race --no-fix 2025480   one fix off, the others on: exit 1
  testbed run --delay host2:audit.instance_list=0.5 --json
  testbed run my-scenario.toml --config my.toml --set timeouts.rpc=5
  testbed points                               every injection point
  testbed scenarios                            the built-in scenarios
"""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2, no usage dump
        self.exit(2, f"testbed: {message} (see: testbed --help)\n")


def _config_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("configuration (later wins: scenario, --config, --set, --delay)")
    g.add_argument("--config", metavar="FILE", help="TOML configuration file")
    g.add_argument(
        "--set",
        dest="sets",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one key, e.g. timeouts.rpc=5 or checks.stop_after=2",
    )
    g.add_argument(
        "--delay",
        dest="delays",
        action="append",
        default=[],
        metavar="HOST:POINT=SECONDS",
        help="delay a host at a point (* = every host)",
    )
    g.add_argument(
        "--tracker",
        choices=tuple(PRESETS),
        help="every named fix on (fixed) or off (buggy); --fix/--no-fix apply on top",
    )
    g.add_argument(
        "--fix",
        action="append",
        default=[],
        metavar="BUG",
        help=f"turn one bug's fix on (repeatable; bugs: {', '.join(FIX_NAMES)})",
    )
    g.add_argument(
        "--no-fix",
        dest="no_fix",
        action="append",
        default=[],
        metavar="BUG",
        help="turn one bug's fix off (repeatable)",
    )
    g.add_argument(
        "--no-history",
        action="store_true",
        help="record no history.jsonl (same as --set cluster.history=false)",
    )


def _scenario_args(
    p: argparse.ArgumentParser, default: str | None = "evacuate-race", what: str = "to run"
) -> None:
    p.add_argument(
        "scenario",
        nargs="?",
        default=default,
        help=f"the scenario {what}: a built-in name or a TOML file (default: evacuate-race)",
    )
    _config_args(p)


def _add_run(sub: Any) -> None:
    run = sub.add_parser(
        "run",
        help="run a scenario and check its outcome",
        description="Start the hosts, run the scenario's steps, check the PCI "
        "allocations. Exit 0 when every check holds, 1 when one fails, 3 when the run is "
        "inconclusive (a task failed unexpectedly, a hold timed out, an ordering was never "
        "reached).",
    )
    _scenario_args(run, default=None)  # None: --replay names its own scenario
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
    run.set_defaults(func=cmd_run)


def _add_sweep(sub: Any) -> None:
    sweep = sub.add_parser(
        "sweep",
        help="kill a host at every point of the race, recover, check the invariants",
        description="For each point on the evacuation and audit paths, kill "
        "the source or the destination there (a fresh cluster each time), "
        "restart it, let the cluster settle and check the invariants. Exit 0 "
        "when every trial holds, 1 when one does not.",
    )
    _scenario_args(sweep, what="whose cluster and hosts are used")
    sweep.add_argument("--json", action="store_true", help="print one JSON object")
    sweep.set_defaults(func=cmd_sweep)


def _add_points(sub: Any) -> None:
    points = sub.add_parser("points", help="list the injection points, by path")
    points.add_argument(
        "--json", action="store_true", help="print a JSON list of {name, path, before, doc}"
    )
    points.set_defaults(func=cmd_points)


def _add_scenarios(sub: Any) -> None:
    scenarios = sub.add_parser("scenarios", help="list the built-in scenarios")
    scenarios.add_argument("--json", action="store_true", help="print one JSON object")
    scenarios.set_defaults(func=cmd_scenarios)


def _face(name: str) -> Any:
    """One of the command line's other modules, loaded only when its commands are built."""
    return importlib.import_module(f"orchestrator.cli.{name}")


# Every command's parser, in the order --help lists them; ``None`` stands for the control
# commands (``up`` and those declared in orchestrator.control.commands), built together.
_ADDERS: list[tuple[str | None, Callable[[Any], None]]] = [
    ("run", _add_run),
    ("explore", lambda sub: _face("explore").add_parser(sub, _scenario_args)),
    ("sweep", _add_sweep),
    (None, lambda sub: _face("control").add_parsers(sub, _config_args)),
    ("show", lambda sub: _face("show").add_parser(sub)),
    ("host", lambda sub: _face("join").add_parser(sub)),
    ("points", _add_points),
    ("scenarios", _add_scenarios),
]
# A command line naming one of these builds that command's parser alone: argparse builds
# every parser up front, tens of milliseconds for all of them, and their modules with them.
PARSERS = {name: add for name, add in _ADDERS if name is not None}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The ``testbed`` parser: with ``command`` one of ``PARSERS``, that command's only."""
    parser = _Parser(
        prog="testbed",
        description="Multi-process testbed for races between an "
        "evacuation and the resource audit (Nova bug 1896463).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"testbed {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    if command in PARSERS:
        PARSERS[command](sub)
        return parser
    for _, add in _ADDERS:
        add(sub)
    return parser


def cmd_points(args: argparse.Namespace) -> int:
    if args.json:
        print(json.dumps([p.to_dict() for p in CATALOGUE], indent=2))
        return 0
    width = max(len(p.name) for p in CATALOGUE)
    for path, what in PATHS.items():
        print(f"{path}  ({what})")
        for p in (p for p in CATALOGUE if p.path == path):
            print(f"  {p.name:<{width}}  {p.doc}  [{p.before}]")
    return 0


def cmd_scenarios(args: argparse.Namespace) -> int:
    from orchestrator.run import scenario as sc

    docs = {n: sc.load(n).description for n in sc.builtin_names()}
    print(json.dumps(docs, indent=2) if args.json else "\n".join(listing(docs)))
    return 0


def _print_result(r: Any) -> None:
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
    print(f"duration  {r.duration:.2f} s")
    print(f"run dir   {r.run_dir}" + (" (kept)" if r.kept else " (removed; --keep keeps it)"))
    if r.timeline:
        print(f"timeline  {r.timeline}")


def scenario_and_config(args: argparse.Namespace, name: str) -> tuple[Any, Any]:
    from orchestrator.run.scenario import load_with_config

    layers = option_layers(
        args.config, args.sets, args.delays, args.tracker, fix=args.fix, no_fix=args.no_fix
    )
    return load_with_config(name, *layers)


def cmd_sweep(args: argparse.Namespace) -> int:
    from orchestrator.cli.progress import Progress
    from orchestrator.run import sweep

    scenario, config = scenario_and_config(args, args.scenario)
    source, dest = sweep.roles(scenario, config)
    trials_plan = sweep.plan(source, dest)
    bar = Progress(f"sweep ({config.cluster.tracker})", len(trials_plan))
    started = time.monotonic()
    try:
        trials = sweep.sweep(config, source, dest, progress=lambda t: bar.step(t.point))
    finally:
        bar.close()
    seconds = time.monotonic() - started
    bad = [t for t in trials if t.violated]
    unsure = [t for t in trials if t.verdict == "inconclusive"]
    if args.json:
        print(
            json.dumps(
                {
                    "tracker": config.cluster.tracker,
                    "source": source,
                    "dest": dest,
                    "trials": [t.to_dict() for t in trials],
                    "violations": len(bad),
                    "inconclusive": len(unsure),
                    "seconds": round(seconds, 3),
                },
                indent=2,
            )
        )
    else:
        print(
            f"sweep: kill at each point, source {source}, destination {dest}, "
            f"tracker {config.cluster.tracker}"
        )
        print(f"  {'KILLED':<12} {'AT POINT':<42} {'OUTCOME':<18} LEAKED  DOUBLE")
        for t in trials:
            print(
                f"  {t.host + ' (' + t.role[:4] + ')':<12} {t.point:<42} {t.outcome:<18} "
                f"{t.leaked:<7} {t.double_bound}"
            )
            for line in t.violations + t.inconclusive:
                print(f"      {line}")
            if t.run_dir:
                print(f"      run dir: {t.run_dir}")
            if t.timeline:
                print(f"      timeline: {t.timeline}")
        print(
            f"trials {len(trials)}, kills fired {sum(t.fired for t in trials)}, "
            f"violated {len(bad)}, inconclusive {len(unsure)}, {seconds:.1f} s"
        )
    if bad:
        return EXIT_CODES["fail"]
    return EXIT_CODES["inconclusive" if unsure else "pass"]


def _replay(args: argparse.Namespace) -> Any:
    from orchestrator.explore import explorer
    from orchestrator.explore.replays import read_replay
    from orchestrator.explore.strategies.replay import Replay

    doc = read_replay(args.replay)
    if args.scenario not in (None, doc["scenario"]):
        raise ConfigError(
            f"--replay '{args.replay}' is for scenario '{doc['scenario']}', not '{args.scenario}'"
        )
    if args.tracker not in (None, doc["tracker"]) or args.fix or args.no_fix:
        raise ConfigError(
            f"--replay '{args.replay}' was recorded with fixes "
            f"'{doc['tracker']}': give no --tracker, --fix or --no-fix"
        )
    # the fixes it ran with (older replay files name only the tracker)
    args.tracker, args.fix = ("buggy", doc["fixes"]) if "fixes" in doc else (doc["tracker"], [])
    scenario, config = scenario_and_config(args, doc["scenario"])
    replay = Replay(doc["order"])
    summary = explorer.explore(scenario, config, replay, doc["hosts"])
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
        _print_result(result)
    return EXIT_CODES[result.outcome]


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM tears the cluster down like Ctrl-C does


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(argv[0] if argv else None)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    if getattr(args, "no_history", False):
        args.sets.append("cluster.history=false")
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        return args.func(args)
    except TestbedError as exc:
        print(f"testbed: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("testbed: interrupted; every host was stopped", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader left (testbed points | head): nothing more to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def entry() -> None:
    """The console script: ``main``, then the exit hooks (they stop any host left behind),
    then out without the interpreter's teardown, which would only free memory: tens of
    milliseconds of a run that takes a few hundred."""
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    atexit._run_exitfuncs()
    os._exit(code)


if __name__ == "__main__":
    entry()
