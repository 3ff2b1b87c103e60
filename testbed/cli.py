"""The ``testbed`` command. Exit codes: 0 checks hold, 1 a check failed, 2 bad usage or
configuration, 130 interrupted (the cluster is torn down first).

This is the composition root: it imports the orchestrator lazily, per command, so the kernel
itself stays free of it.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from typing import Any

from testbed import __version__
from testbed.config import TRACKERS, load
from testbed.errors import TestbedError
from testbed.points import POINTS

EPILOG = """\
examples:
  testbed run                                  the evacuation race, fixed tracker: exit 0
  testbed run --tracker buggy                  Nova before the fix: host2 loses the device, exit 1
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
    g.add_argument("--tracker", choices=TRACKERS, help="resource tracker of every host")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="testbed",
        description="Multi-process testbed for races between an "
        "evacuation and the resource audit (Nova bug 1896463).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"testbed {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    run = sub.add_parser(
        "run",
        help="run a scenario and check its outcome",
        description="Start the hosts, run the scenario's steps, check the PCI "
        "allocations. Exit 0 when every check holds, 1 when one fails.",
    )
    run.add_argument(
        "scenario",
        nargs="?",
        default="evacuate-race",
        help="built-in name or scenario TOML file (default: evacuate-race)",
    )
    _config_args(run)
    run.add_argument("--json", action="store_true", help="print one JSON object")
    run.add_argument("-v", "--verbose", action="store_true", help="show every process's log")
    run.add_argument("--keep", action="store_true", help="keep the run directory on success")
    run.add_argument("--run-dir", metavar="DIR", help="where run directories go (default: tmp)")
    run.set_defaults(func=cmd_run)

    points = sub.add_parser("points", help="list the injection points")
    points.add_argument("--json", action="store_true", help="print one JSON object")
    points.set_defaults(func=cmd_points)

    scenarios = sub.add_parser("scenarios", help="list the built-in scenarios")
    scenarios.add_argument("--json", action="store_true", help="print one JSON object")
    scenarios.set_defaults(func=cmd_scenarios)
    return parser


def cmd_points(args: argparse.Namespace) -> int:
    if args.json:
        print(json.dumps(POINTS, indent=2))
    else:
        width = max(map(len, POINTS))
        for name, doc in POINTS.items():
            print(f"{name:<{width}}  {doc}")
    return 0


def cmd_scenarios(args: argparse.Namespace) -> int:
    from orchestrator import scenario as sc

    found = {name: sc.load(name).description for name in sc.builtin_names()}
    if args.json:
        print(json.dumps(found, indent=2))
    else:
        width = max(map(len, found))
        for name, doc in found.items():
            print(f"{name:<{width}}  {doc}")
    return 0


def _print_result(r: Any) -> None:
    print(f"scenario  {r.scenario}")
    print(f"tracker   {r.tracker}")
    if r.last_check is not None:
        for row in r.last_check.rows:
            mark = "ok" if row.ok else "FAIL"
            print(
                f"  {row.expect.host:<10} {row.expect.server:<10} {row.actual} of "
                f"{row.expect.count} device(s) bound  {mark}"
            )
    if r.invariants is not None:
        print(f"invariants {'hold' if r.invariants.ok else 'VIOLATED'}")
    print(f"outcome   {'PASS' if r.ok else 'FAIL'}")
    if not r.ok:
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


def cmd_run(args: argparse.Namespace) -> int:
    from orchestrator import runner
    from orchestrator import scenario as sc

    scenario = sc.load(args.scenario)
    config = load(
        [(f"scenario '{args.scenario}' [config]", scenario.config)],
        args.config,
        args.sets,
        args.delays,
        args.tracker,
    )
    sc.check_names(scenario, config, f"scenario '{args.scenario}'")
    result = runner.run(scenario, config, args.run_dir, args.verbose, args.keep)
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        _print_result(result)
    return 0 if result.ok else 1


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM tears the cluster down like Ctrl-C does


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        return args.func(args)
    except TestbedError as exc:
        print(f"testbed: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("testbed: interrupted; every host was stopped", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
