"""Checks on the orchestrator's state, retried under the configured tenacity policy.

The check that matters is Nova's: for server S and host H, the number of devices of H bound
(claimed or allocated) to S. A check only observes: it must not change the cluster, since it
is called again and again until it holds."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from orchestrator.run.render import allocations
from orchestrator.run.retry import until_ok
from testbed.config import Checks, Config
from testbed.errors import ConfigError

if TYPE_CHECKING:
    from orchestrator.cluster.cluster import Cluster

# SERVER:HOST=N; a host is a hostname or FQDN (testbed.names), so it may hold dots
_EXPECT = re.compile(r"^([\w.-]+):([A-Za-z0-9_.-]+)=(\d+)$")


@dataclass(frozen=True)
class Expect:
    server: str
    host: str
    count: int

    @classmethod
    def parse(cls, text: str) -> Expect:
        m = _EXPECT.match(text.strip())
        if not m:
            raise ConfigError(f"expectation '{text}' is not SERVER:HOST=N (e.g. vm1:host2=1)")
        return cls(m[1], m[2], int(m[3]))

    def __str__(self) -> str:
        return f"{self.server}:{self.host}={self.count}"


@dataclass
class Row:
    expect: Expect
    actual: int

    @property
    def ok(self) -> bool:
        return self.actual == self.expect.count


@dataclass
class CheckResult:
    rows: list[Row]
    observed: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.rows)

    def lines(self) -> list[str]:
        """One line per expectation: host, server, bound of expected, verdict."""
        out = []
        for r in self.rows:
            e = r.expect
            what = f"{r.actual} of {e.count}" if e.count else f"{r.actual} (expected none)"
            out.append(
                f"  {e.host:<10} {e.server:<10} {what} device(s) bound  {'ok' if r.ok else 'FAIL'}"
            )
        return out

    def diff(self) -> list[str]:
        """Expected vs actual, one line per failing (server, host), then the last state of
        each host the expectations name."""
        lines = [
            f"{r.expect.host}: {r.expect.server} expected {r.expect.count} device(s) bound, "
            f"found {r.actual}"
            for r in self.rows
            if not r.ok
        ]
        named = {r.expect.host for r in self.rows}  # not every host of a large cell
        seen = {h: servers for h, servers in self.observed.items() if h in named}
        return lines + allocations(seen, "  last observed on ")

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "lines": self.lines(),
            "rows": [
                {
                    "server": r.expect.server,
                    "host": r.expect.host,
                    "expected": r.expect.count,
                    "actual": r.actual,
                    "ok": r.ok,
                }
                for r in self.rows
            ],
            "observed": self.observed,
        }


def evaluate(expects: list[Expect], observed: dict[str, dict[str, int]]) -> CheckResult:
    rows = [Row(e, observed.get(e.host, {}).get(e.server, 0)) for e in expects]
    return CheckResult(rows, observed)


def check_allocations(
    observe: Callable[[], dict[str, dict[str, int]]],
    expects: list[Expect],
    checks: Checks,
    settled: Callable[[], bool] | None = None,
) -> CheckResult:
    """Observe until every expectation holds or the policy gives up (at once when ``settled``
    says nothing can change any more); the last result wins."""
    return until_ok(lambda: evaluate(expects, observe()), checks, settled)


@dataclass
class InvariantResult:
    violations: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.violations

    def diff(self) -> list[str]:
        return list(self.violations)

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "violations": self.violations}


def check_invariants(
    observe: Callable[[], list[str]], config: Config, settled: Callable[[], bool] | None = None
) -> InvariantResult:
    """Retry under the configured policy until no invariant is violated (or, with ``settled``,
    until nothing can change any more); the last result wins. ``observe``: the system's
    ``invariant_violations``."""
    return until_ok(lambda: InvariantResult(observe()), config.checks, settled)


def check_no_leaks(c: Cluster) -> CheckResult:
    """No device bound to a server that is gone or on another host, nor beyond what its
    server asked for (what a crash at the wrong moment leaves behind), retried under
    [checks]."""

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
