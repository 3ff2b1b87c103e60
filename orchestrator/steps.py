"""Scenario steps: each a small function of the cluster, declared with the fields it takes.

A step returns a ``CheckResult`` when it checks something; the runner stops at the first
check that fails. A step must not wait without a bound from the configuration."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from testbed.vocabulary import DEFAULT_SIGNAL, SIGNALS, UNTIL, Fault, HostState, Until, VmState

if TYPE_CHECKING:  # listing or validating scenarios must not load the cluster machinery
    from orchestrator.checks import CheckResult
    from orchestrator.cluster import Cluster

REQUIRED = object()


@dataclass(frozen=True)
class StepType:
    run: Callable[..., CheckResult | None]
    fields: dict[str, tuple[type, Any]]  # name -> (type, default or REQUIRED)
    doc: str


def _create_server(
    c: Cluster, server: str, host: str = "", pci: int = -1, wait: bool = True
) -> None:
    c.api.create_server(server, host or None, None if pci < 0 else pci, wait)


def _check(c: Cluster, expect: list[str]) -> CheckResult:
    from orchestrator.checks import Expect, check_allocations

    expects = [Expect.parse(e) for e in expect]
    return check_allocations(c.api.allocations, expects, c.config.checks, c.settled)


def _kill(c: Cluster, host: str, signal: str = DEFAULT_SIGNAL) -> None:
    c.kill(host, SIGNALS[signal])


def _sleep(c: Cluster, seconds: float) -> None:
    time.sleep(min(seconds, c.config.timeouts.settle))  # bounded like every other wait


STEPS: dict[str, StepType] = {
    "create_server": StepType(
        _create_server,
        {"server": (str, REQUIRED), "host": (str, ""), "pci": (int, -1), "wait": (bool, True)},
        "build a server (on a host, or the scheduler's pick) with pci devices "
        "(default devices.per_server); wait = false returns once the host has the build",
    ),
    "check": StepType(
        _check,
        {"expect": (list, REQUIRED)},
        "devices bound per SERVER:HOST=N, retried under [checks]",
    ),
    "kill": StepType(
        _kill,
        {"host": (str, REQUIRED), "signal": (str, DEFAULT_SIGNAL)},
        f"send a signal ({', '.join(SIGNALS)}) to a host process",
    ),
    "wait_down": StepType(
        lambda c, host: c.api.wait_host(host, HostState.DOWN),
        {"host": (str, REQUIRED)},
        "wait until the orchestrator sees the host down",
    ),
    "wait_up": StepType(
        lambda c, host: c.api.wait_host(host, HostState.UP),
        {"host": (str, REQUIRED)},
        "wait until the host is up",
    ),
    "force_down": StepType(
        lambda c, host, up=False: c.api.force_down(host, not up),
        {"host": (str, REQUIRED), "up": (bool, False)},
        "force a host's service down (or up again)",
    ),
    "evacuate": StepType(
        lambda c, server, to="", until=Until.DONE: c.api.evacuate(server, to or None, until),
        {"server": (str, REQUIRED), "to": (str, ""), "until": (str, Until.DONE)},
        f"evacuate a server off its down host; until = {' | '.join(UNTIL)}",
    ),
    "audit": StepType(
        lambda c, host, wait=True: c.api.audit(host, wait),
        {"host": (str, REQUIRED), "wait": (bool, True)},
        "run update_available_resource on a host now",
    ),
    "wait_server": StepType(
        lambda c, server, host, state=VmState.ACTIVE: c.api.wait_server(server, host, state),
        {"server": (str, REQUIRED), "host": (str, REQUIRED), "state": (str, VmState.ACTIVE)},
        "wait until the server is settled on a host",
    ),
    "wait_idle": StepType(
        lambda c: c.api.wait_idle(), {}, "wait until no task runs on a live host"
    ),
    "restart": StepType(
        lambda c, host: c.restart(host),
        {"host": (str, REQUIRED)},
        "stop (if running) and start a host; init_host runs",
    ),
    "delete": StepType(
        lambda c, server: c.api.delete(server), {"server": (str, REQUIRED)}, "delete a server"
    ),
    "rebuild": StepType(
        lambda c, server: c.api.rebuild(server),
        {"server": (str, REQUIRED)},
        "rebuild a server on its host",
    ),
    "fault": StepType(
        lambda c, host, point, action=Fault.KILL: c.api.arm_fault(host, point, action),
        {"host": (str, REQUIRED), "point": (str, REQUIRED), "action": (str, Fault.KILL)},
        "arm a fault at a point of a running host: kill it there, before the step's effect",
    ),
    "partition": StepType(
        lambda c, host, direction="both": c.network.partition(host, direction),
        {"host": (str, REQUIRED), "direction": (str, "both")},
        "cut a host's link to the orchestrator (both, to_host or from_host); both run on",
    ),
    "heal": StepType(
        lambda c, host="": c.network.heal(host or None),
        {"host": (str, "")},
        "restore a host's link (default: every link); lost messages stay lost",
    ),
    "slow": StepType(
        lambda c, host, delay=0.0, jitter=0.0, drop=0.0: c.network.slow(host, delay, jitter, drop),
        {
            "host": (str, REQUIRED),
            "delay": (float, 0.0),
            "jitter": (float, 0.0),
            "drop": (float, 0.0),
        },
        "delay each message of a host's link (plus up to jitter, seeded) and drop a fraction",
    ),
    "resize": StepType(
        lambda c, server, to="": c.api.resize(server, to or None),
        {"server": (str, REQUIRED), "to": (str, "")},
        "cold-migrate a server (a resize, same request) and wait until it awaits confirm",
    ),
    "confirm_resize": StepType(
        lambda c, server: c.api.confirm_resize(server),
        {"server": (str, REQUIRED)},
        "confirm a resize: the source drops what it kept",
    ),
    "revert_resize": StepType(
        lambda c, server: c.api.revert_resize(server),
        {"server": (str, REQUIRED)},
        "revert a resize: the destination drops its claim, the source takes the server back",
    ),
    "live_migrate": StepType(
        lambda c, server, to="", until=Until.DONE: c.api.live_migrate(server, to or None, until),
        {"server": (str, REQUIRED), "to": (str, ""), "until": (str, Until.DONE)},
        "live-migrate a server: the destination claims and takes it, the source frees; "
        f"until = {' | '.join(UNTIL)} (the rest goes on in the background)",
    ),
    "shelve": StepType(
        lambda c, server: c.api.shelve(server),
        {"server": (str, REQUIRED)},
        "shelve and offload a server: it leaves its host, which frees its devices",
    ),
    "unshelve": StepType(
        lambda c, server, to="", until=Until.DONE: c.api.unshelve(server, to or None, until),
        {"server": (str, REQUIRED), "to": (str, ""), "until": (str, Until.DONE)},
        f"unshelve a server on a host (or the scheduler's pick); until = {' | '.join(UNTIL)}",
    ),
    "sleep": StepType(
        _sleep, {"seconds": (float, REQUIRED)}, "wait a fixed time (bounded by timeouts.settle)"
    ),
}
