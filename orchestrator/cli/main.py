"""The ``testbed`` command. Exit codes: 0 checks hold, 1 a check failed, 2 bad usage or
configuration, 3 inconclusive (what the scenario set up did not happen), 130 interrupted (the
cluster is torn down first).

Dispatch only: the ordered list of commands, each one's parser and body in a module of its own
(``orchestrator.cli.run``, ``sweep``, ``points``, ...), and the mapping of errors to exit codes.
A face of the orchestrator: it must hold no logic of the cluster, decide no run's outcome (the
runner and the checks do), nor show a user's mistake as a traceback. A command named first on
the command line builds its own parser alone (``PARSERS``) and loads no other command's module;
the cluster machinery is imported inside each command, so ``--help``, ``points`` and
``scenarios`` start at once.
"""

from __future__ import annotations

import argparse
import atexit
import importlib
import os
import sys
from collections.abc import Callable
from typing import Any

from orchestrator.cli.options import config_args, scenario_args
from orchestrator.cluster import stops
from testbed import __version__
from testbed.errors import TestbedError

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


def _face(name: str) -> Any:
    """A command's module (``orchestrator.cli.NAME``), loaded only when its parser is built."""
    return importlib.import_module(f"orchestrator.cli.{name}")


# Every command's parser, in the order --help lists them; ``None`` stands for the control
# commands (``up`` and those declared in orchestrator.control.commands), built together.
_ADDERS: list[tuple[str | None, Callable[[Any], None]]] = [
    ("run", lambda sub: _face("run").add_parser(sub)),
    ("explore", lambda sub: _face("explore").add_parser(sub, scenario_args)),
    ("sweep", lambda sub: _face("sweep").add_parser(sub)),
    (None, lambda sub: _face("control").add_parsers(sub, config_args)),
    ("show", lambda sub: _face("show").add_parser(sub)),
    ("host", lambda sub: _face("host").add_parser(sub)),
    ("points", lambda sub: _face("points").add_parser(sub)),
    ("scenarios", lambda sub: _face("scenarios").add_parser(sub)),
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


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(argv[0] if argv else None)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    if getattr(args, "no_history", False):
        args.sets.append("cluster.history=false")
    stops.install()  # SIGTERM tears the cluster down like Ctrl-C does
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
