"""``testbed up`` and the commands that drive the cluster it keeps running.

``up`` writes ``.testbed-control.json`` in its working directory; the control commands find
the cluster through it when run from the same directory, or take ``--control ENDPOINT``. A
face: ``up`` runs the cluster and its control server; every other command sends one request
and prints the answer, and must not reach into the cluster otherwise."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from orchestrator.cli.options import load
from orchestrator.cluster.procs import running
from orchestrator.run.action import CONTROL, Action
from orchestrator.run.actions import of
from orchestrator.run.render import status_table, verdict
from orchestrator.run.verdict import EXIT_CODES
from testbed.errors import ApiError, ConfigError

DISCOVERY = Path(".testbed-control.json")


# -- testbed up -------------------------------------------------------------------------------
def cmd_up(args: argparse.Namespace) -> int:
    from orchestrator.cluster.cluster import Cluster
    from orchestrator.control.server import ControlServer
    from orchestrator.history.recorder import for_run
    from testbed import join_document as join

    config = load([], args.config, args.sets, args.delays, args.tracker, args.fix, args.no_fix)
    if DISCOVERY.exists():
        try:
            pid = json.loads(DISCOVERY.read_text())["pid"]
        except (ValueError, KeyError, TypeError):
            pid = None
        if pid and running(pid):
            raise ConfigError(
                f"a cluster is already up in this directory (pid {pid}); stop it "
                "first, or run testbed up from another directory"
            )
    if args.run_dir:
        Path(args.run_dir).mkdir(parents=True, exist_ok=True)
    run_dir = Path(tempfile.mkdtemp(prefix="testbed-up-", dir=args.run_dir))
    tty = sys.stdout.isatty()
    try:
        cluster = Cluster(config, run_dir, args.verbose, for_run)
        with cluster, ControlServer(cluster) as ctl:
            cluster.start()
            # mode 0600: with CURVE it holds the client keys of joining hosts and control clients
            join_file = join.write(run_dir / "join.json", cluster.join_document(ctl.endpoint))
            found = {
                "endpoint": ctl.endpoint,
                "pid": os.getpid(),
                "run_dir": str(run_dir),
                "join_file": str(join_file),
            }
            # whole or not at all: a reader must never see it half written
            partial = DISCOVERY.with_name(f"{DISCOVERY.name}.{os.getpid()}")
            partial.write_text(json.dumps(found))
            os.replace(partial, DISCOVERY)
            try:
                head = (
                    f"testbed up: {len(config.cluster.hosts)} hosts, tracker "
                    f"{config.cluster.tracker}, orchestrator pid {os.getpid()}\n"
                    f"control: testbed status (from {Path.cwd()}) or --control "
                    f"{ctl.endpoint}\nrun dir: {run_dir}\n{_join_line(config, join_file)}\n"
                    "Ctrl-C stops every host."
                )
                print(head, flush=True)
                last = ""
                while True:  # ends with Ctrl-C or SIGTERM (both raise KeyboardInterrupt)
                    with cluster.api.state.lock:
                        table = status_table(cluster.status())
                    plain = "\n".join(ln.split(" s ago")[0] for ln in table.splitlines())
                    if tty:
                        print(f"\x1b[H\x1b[J{head}\n\n{table}", flush=True)
                    elif plain != last:
                        print(f"\n{table}", flush=True)
                    last = plain
                    time.sleep(args.refresh)
            finally:
                DISCOVERY.unlink(missing_ok=True)
    except KeyboardInterrupt:
        print(f"\nstopped; every host process ended. Run dir kept: {run_dir}")
    return 0


# -- the control commands ---------------------------------------------------------------------
def _join_line(config: Any, join_file: Path) -> str:
    """How a host joins from elsewhere, or that none may (no ``cluster.joined``)."""
    if not config.cluster.joined:
        return "join: no host joins this cluster (cluster.joined is empty)"
    names = ", ".join(config.cluster.joined)
    return f"join: testbed host NAME --join-file {join_file} (NAME: {names})"


def _endpoint(args: argparse.Namespace) -> str:
    if args.control:
        return args.control
    try:
        return json.loads(DISCOVERY.read_text())["endpoint"]
    except FileNotFoundError:
        raise ConfigError(
            "no running cluster found here (no .testbed-control.json); start "
            "one with 'testbed up' or pass --control ENDPOINT"
        ) from None
    except (ValueError, KeyError, TypeError):
        raise ConfigError(f"{DISCOVERY} is not a testbed discovery file") from None


def _curve(args: argparse.Namespace) -> Any:
    """The client keys of a CURVE cluster: from --join-file, else from the join file that
    the discovery file here names (none for ipc, or tcp without CURVE)."""
    from testbed import join_document as join

    path = getattr(args, "join_file", None)
    if path is None and not args.control:
        try:
            path = json.loads(DISCOVERY.read_text()).get("join_file")
        except (OSError, ValueError, AttributeError):
            path = None
    return join.curve_of(join.read(path)) if path else None


def call(args: argparse.Namespace, cmd: str, **kwargs: Any) -> Any:
    import zmq

    from testbed.transport import RemoteError, RpcClient, RpcTimeout

    endpoint = _endpoint(args)
    ctx = zmq.Context()
    client = RpcClient(ctx, endpoint, args.timeout, curve=_curve(args))
    try:
        return client.call(cmd, {k: v for k, v in kwargs.items() if v is not None})
    except RpcTimeout:
        raise ApiError(
            f"no answer from the cluster at {endpoint} within {args.timeout:g} s "
            "(is testbed up still running?)"
        ) from None
    except RemoteError as exc:
        raise ApiError(str(exc).split(": ", 1)[-1]) from None
    finally:
        client.close()
        ctx.term()


# How a command's answer is shown, where a line of its declaration's ``say`` is not enough.
def _show_status(args: argparse.Namespace, out: dict[str, Any]) -> int:
    print(status_table(out))
    return 0


def _show_check(args: argparse.Namespace, out: dict[str, Any]) -> int:
    for line in out["check"]["lines"]:
        print(line)
    for line in out["diff"] + out["invariants"]["violations"]:
        print(f"  {line}")
    print("\n".join(verdict(out["outcome"], out["invariants"]["ok"])))
    for line in out["inconclusive"] if out["outcome"] == "inconclusive" else []:
        print(f"  {line}")
    return EXIT_CODES[out["outcome"]]


SHOW = {"status": _show_status, "check": _show_check, "no_leaks": _show_check}


def _runner(a: Action, notice: str = "") -> Any:
    """The command line's function for one user action."""
    names = list(a.fields)

    def run(args: argparse.Namespace) -> int:
        if notice:
            print(notice, file=sys.stderr)
        out = call(args, a.command, **{n: getattr(args, n) for n in names})
        if args.json:
            print(json.dumps(out, indent=2))
            has_outcome = isinstance(out, dict) and "outcome" in out
            return EXIT_CODES[out["outcome"]] if has_outcome else 0
        if a.name in SHOW:
            return SHOW[a.name](args, out)
        print(a.say.format(out=out or {}, **{n: getattr(args, n) for n in names}))
        return 0

    return run


