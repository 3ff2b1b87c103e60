"""Scenario steps: each a small function of the cluster, declared with the fields it takes.

A step returns a ``CheckResult`` when it checks something; the runner stops at the first
check that fails. A step must not wait without a bound from the configuration."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from testbed.operations import signature_fields
from testbed.vocabulary import DEFAULT_SIGNAL, SIGNALS, UNTIL, Fault, HostState, Until, VmState

if TYPE_CHECKING:  # listing or validating scenarios must not load the cluster machinery
    from orchestrator.cluster.cluster import Cluster
    from orchestrator.run.checks import CheckResult

REQUIRED = object()


@dataclass(frozen=True)
class StepType:
    run: Callable[..., CheckResult | None]
    fields: dict[str, tuple[type, Any]]  # name -> (type, default or REQUIRED)
    doc: str


STEPS: dict[str, StepType] = {}


def step(name: str, doc: str) -> Callable[[Callable], Callable]:
    """Declare a scenario step: its fields (type, default or required) are the parameters of
    the function after the cluster, read from its signature as an operation's are."""

    def declare(fn: Callable) -> Callable:
        fields = signature_fields(fn, f"step {name}")
        STEPS[name] = StepType(
            fn, {n: (f.type, REQUIRED if f.required else f.default) for n, f in fields.items()}, doc
        )
        return fn

    return declare


@step(
    "create_server",
    "build a server (on a host, or the scheduler's pick) with pci devices "
    "(default devices.per_server); wait = false returns once the host has the build",
)
def _create_server(
    c: Cluster, server: str, host: str = "", pci: int = -1, wait: bool = True
) -> None:
    c.api.create_server(server, host or None, None if pci < 0 else pci, wait)


@step("check", "devices bound per SERVER:HOST=N, retried under [checks]")
def _check(c: Cluster, expect: list[str]) -> CheckResult:
    from orchestrator.run.checks import Expect, check_allocations

    expects = [Expect.parse(e) for e in expect]
    return check_allocations(c.api.allocations, expects, c.config.checks, c.settled)


@step("kill", f"send a signal ({', '.join(SIGNALS)}) to a host process")
def _kill(c: Cluster, host: str, signal: str = DEFAULT_SIGNAL) -> None:
    c.kill(host, SIGNALS[signal])


@step("wait_down", "wait until the orchestrator sees the host down")
def _wait_down(c: Cluster, host: str) -> None:
    c.api.wait_host(host, HostState.DOWN)


@step("wait_up", "wait until the host is up")
def _wait_up(c: Cluster, host: str) -> None:
    c.api.wait_host(host, HostState.UP)


@step("force_down", "force a host's service down (or up again)")
def _force_down(c: Cluster, host: str, up: bool = False) -> None:
    c.api.force_down(host, not up)


@step("evacuate", f"evacuate a server off its down host; until = {' | '.join(UNTIL)}")
def _evacuate(c: Cluster, server: str, to: str = "", until: str = Until.DONE) -> None:
    c.api.evacuate(server, to or None, until)


@step("audit", "run update_available_resource on a host now")
def _audit(c: Cluster, host: str, wait: bool = True) -> None:
    c.api.audit(host, wait)


@step("wait_server", "wait until the server is settled on a host")
def _wait_server(c: Cluster, server: str, host: str, state: str = VmState.ACTIVE) -> None:
    c.api.wait_server(server, host, state)


@step("wait_idle", "wait until no task runs on a live host")
def _wait_idle(c: Cluster) -> None:
    c.api.wait_idle()


@step("restart", "stop (if running) and start a host; init_host runs")
def _restart(c: Cluster, host: str) -> None:
    c.restart(host)


@step("delete", "delete a server")
def _delete(c: Cluster, server: str) -> None:
    c.api.delete(server)


@step("rebuild", "rebuild a server on its host")
def _rebuild(c: Cluster, server: str) -> None:
    c.api.rebuild(server)


@step("fault", "arm a fault at a point of a running host: kill it there, before the step's effect")
def _fault(c: Cluster, host: str, point: str, action: str = Fault.KILL) -> None:
    c.api.arm_fault(host, point, action)


@step(
    "partition", "cut a host's link to the orchestrator (both, to_host or from_host); both run on"
)
def _partition(c: Cluster, host: str, direction: str = "both") -> None:
    c.network.partition(host, direction)


@step("heal", "restore a host's link (default: every link); lost messages stay lost")
def _heal(c: Cluster, host: str = "") -> None:
    c.network.heal(host or None)


@step("slow", "delay each message of a host's link (plus up to jitter, seeded) and drop a fraction")
def _slow(
    c: Cluster, host: str, delay: float = 0.0, jitter: float = 0.0, drop: float = 0.0
) -> None:
    c.network.slow(host, delay, jitter, drop)


@step("resize", "cold-migrate a server (a resize, same request) and wait until it awaits confirm")
def _resize(c: Cluster, server: str, to: str = "") -> None:
    c.api.resize(server, to or None)


@step("confirm_resize", "confirm a resize: the source drops what it kept")
def _confirm_resize(c: Cluster, server: str) -> None:
    c.api.confirm_resize(server)


@step(
    "revert_resize",
    "revert a resize: the destination drops its claim, the source takes the server back",
)
def _revert_resize(c: Cluster, server: str) -> None:
    c.api.revert_resize(server)


@step(
    "live_migrate",
    "live-migrate a server: the destination claims and takes it, the source frees; "
    f"until = {' | '.join(UNTIL)} (the rest goes on in the background)",
)
def _live_migrate(c: Cluster, server: str, to: str = "", until: str = Until.DONE) -> None:
    c.api.live_migrate(server, to or None, until)


@step("shelve", "shelve and offload a server: it leaves its host, which frees its devices")
def _shelve(c: Cluster, server: str) -> None:
    c.api.shelve(server)


@step(
    "unshelve",
    f"unshelve a server on a host (or the scheduler's pick); until = {' | '.join(UNTIL)}",
)
def _unshelve(c: Cluster, server: str, to: str = "", until: str = Until.DONE) -> None:
    c.api.unshelve(server, to or None, until)


@step("sleep", "wait a fixed time (bounded by timeouts.settle)")
def _sleep(c: Cluster, seconds: float) -> None:
    time.sleep(min(seconds, c.config.timeouts.settle))  # bounded like every other wait


@step(
    "no_leaks",
    "check that no device is bound to a server that is gone or on another host, nor beyond "
    "what its server asked for; retried under [checks]",
)
def _no_leaks(c: Cluster) -> CheckResult:
    from orchestrator.run.checks import CheckResult, Expect, Row
    from orchestrator.run.retry import until_ok

    def observe() -> CheckResult:
        # one row per (server, host) holding more than it may: 0 off its host, else its request
        servers = {s["uuid"]: s for s in c.state.instances(include_deleted=True)}
        bound: dict[tuple[str, str], int] = {}
        for d in c.state.devices():
            if d["instance_uuid"]:
                key = (d["instance_uuid"], d["host"])
                bound[key] = bound.get(key, 0) + 1
        rows = []
        for (uuid, host), n in sorted(bound.items()):
            s = servers.get(uuid)
            mine = s is not None and not s["deleted"] and s["host"] == host
            allowed = s["pci_count"] if mine else 0
            if n > allowed:
                rows.append(Row(Expect(s["name"] if s else uuid, host, allowed), n))
        return CheckResult(rows, c.api.allocations())

    return until_ok(observe, c.config.checks, c.settled)
