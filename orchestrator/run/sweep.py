"""The kill sweep: a generator of scenarios, one per point on the evacuation and audit paths,
each killing the source or the destination at that point, and each run by the runner
(``orchestrator.run.runner``) exactly as ``testbed run`` runs a scenario file.

The scenario of a trial (``scenario``) is data: its ``[config]`` arms one ``kill`` fault (a
fault fires in the host's first process only, so the restarted host recovers) and gives every
host room for two servers; its steps

1. build ``vm1`` on the source and ``vm2`` on the destination;
2. run the source's audit (the source's audit path);
3. kill the source (it may be dead already) and wait until it is seen down;
4. evacuate ``vm1`` to the destination while the destination's audit runs;
5. recover: restart the destination when it is the one killed (``init_host`` fails a
   cut-off evacuation and frees its claim), evacuate ``vm1`` again (refused when it is
   already there), restart the source (``init_host`` frees what it held for ``vm1``), audit
   both;
6. check that ``vm2`` keeps its devices and that no device is leaked (bound to a server that
   is gone or elsewhere) or bound beyond its server's request (``no_leaks``); the runner then
   checks the invariants.

Only a step whose host the trial kills says ``may_fail``: its tasks may be cut off, its
refusal is a note. So a trial is *inconclusive*, by the runner's own rules, when its kill
never fired or a task of a host it did not kill ended failed. The source runs no evacuation
step, so only its audit points are swept; the points are those the catalogue puts on the
audit and evacuate paths.

A trial changes nothing in the configuration but its fault and that room (the base scenario's
delays and holds are dropped: the kill is the only thing set up) and leaves nothing behind
but the run directory of a trial that did not pass.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from orchestrator.run import runner
from orchestrator.run.scenario import Scenario, Step
from testbed.config import Config, apply_layer, validate
from testbed.errors import ConfigError
from testbed.points import on_path
from testbed.vocabulary import Fault, Until

EVACUATION = on_path("evacuate")
AUDIT = on_path("audit")
LEAKS = "no_leaks"  # the step whose check counts what is leaked or bound twice


@dataclass
class Trial:
    """A runner result and the fault point it was run for."""

    role: str
    host: str
    point: str
    result: runner.Result
    kills: list[tuple[str, str]] = field(default_factory=list)  # (host, point) that fired

    @property
    def fired(self) -> bool:
        return (self.host, self.point) in self.kills

    @property
    def outcome(self) -> str:
        return self.result.outcome

    def counts(self) -> tuple[int, int] | None:
        """(leaked, bound beyond the request) devices, from the ``no_leaks`` check; None when
        the run did not get that far."""
        r = self.result
        if r.last_check is None or r.error or (r.failed_step and r.failed_step.do != LEAKS):
            return None
        rows = r.last_check.rows
        leaked = sum(x.actual for x in rows if x.expect.count == 0)
        return leaked, sum(x.actual - x.expect.count for x in rows if x.expect.count)

    def lines(self) -> list[str]:
        """Why it did not pass, where its run directory and timeline are: one line each."""
        r = self.result
        out = [f"{r.failed_step}: {r.error}"] if r.error else []
        if r.last_check and not r.last_check.ok:
            out += [f"{r.failed_step} failed:", *r.last_check.diff()]
        out += r.invariants.violations if r.invariants else []
        out += [f"inconclusive: {line}" for line in r.inconclusive]
        out += [f"run dir: {r.run_dir}"] if r.kept else []
        return out + ([f"timeline: {r.timeline}"] if r.timeline else [])

    def to_dict(self) -> dict[str, Any]:
        leaked, double = self.counts() or (None, None)
        return {
            **self.result.to_dict(),
            "role": self.role,
            "host": self.host,
            "point": self.point,
            "fired": self.fired,
            "leaked": leaked,
            "double_bound": double,
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


def scenario(config: Config, role: str, host: str, point: str, source: str, dest: str) -> Scenario:
    """The trial's scenario: what a scenario file killing ``host`` at ``point`` would say."""
    n = config.devices.per_server
    room = 2 * n  # the destination takes vm2 and then vm1
    devices = {
        "per_host": max(config.devices.per_host, room),
        "hosts": {h: max(n, room) for h, n in config.devices.hosts.items()},
    }
    dies = {source, host}.__contains__  # the source always dies: by the fault or the kill step
    raw: list[tuple[str, dict[str, Any], bool]] = [  # (do, fields, may_fail)
        ("create_server", {"server": "vm1", "host": source}, dies(source)),
        ("create_server", {"server": "vm2", "host": dest}, dies(dest)),
        ("audit", {"host": source}, dies(source)),
        ("kill", {"host": source}, dies(source)),
        ("wait_down", {"host": source}, dies(source)),
        ("evacuate", {"server": "vm1", "to": dest, "until": Until.ACCEPTED}, dies(dest)),
        ("audit", {"host": dest, "wait": False}, dies(dest)),
        ("wait_idle", {}, False),
    ]
    if role == "destination":
        raw.append(("restart", {"host": dest}, False))
    raw += [
        ("evacuate", {"server": "vm1", "to": dest}, True),  # refused when vm1 is there already
        ("restart", {"host": source}, False),
        ("audit", {"host": dest}, False),
        ("audit", {"host": source}, False),
        ("wait_idle", {}, False),
        ("check", {"expect": [f"vm2:{dest}={n}"]}, False),
        (LEAKS, {}, False),
    ]
    steps = [Step(n, do, args, may_fail) for n, (do, args, may_fail) in enumerate(raw, 1)]
    return Scenario(
        f"sweep-{host}-{point}",
        f"kill the {role} {host} at {point}, recover, check for leaks and the invariants",
        {"faults": {f"{host}:{point}": str(Fault.KILL)}, "devices": devices},
        steps,
    )


def trial_config(config: Config, trial: Scenario) -> Config:
    """The base configuration without its delays, holds and faults, then the trial's."""
    cfg = copy.deepcopy(config)
    cfg.delays, cfg.holds, cfg.faults = {}, {}, {}
    apply_layer(cfg, trial.config, f"sweep trial '{trial.name}'")
    return validate(cfg)


@contextmanager
def _kills(cluster: Any, seen: list[tuple[str, str]]) -> Iterator[None]:
    """A runner observer: the kills that fired, read before the cluster is torn down."""
    try:
        yield
    finally:
        seen.extend(cluster.kills())


def trial(
    config: Config,
    role: str,
    host: str,
    point: str,
    source: str,
    dest: str,
    run_base: str | None = None,
) -> Trial:
    s, kills = scenario(config, role, host, point, source, dest), []
    result = runner.run(s, trial_config(config, s), run_base, observer=lambda c: _kills(c, kills))
    return Trial(role, host, point, result, kills)


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
