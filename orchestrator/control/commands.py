"""The control commands: what ``testbed status``, ``testbed kill host1``, ... ask of a running
cluster (``testbed up``), each declared once as an operation of the control server.

A command is a small function of the cluster; its parameters are the request's body and, on
the command line, its arguments (``orchestrator.cli.control`` derives the parsers from these
declarations: positional for required parameters, ``--name`` for the others, the help and
choices given here). Importing this module must stay cheap (no ZeroMQ, no SQLite): the command
line builds its parsers from it before it knows whether it will talk to anybody.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from testbed.errors import ApiError
from testbed.operations import Operations
from testbed.vocabulary import DEFAULT_SIGNAL, SIGNALS

if TYPE_CHECKING:
    from orchestrator.cluster.cluster import Cluster

COMMANDS = Operations("control")
_HOST = {"host": "the host's name"}
_SERVER = {"server": "the server's name"}


@COMMANDS.declare("status", help="hosts, pids, up/down, devices, servers")
def status(c: Cluster) -> dict[str, Any]:
    return c.status()


@COMMANDS.declare(
    "check",
    help="check expectations and the invariants (exit 0 when they hold, 1 when not, 3 when a "
    "task failed or a hold timed out)",
    args={"expect": "SERVER:HOST=N: devices of HOST bound to SERVER (repeatable)"},
)
def check(c: Cluster, expect: list[str] | None = None) -> dict[str, Any]:
    from orchestrator.run import verdict
    from orchestrator.run.checks import Expect, check_allocations, check_invariants

    result = check_allocations(
        c.api.allocations, [Expect.parse(e) for e in expect or []], c.config.checks, c.settled
    )
    invariants = check_invariants(c.api.invariant_violations, c.config, c.settled)
    held = result.ok and invariants.ok
    why = verdict.live_reasons(c)  # a task failed, a hold timed out
    return {
        "ok": held and not why,
        "outcome": verdict.outcome(held, False, why),
        "inconclusive": why,
        "check": result.to_dict(),
        "diff": result.diff() if not result.ok else [],
        "invariants": invariants.to_dict(),
    }


@COMMANDS.declare(
    "kill",
    help="send a signal to a host process",
    args=_HOST | {"signal": f"the signal (default {DEFAULT_SIGNAL})"},
    choices={"signal": list(SIGNALS)},
    say="sent SIG{signal} to {host} (pid {out[pid]})",
)
def kill(c: Cluster, host: str, signal: str = DEFAULT_SIGNAL) -> dict[str, Any]:
    if signal not in SIGNALS:
        raise ApiError(f"unknown signal '{signal}' (one of {', '.join(SIGNALS)})")
    return {"host": host, "pid": c.kill(host, SIGNALS[signal]), "signal": signal}


@COMMANDS.declare(
    "restart",
    help="stop (if running) and start a host",
    args=_HOST,
    say="{host} restarted as pid {out[pid]}",
)
def restart(c: Cluster, host: str) -> dict[str, Any]:
    return {"host": host, "pid": c.restart(host)}


@COMMANDS.declare("join", help="what a host needs to join (testbed host NAME --join)", cli=False)
def join(c: Cluster) -> dict[str, Any]:
    return c.join_document(secrets=False)  # no keys: a keyless peer may ask


@COMMANDS.declare(
    "force-down",
    help="force a host's service down",
    args=_HOST | {"up": "undo: let heartbeats decide again"},
    say="{host}: {out[state]}",
)
def force_down(c: Cluster, host: str, up: bool = False) -> dict[str, Any]:
    c.api.force_down(host, not up)
    return {"host": host, "state": "no longer forced down" if up else "forced down"}


@COMMANDS.declare(
    "server.create",
    help="build a server",
    args={
        "name": "the server's name",
        "host": "the host (default: the scheduler's pick)",
        "pci": "PCI devices (default: devices.per_server)",
    },
    say="{out[name]} is {out[vm_state]} on {out[host]}",
)
def server_create(c: Cluster, name: str, host: str | None = None, pci: int | None = None) -> Any:
    return c.api.create_server(name, host, pci)


@COMMANDS.declare(
    "evacuate",
    help="evacuate a server off its down host",
    args=_SERVER | {"to": "the destination (default: the scheduler's pick)"},
    say="{server} evacuated from {out[source]} to {out[dest]}",
)
def evacuate(c: Cluster, server: str, to: str | None = None) -> dict[str, Any]:
    return c.api.evacuate(server, to)


@COMMANDS.declare("delete", help="delete a server", args=_SERVER, say="{server} deleted")
def delete(c: Cluster, server: str) -> None:
    c.api.delete(server)


@COMMANDS.declare("rebuild", help="rebuild a server", args=_SERVER, say="{server} rebuilt")
def rebuild(c: Cluster, server: str) -> None:
    c.api.rebuild(server)


@COMMANDS.declare(
    "audit", help="run update_available_resource on a host", args=_HOST, say="audit on {host} done"
)
def audit(c: Cluster, host: str) -> dict[str, Any]:
    return {"task": c.api.audit(host)}


@COMMANDS.declare(
    "resize",
    help="cold-migrate a server (a resize, same request) until it awaits confirm or revert",
    args=_SERVER | {"to": "the destination (default: the scheduler's pick)"},
    say="{server} resized from {out[source]} to {out[dest]}: confirm or revert it",
)
def resize(c: Cluster, server: str, to: str | None = None) -> dict[str, Any]:
    return c.api.resize(server, to)


@COMMANDS.declare(
    "confirm-resize",
    help="confirm a resize: the source drops what it kept",
    args=_SERVER,
    say="{server}: resize confirmed",
)
def confirm_resize(c: Cluster, server: str) -> dict[str, Any]:
    return c.api.confirm_resize(server)


@COMMANDS.declare(
    "revert-resize",
    help="revert a resize: the server goes back to its source",
    args=_SERVER,
    say="{server}: resize reverted to {out[source]}",
)
def revert_resize(c: Cluster, server: str) -> dict[str, Any]:
    return c.api.revert_resize(server)


@COMMANDS.declare(
    "live-migrate",
    help="live-migrate a server",
    args=_SERVER | {"to": "the destination (default: the scheduler's pick)"},
    say="{server} live-migrated from {out[source]} to {out[dest]}",
)
def live_migrate(c: Cluster, server: str, to: str | None = None) -> dict[str, Any]:
    return c.api.live_migrate(server, to)


@COMMANDS.declare(
    "shelve", help="shelve and offload a server", args=_SERVER, say="{server} shelved"
)
def shelve(c: Cluster, server: str) -> None:
    c.api.shelve(server)


@COMMANDS.declare(
    "unshelve",
    help="unshelve a server",
    args=_SERVER | {"to": "the host (default: the scheduler's pick)"},
    say="{server} unshelved on {out[host]}",
)
def unshelve(c: Cluster, server: str, to: str | None = None) -> dict[str, Any]:
    return {"host": c.api.unshelve(server, to)}
