"""The kill sweep: for each point on the evacuation and audit paths, kill the source or the
destination there, bring it back, let the cluster settle, and check the invariants.

Each trial runs on a fresh cluster with one ``kill`` fault (it fires in the host's first
process only, so the restarted host recovers):

1. build ``vm1`` on the source and ``vm2`` on the destination;
2. run the source's audit (the source's audit path);
3. kill the source (if the fault has not already) and wait until it is seen down;
4. evacuate ``vm1`` to the destination while the destination's audit runs;
5. recover: restart a dead destination (``init_host`` fails a cut-off evacuation and frees its
   claim), evacuate ``vm1`` again if it is not active on the destination, restart the source
   (``init_host`` frees what it held for ``vm1``), audit both;
6. check: the invariants, ``vm2`` keeps its devices, and no device is leaked (bound to a
   server that is gone or elsewhere) or double-bound (a server bound on two hosts, or more
   than it asked for).

The source runs no evacuation step, so only its audit points are swept. Every host gets
room for two servers. A trial is *inconclusive* (neither ok nor violated) when it did not test
what it meant to: its kill never fired, or a task ended failed that the kill did not cut off
(only tasks of a host that was killed, made before it came back, may fail). The points swept
are those the catalogue puts on the audit and evacuate paths.

A trial must change nothing in the configuration but the one fault and that room, and leave
nothing behind but the run directory of a failed trial.
"""

from __future__ import annotations

import copy
import logging
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator.cluster.cluster import Cluster
from orchestrator.history.recorder import for_run
from orchestrator.run.checks import Expect, check_allocations, check_invariants
from orchestrator.run.scenario import Scenario
from orchestrator.run.verdict import FAIL, INCONCLUSIVE, PASS, TaskEnd, end_state, reasons
from testbed.config import Config
from testbed.errors import ConfigError, TestbedError
from testbed.points import on_path
from testbed.vocabulary import Fault, HostState, Until, VmState

log = logging.getLogger("testbed.sweep")

EVACUATION = on_path("evacuate")
AUDIT = on_path("audit")


@dataclass
class Trial:
    role: str
    host: str
    point: str
    fired: bool = False
    violations: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # refusals met on the way (expected ones)
    leaked: int = 0
    double_bound: int = 0
    seconds: float = 0.0
    run_dir: str = ""
    tasks: list[TaskEnd] = field(default_factory=list)
    inconclusive: list[str] = field(default_factory=list)  # why it tested nothing

    @property
    def violated(self) -> bool:
        return bool(self.violations or self.leaked or self.double_bound)

    @property
    def verdict(self) -> str:
        if self.violated:
            return FAIL
        return INCONCLUSIVE if self.inconclusive else PASS

    timeline: str = ""  # timeline.html of a failed trial

    @property
    def ok(self) -> bool:
        """The kill happened as planned and nothing was lost, leaked or bound twice."""
        return self.verdict == PASS

    @property
    def outcome(self) -> str:
        return {PASS: "ok", FAIL: "VIOLATED", INCONCLUSIVE: "INCONCLUSIVE"}[self.verdict]

    def to_dict(self) -> dict[str, Any]:
        return {
            "role": self.role,
            "host": self.host,
            "point": self.point,
            "fired": self.fired,
            "ok": self.ok,
            "outcome": self.verdict,
            "inconclusive": self.inconclusive,
            "tasks": [t.to_dict() for t in self.tasks],
            "violations": self.violations,
            "leaked": self.leaked,
            "double_bound": self.double_bound,
            "notes": self.notes,
            "seconds": round(self.seconds, 3),
            "run_dir": self.run_dir,
            "timeline": self.timeline,
        }


def roles(scenario: Scenario, config: Config) -> tuple[str, str]:
    """(source, destination): where the evacuated server was built, and where it goes."""
    dest = next(
        (s.args["to"] for s in scenario.steps if s.do == "evacuate" and s.args.get("to")), None
    )
    if dest is None:
        raise ConfigError(
            f"sweep: scenario '{scenario.name}' has no evacuate step with 'to' (the destination)"
        )
    server = next(s.args["server"] for s in scenario.steps if s.do == "evacuate")
    built = [
        s.args.get("host")
        for s in scenario.steps
        if s.do == "create_server" and s.args["server"] == server
    ]
    source = built[0] if built and built[0] else next(h for h in config.cluster.hosts if h != dest)
    return source, dest


def plan(source: str, dest: str) -> list[tuple[str, str, str]]:
    return [("source", source, p) for p in AUDIT] + [
        ("destination", dest, p) for p in EVACUATION + AUDIT
    ]


