"""The table of user actions: every scenario step and every control command, declared once.

Each is a function of the cluster whose parameters after it are the action's fields (see
``orchestrator.run.action``). What it returns is the control command's answer (through the
action's ``answer`` when that says more); a scenario's runner looks only at a ``CheckResult``.
An action must not wait without a bound from the configuration.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from orchestrator.run.action import ACTIONS, CONTROL, SCENARIO, Action, action
from testbed.validate import DIRECTIONS
from testbed.vocabulary import (
    DEFAULT_SIGNAL,
    FAULTS,
    SIGNALS,
    UNTIL,
    Fault,
    HostState,
    Until,
    VmState,
)

if TYPE_CHECKING:  # listing or validating scenarios must not load the cluster machinery
    from orchestrator.cluster.cluster import Cluster
    from orchestrator.run.checks import CheckResult

_HOST = {"host": "the host's name"}
_SERVER = {"server": "the server's name"}
_TO = {"to": "the destination (default: the scheduler's pick)"}
_UNTIL = {"until": "return once the move is accepted, claimed, or done (default)"}
_UNTIL_CHOICES = {"until": tuple(UNTIL)}


def of(face: str) -> list[Action]:
    """The actions one face offers, in declaration order."""
    return [a for a in ACTIONS.values() if face in a.faces]


@action("status", "hosts, pids, up/down, devices, servers", faces=(CONTROL,))
def status(c: Cluster) -> dict[str, Any]:
    return c.status()


@action(
    "join",
    "what a host needs to join (testbed host NAME --join)",
    faces=(CONTROL,),
    cli=False,
)
def join(c: Cluster) -> dict[str, Any]:
    return c.join_document(secrets=False)  # no keys: a keyless peer may ask


def _verdict(c: Cluster, result: CheckResult, **args: Any) -> dict[str, Any]:
    """The control command says more than the step: the invariants now, and whether a task
    failed or a hold timed out (a scenario's runner judges those at its end)."""
    from orchestrator.run import verdict
    from orchestrator.run.checks import check_invariants

    invariants = check_invariants(c.api.invariant_violations, c.config, c.settled)
    held = result.ok and invariants.ok
    why = verdict.live_reasons(c)
    return {
        "ok": held and not why,
        "outcome": verdict.outcome(held, False, why),
        "inconclusive": why,
        "check": result.to_dict(),
        "diff": result.diff() if not result.ok else [],
        "invariants": invariants.to_dict(),
    }


@action(
    "check",
    "devices bound per SERVER:HOST=N, retried under [checks]; the command also checks the "
    "invariants (exit 0 when they hold, 1 when not, 3 when a task failed or a hold timed out)",
    help={"expect": "SERVER:HOST=N: devices of HOST bound to SERVER (repeatable)"},
    answer=_verdict,
)
def check(c: Cluster, expect: list[str]) -> CheckResult:
    from orchestrator.run.checks import Expect, check_allocations

    expects = [Expect.parse(e) for e in expect]
    return check_allocations(c.api.allocations, expects, c.config.checks, c.settled)


@action(
    "no_leaks",
    "check that no device is bound to a server that is gone or on another host, nor beyond "
    "what its server asked for; retried under [checks]",
    answer=_verdict,
)
def no_leaks(c: Cluster) -> CheckResult:
    from orchestrator.run.checks import check_no_leaks

    return check_no_leaks(c)


@action(
    "create_server",
    "build a server (on a host, or the scheduler's pick) with pci devices "
    "(default devices.per_server); wait = false returns once the host has the build",
    help=_SERVER
    | {"host": "the host (default: the scheduler's pick)", "pci": "PCI devices"}
    | {"wait": "wait until it is built (default)"},
    say="{out[name]} is {out[vm_state]} on {out[host]}",
    aliases=("server create",),
)
def create_server(
    c: Cluster, server: str, host: str | None = None, pci: int | None = None, wait: bool = True
) -> dict[str, Any]:
    return c.api.create_server(server, host, pci, wait)


@action(
    "kill",
    f"send a signal ({', '.join(SIGNALS)}) to a host process",
    help=_HOST | {"signal": f"the signal (default {DEFAULT_SIGNAL})"},
    choices={"signal": tuple(SIGNALS)},
    say="sent SIG{signal} to {host} (pid {out[pid]})",
)
def kill(c: Cluster, host: str, signal: str = DEFAULT_SIGNAL) -> dict[str, Any]:
    return {"host": host, "pid": c.kill(host, SIGNALS[signal]), "signal": signal}


@action(
    "wait_down", "wait until the orchestrator sees the host down", help=_HOST, say="{host} is down"
)
def wait_down(c: Cluster, host: str) -> None:
    c.api.wait_host(host, HostState.DOWN)


@action("wait_up", "wait until the host is up", help=_HOST, say="{host} is up")
def wait_up(c: Cluster, host: str) -> None:
    c.api.wait_host(host, HostState.UP)


@action(
    "force_down",
    "force a host's service down (or up again)",
    help=_HOST | {"up": "undo: let heartbeats decide again"},
    say="{host}: {out[state]}",
)
def force_down(c: Cluster, host: str, up: bool = False) -> dict[str, Any]:
    c.api.force_down(host, not up)
    return {"host": host, "state": "no longer forced down" if up else "forced down"}


@action(
    "evacuate",
    f"evacuate a server off its down host; until = {' | '.join(UNTIL)}",
    help=_SERVER | _TO | _UNTIL,
    choices=_UNTIL_CHOICES,
    say="{server} evacuated from {out[source]} to {out[dest]}",
)
def evacuate(
    c: Cluster, server: str, to: str | None = None, until: str = Until.DONE
) -> dict[str, Any]:
    return c.api.evacuate(server, to, until)


@action(
    "audit",
    "run update_available_resource on a host now",
    help=_HOST | {"wait": "wait until it is done (default)"},
    say="audit on {host}: {out[state]}",
)
def audit(c: Cluster, host: str, wait: bool = True) -> dict[str, Any]:
    return {"task": c.api.audit(host, wait), "state": "done" if wait else "started"}


@action(
    "wait_server",
    "wait until the server is settled on a host",
    help=_SERVER | _HOST | {"state": f"its vm state (default {VmState.ACTIVE})"},
    say="{server} is {state} on {host}",
)
def wait_server(c: Cluster, server: str, host: str, state: str = VmState.ACTIVE) -> None:
    c.api.wait_server(server, host, state)


@action("wait_idle", "wait until no task runs on a live host", say="no task runs")
def wait_idle(c: Cluster) -> None:
    c.api.wait_idle()


@action(
    "restart",
    "stop (if running) and start a host; init_host runs",
    help=_HOST,
    say="{host} restarted as pid {out[pid]}",
)
def restart(c: Cluster, host: str) -> dict[str, Any]:
    return {"host": host, "pid": c.restart(host)}


@action("delete", "delete a server", help=_SERVER, say="{server} deleted")
def delete(c: Cluster, server: str) -> None:
    c.api.delete(server)


@action("rebuild", "rebuild a server on its host", help=_SERVER, say="{server} rebuilt")
def rebuild(c: Cluster, server: str) -> None:
    c.api.rebuild(server)


@action(
    "fault",
    "arm a fault at a point of a running host: kill it there, before the step's effect",
    help=_HOST | {"point": "the injection point (testbed points)", "action": "what happens"},
    choices={"action": tuple(FAULTS)},
    say="{action} armed at {point} on {host}",
)
def fault(c: Cluster, host: str, point: str, action: str = Fault.KILL) -> None:
    c.api.arm_fault(host, point, action)


@action(
    "partition",
    "cut a host's link to the orchestrator (both, to_host or from_host); both run on",
    help=_HOST | {"direction": "which messages are lost (default both)"},
    choices={"direction": DIRECTIONS},
    say="{host}'s link cut ({direction})",
)
def partition(c: Cluster, host: str, direction: str = "both") -> None:
    c.network.partition(host, direction)


@action(
    "heal",
    "restore a host's link (default: every link); lost messages stay lost",
    help={"host": "the host (default: every host)"},
    say="healed",
)
def heal(c: Cluster, host: str | None = None) -> None:
    c.network.heal(host)


@action(
    "slow",
    "delay each message of a host's link (plus up to jitter, seeded) and drop a fraction",
    help=_HOST
    | {"delay": "seconds per message", "jitter": "up to this much more", "drop": "0 to 1"},
    say="{host}'s link: delay {delay} s (+ up to {jitter} s), drop {drop}",
)
def slow(c: Cluster, host: str, delay: float = 0.0, jitter: float = 0.0, drop: float = 0.0) -> None:
    c.network.slow(host, delay, jitter, drop)


@action(
    "resize",
    "cold-migrate a server (a resize, same request) and wait until it awaits confirm",
    help=_SERVER | _TO,
    say="{server} resized from {out[source]} to {out[dest]}: confirm or revert it",
)
def resize(c: Cluster, server: str, to: str | None = None) -> dict[str, Any]:
    return c.api.resize(server, to)


@action(
    "confirm_resize",
    "confirm a resize: the source drops what it kept",
    help=_SERVER,
    say="{server}: resize confirmed",
)
def confirm_resize(c: Cluster, server: str) -> dict[str, Any]:
    return c.api.confirm_resize(server)


@action(
    "revert_resize",
    "revert a resize: the destination drops its claim, the source takes the server back",
    help=_SERVER,
    say="{server}: resize reverted to {out[source]}",
)
def revert_resize(c: Cluster, server: str) -> dict[str, Any]:
    return c.api.revert_resize(server)


@action(
    "live_migrate",
    "live-migrate a server: the destination claims and takes it, the source frees; "
    f"until = {' | '.join(UNTIL)} (the rest goes on in the background)",
    help=_SERVER | _TO | _UNTIL,
    choices=_UNTIL_CHOICES,
    say="{server} live-migrated from {out[source]} to {out[dest]}",
)
def live_migrate(
    c: Cluster, server: str, to: str | None = None, until: str = Until.DONE
) -> dict[str, Any]:
    return c.api.live_migrate(server, to, until)


@action(
    "shelve",
    "shelve and offload a server: it leaves its host, which frees its devices",
    help=_SERVER,
    say="{server} shelved",
)
def shelve(c: Cluster, server: str) -> None:
    c.api.shelve(server)


@action(
    "unshelve",
    f"unshelve a server on a host (or the scheduler's pick); until = {' | '.join(UNTIL)}",
    help=_SERVER | {"to": "the host (default: the scheduler's pick)"} | _UNTIL,
    choices=_UNTIL_CHOICES,
    say="{server} unshelved on {out[host]}",
)
def unshelve(
    c: Cluster, server: str, to: str | None = None, until: str = Until.DONE
) -> dict[str, Any]:
    return {"host": c.api.unshelve(server, to, until)}


@action("sleep", "wait a fixed time (bounded by timeouts.settle)", faces=(SCENARIO,))
def sleep(c: Cluster, seconds: float) -> None:
    time.sleep(min(seconds, c.config.timeouts.settle))  # bounded like every other wait