def _add_command(sub: Any, a: Action, name: str, notice: str = "") -> None:
    """A parser derived from the action: required fields are positional, the others
    ``--name`` options (a list repeats, and is empty when not given; a flag that is off by
    default is ``--name``, one that is on ``--no-name``)."""
    p = sub.add_parser(name, help=a.doc, description=a.doc)
    for f in a.fields.values():
        kw: dict[str, Any] = {"help": a.help.get(f.name)}
        if f.name in a.choices:
            kw["choices"] = a.choices[f.name]
        if f.type is list:
            default = [] if f.required else None
            p.add_argument(f"--{f.name}", action="append", metavar=f.name.upper(), **kw)
            p.set_defaults(**{f.name: default})
        elif f.required:
            p.add_argument(f.name, type=f.type, **kw)
        elif f.type is bool:
            flag = argparse.BooleanOptionalAction if f.default else "store_true"
            p.add_argument(f"--{f.name}", action=flag, default=f.default, **kw)
        else:
            p.add_argument(f"--{f.name}", type=f.type, default=f.default, **kw)
    p.add_argument(
        "--control",
        metavar="ENDPOINT",
        help="the cluster's control endpoint (default: found through .testbed-control.json here)",
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=30.0,
        metavar="S",
        help="seconds to wait for the cluster's answer (default 30)",
    )
    p.add_argument(
        "--join-file",
        metavar="FILE",
        help="the cluster's keys, for --control over tcp with CURVE (testbed up writes it)",
    )
    p.add_argument("--json", action="store_true", help="print the answer as one JSON object")
    p.set_defaults(func=_runner(a, notice))


def add_parsers(sub: Any, config_args: Any) -> None:
    up = sub.add_parser(
        "up",
        help="start a cluster and keep it running, with a live table",
        description="Start the orchestrator and the configured hosts and keep "
        "them running in the foreground. Drive them from another terminal with "
        "the control commands. Ctrl-C or SIGTERM stops everything (exit 0).",
    )
    config_args(up)
    up.add_argument("-v", "--verbose", action="store_true", help="show every process's log")
    up.add_argument("--refresh", type=float, default=0.5, metavar="S", help="table refresh")
    up.add_argument("--run-dir", metavar="DIR", help="where the run directory goes")
    up.set_defaults(func=cmd_up)

    groups: dict[str, Any] = {}
    for a in of(CONTROL):
        if not a.cli:
            continue  # asked by other commands, not typed
        _add_command(sub, a, a.command)
        for alias in a.aliases:  # an older name: "server create" -> testbed server create
            group, _, name = alias.rpartition(" ")
            notice = f"testbed: '{alias}' is now '{a.command}'"
            if group and group not in groups:
                parent = sub.add_parser(group, help=f"{group} commands (older names)")
                groups[group] = parent.add_subparsers(
                    dest=f"{group}_command", metavar="COMMAND", required=True
                )
            _add_command(groups[group] if group else sub, a, name, notice)