def leaks(devices: list[dict[str, Any]], servers: list[dict[str, Any]]) -> tuple[int, int]:
    """(leaked, double-bound) device counts, all hosts being up."""
    by_uuid = {s["uuid"]: s for s in servers}
    leaked, hosts_of, count = 0, {}, {}
    for d in devices:
        if not d["instance_uuid"]:
            continue
        s = by_uuid.get(d["instance_uuid"])
        if s is None or s["deleted"] or s["host"] != d["host"]:
            leaked += 1
        hosts_of.setdefault(d["instance_uuid"], set()).add(d["host"])
        count[d["instance_uuid"]] = count.get(d["instance_uuid"], 0) + 1
    double = sum(
        count[u]
        for u, hs in hosts_of.items()
        if len(hs) > 1 or count[u] > by_uuid.get(u, {}).get("pci_count", 0)
    )
    return leaked, double


def trial(
    config: Config,
    role: str,
    host: str,
    point: str,
    source: str,
    dest: str,
    run_base: str | None = None,
) -> Trial:
    result = Trial(role, host, point)
    cfg = copy.deepcopy(config)
    cfg.delays, cfg.holds, cfg.faults = {}, {}, {f"{host}:{point}": Fault.KILL}
    room = 2 * cfg.devices.per_server  # the destination takes vm2 and then vm1
    cfg.devices.per_host = max(cfg.devices.per_host, room)
    cfg.devices.hosts = {h: max(n, room) for h, n in cfg.devices.hosts.items()}
    run_dir = Path(tempfile.mkdtemp(prefix=f"testbed-sweep-{host}-{point}-", dir=run_base))
    result.run_dir = str(run_dir)
    started = time.monotonic()
    with Cluster(cfg, run_dir, recorder=for_run) as c:
        api = c.api

        def attempt(what: str, fn: Callable[[], Any]) -> None:
            try:
                fn()
            except TestbedError as exc:  # a refusal the fault can cause: noted, not fatal
                result.notes.append(f"{what}: {exc}")

        c.start()
        attempt("create vm1", lambda: api.create_server("vm1", source))
        attempt("create vm2", lambda: api.create_server("vm2", dest))
        attempt("source audit", lambda: api.audit(source))
        if c.alive(source):
            c.kill(source)
        attempt("wait source down", lambda: api.wait_host(source, HostState.DOWN))
        attempt("evacuate", lambda: api.evacuate("vm1", dest, until=Until.ACCEPTED))
        attempt("destination audit", lambda: api.audit(dest, wait=False))
        attempt("settle", api.wait_idle)
        # what the kills cut off: the tasks of every host that is dead now
        cut_off = {t["id"] for t in c.state.tasks() if c.exited(t["host"])}
        if not c.alive(dest):
            c.start_host(dest)
        vm1 = api.server("vm1")
        if (vm1["host"], vm1["vm_state"]) != (dest, VmState.ACTIVE):
            attempt("evacuate again", lambda: api.evacuate("vm1", dest))
        c.start_host(source)
        for h in (dest, source):
            attempt(f"audit {h}", lambda h=h: api.audit(h))
        attempt("settle", api.wait_idle)
        result.fired = (host, point) in c.kills()
        result.tasks = [
            TaskEnd(
                t["id"],
                t["host"],
                t["op"],
                end_state(t, c.exited(t["host"])),
                t["error"],
                may_fail=t["id"] in cut_off,
            )
            for t in c.state.tasks()
        ]
        result.inconclusive = reasons(result.tasks, [])
        if not result.fired:
            result.inconclusive.insert(0, f"the kill at {host}:{point} never fired")
        inv = check_invariants(api.invariant_violations, cfg, c.settled)
        kept = check_allocations(
            api.allocations, [Expect("vm2", dest, cfg.devices.per_server)], cfg.checks, c.settled
        )
        result.violations = inv.violations + ([] if kept.ok else kept.diff()[:1])
        result.leaked, result.double_bound = leaks(
            c.state.devices(), c.state.instances(include_deleted=True)
        )
    result.seconds = time.monotonic() - started
    if result.ok:
        shutil.rmtree(run_dir, ignore_errors=True)
        result.run_dir = ""
    elif cfg.cluster.history:
        from orchestrator.history.timeline import write_page

        result.timeline = str(write_page(run_dir))
    return result


def sweep(
    config: Config,
    source: str,
    dest: str,
    run_base: str | None = None,
    progress: Callable[[Trial], None] | None = None,
) -> list[Trial]:
    trials = []
    for role, host, point in plan(source, dest):
        trials.append(trial(config, role, host, point, source, dest, run_base))
        if progress:
            progress(trials[-1])
    return trials
