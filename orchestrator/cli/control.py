"""``testbed up`` and the commands that drive the cluster it keeps running.

``up`` writes ``.testbed-control.json`` in its working directory; the control commands find
the cluster through it when run from the same directory, or take ``--control ENDPOINT``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from orchestrator.procs import running
from testbed.config import load
from testbed.errors import ApiError, ConfigError

DISCOVERY = Path(".testbed-control.json")
SIGNAL_NAMES = ("KILL", "TERM", "STOP", "CONT")


def render(status: dict[str, Any]) -> str:
    now = time.time()
    rows = [("HOST", "PID", "KIND", "STATE", "FREE", "BOUND", "HEARTBEAT", "SERVERS")]
    for host, h in status["hosts"].items():
        beat = f"{now - h['last_heartbeat']:.1f} s ago" if h["last_heartbeat"] else "-"
        state = h["state"] + (" (forced)" if h["forced_down"] else "")
        rows.append(
            (
                host,
                str(h["pid"] or "-"),
                "joined" if h.get("joined") else "supervised",
                state,
                str(h["free"]),
                str(h["bound"]),
                beat,
                ", ".join(h["servers"]) or "-",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    for s in status["servers"]:
        lines.append(
            f"server {s['name']}: {s['vm_state']} on {s['host']}"
            + (f" ({s['task_state']})" if s["task_state"] else "")
        )
    return "\n".join(lines)


# -- testbed up -------------------------------------------------------------------------------
def cmd_up(args: argparse.Namespace) -> int:
    from orchestrator.cluster import Cluster
    from orchestrator.control import ControlServer, status
    from testbed import join

    config = load([], args.config, args.sets, args.delays, args.tracker)
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
        with Cluster(config, run_dir, args.verbose) as cluster, ControlServer(cluster) as ctl:
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
                    f"{ctl.endpoint}\nrun dir: {run_dir}\njoin: testbed host NAME --join-file "
                    f"{join_file} (NAME in cluster.joined: "
                    f"{', '.join(config.cluster.joined) or 'none'})\nCtrl-C stops every host."
                )
                print(head, flush=True)
                last = ""
                while True:  # ends with Ctrl-C or SIGTERM (both raise KeyboardInterrupt)
                    with cluster.api.state.lock:
                        table = render(status(cluster))
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
    from testbed import join

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
        return client.call(
            "control", {"cmd": cmd, "args": {k: v for k, v in kwargs.items() if v is not None}}
        )
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


def cmd_status(args: argparse.Namespace) -> int:
    status = call(args, "status")
    print(json.dumps(status, indent=2) if args.json else render(status))
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    out = call(args, "check", expect=args.expect)
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        print("\n".join(out["check"]["lines"]))
        for line in out["diff"] + out["invariants"]["violations"]:
            print(f"  {line}")
        print(f"invariants {'hold' if out['invariants']['ok'] else 'VIOLATED'}")
        print(f"outcome   {'PASS' if out['ok'] else 'FAIL'}")
    return 0 if out["ok"] else 1


def cmd_force_down(args: argparse.Namespace) -> int:
    call(args, "force_down", host=args.host, up=args.up)
    print(f"{args.host}: " + ("no longer forced down" if args.up else "forced down"))
    return 0


def _simple(cmd: str, say: str, *fields: str) -> Any:
    def run(args: argparse.Namespace) -> int:
        out = call(args, cmd, **{f: getattr(args, f) for f in fields})
        print(say.format(args=args, out=out or {}))
        return 0

    return run


def add_parsers(sub: Any, config_args: Any) -> None:
    def control_args(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument(
            "--control",
            metavar="ENDPOINT",
            help="the cluster's control endpoint "
            "(default: found through .testbed-control.json here)",
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
        return p

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

    p = control_args(sub.add_parser("status", help="hosts, pids, up/down, devices, servers"))
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_status)

    p = control_args(
        sub.add_parser(
            "check",
            help="check expectations and the invariants (exit 0 when they hold, 1 when not)",
        )
    )
    p.add_argument(
        "--expect",
        action="append",
        default=[],
        metavar="SERVER:HOST=N",
        help="devices of HOST bound to SERVER (repeatable)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_check)

    server = sub.add_parser("server", help="server commands")
    server_sub = server.add_subparsers(dest="server_command", metavar="COMMAND", required=True)
    p = control_args(server_sub.add_parser("create", help="build a server"))
    p.add_argument("name")
    p.add_argument("--host", help="the host (default: the scheduler's pick)")
    p.add_argument("--pci", type=int, help="PCI devices (default: devices.per_server)")
    p.set_defaults(
        func=_simple(
            "server_create", "{out[name]} is {out[vm_state]} on {out[host]}", "name", "host", "pci"
        )
    )

    p = control_args(sub.add_parser("kill", help="send a signal to a host process"))
    p.add_argument("host")
    p.add_argument("--signal", choices=SIGNAL_NAMES, default="KILL")
    p.set_defaults(
        func=_simple(
            "kill", "sent SIG{args.signal} to {args.host} (pid {out[pid]})", "host", "signal"
        )
    )
    p = control_args(sub.add_parser("restart", help="stop (if running) and start a host"))
    p.add_argument("host")
    p.set_defaults(func=_simple("restart", "{args.host} restarted as pid {out[pid]}", "host"))
    p = control_args(sub.add_parser("force-down", help="force a host's service down"))
    p.add_argument("host")
    p.add_argument("--up", action="store_true", help="undo: let heartbeats decide again")
    p.set_defaults(func=cmd_force_down)
    p = control_args(sub.add_parser("evacuate", help="evacuate a server off its down host"))
    p.add_argument("server")
    p.add_argument("--to", help="the destination (default: the scheduler's pick)")
    p.set_defaults(
        func=_simple(
            "evacuate", "{args.server} evacuated from {out[source]} to {out[dest]}", "server", "to"
        )
    )
    for name, what in (("delete", "deleted"), ("rebuild", "rebuilt")):
        p = control_args(sub.add_parser(name, help=f"{name} a server"))
        p.add_argument("server")
        p.set_defaults(func=_simple(name, "{args.server} " + what, "server"))
    p = control_args(sub.add_parser("audit", help="run update_available_resource on a host"))
    p.add_argument("host")
    p.set_defaults(func=_simple("audit", "audit on {args.host} done", "host"))
