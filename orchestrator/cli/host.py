"""``testbed host NAME --join ENDPOINT | --join-file FILE``: this process becomes host NAME of
a running cluster, without being the orchestrator's child.

The user starts, kills and restarts it (from another terminal, namespace or machine); it
registers, heartbeats and takes commands like a forked host, and exits by itself when the
orchestrator stays silent for ``timeouts.orphan_after``. NAME must be in the cluster's
``cluster.joined``. ``--join-file`` (written by ``testbed up``, mode 0600) carries the
endpoints, the configuration and, with CURVE, the keys; ``--join`` asks the control endpoint
for them, which only a cluster without CURVE answers a keyless peer.
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import sys
from pathlib import Path
from typing import Any

from testbed.errors import ApiError, ConfigError


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "host",
        help="run a host that joins a running cluster (testbed up)",
        description="Run compute host NAME in this process and join a running cluster. "
        "NAME must be one of the cluster's cluster.joined. Ctrl-C or SIGTERM stops it; "
        "it exits by itself when the orchestrator is gone for timeouts.orphan_after.",
    )
    p.add_argument("name", metavar="NAME", help="the host's name (hostname or FQDN)")
    how = p.add_mutually_exclusive_group(required=True)
    how.add_argument("--join", metavar="ENDPOINT", help="the cluster's control endpoint")
    how.add_argument("--join-file", metavar="FILE", help="the join file testbed up wrote")
    p.add_argument(
        "--run-dir", metavar="DIR", help="where a stack dump goes (default: the join file's)"
    )
    p.add_argument("--timeout", type=float, default=10.0, metavar="S", help="--join: answer wait")
    p.add_argument("-q", "--quiet", action="store_true", help="log warnings and errors only")
    p.set_defaults(func=cmd_host)


def _ask(endpoint: str, timeout: float) -> dict[str, Any]:
    import zmq

    from testbed.transport import RemoteError, RpcClient, RpcTimeout

    ctx = zmq.Context()
    client = RpcClient(ctx, endpoint, timeout)
    try:
        return client.call("join", {})
    except RpcTimeout:
        raise ApiError(
            f"no answer from {endpoint} within {timeout:g} s (is testbed up running there? "
            "a cluster with CURVE needs --join-file)"
        ) from None
    except RemoteError as exc:
        raise ApiError(str(exc)) from None
    finally:
        client.close()
        ctx.term()


def cmd_host(args: argparse.Namespace) -> int:
    import multiprocessing

    from testbed import join_document as join
    from testbed.launch import resolve_entry
    from testbed.logs import FORMAT, HostFormatter
    from testbed.names import check_host

    check_host(args.name, "testbed host")
    if args.join_file:
        doc, where = join.read(args.join_file), f"join file '{args.join_file}'"
        run_dir = args.run_dir or str(Path(args.join_file).resolve().parent)
    else:
        doc = join.check(_ask(args.join, args.timeout), f"the cluster at {args.join}")
        where, run_dir = f"the cluster at {args.join}", args.run_dir or os.getcwd()
    if not os.path.isdir(run_dir):
        raise ConfigError(f"--run-dir '{run_dir}' is not a directory")
    level = logging.WARNING if args.quiet else logging.INFO
    spec = join.host_spec(doc, args.name, run_dir, level, where)
    entry = resolve_entry(spec.config.cluster.host_entry)
    multiprocessing.current_process().name = args.name  # the tag of this host's log lines
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(HostFormatter(FORMAT))
    print(f"host {args.name} joining at {spec.conductor} (pid {os.getpid()})", flush=True)
    gc.enable()  # off while the command line started (orchestrator.cli.script); a host runs long
    entry(spec, handler)  # ends the process with the host's exit code
    return 1
