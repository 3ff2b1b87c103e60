"""``testbed sweep``: kill a host at every point of the race, one fresh cluster a trial, and
print what each trial left behind. A face: the trials are ``orchestrator.run.sweep``'s."""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from orchestrator.cli.options import scenario_and_config, scenario_args
from orchestrator.run.verdict import EXIT_CODES


def add_parser(sub: Any) -> None:
    sweep = sub.add_parser(
        "sweep",
        help="kill a host at every point of the race, recover, check the invariants",
        description="For each point on the evacuation and audit paths, kill "
        "the source or the destination there (a fresh cluster each time), "
        "restart it, let the cluster settle and check the invariants. Exit 0 "
        "when every trial holds, 1 when one does not.",
    )
    scenario_args(sweep, what="whose cluster and hosts are used")
    sweep.add_argument("--json", action="store_true", help="print one JSON object")
    sweep.set_defaults(func=cmd_sweep)


def cmd_sweep(args: argparse.Namespace) -> int:
    from orchestrator.cli.progress import Progress
    from orchestrator.run import sweep

    scenario, config = scenario_and_config(args, args.scenario)
    source, dest = sweep.roles(scenario, config)
    trials_plan = sweep.plan(source, dest)
    bar = Progress(f"sweep ({config.cluster.tracker})", len(trials_plan))
    started = time.monotonic()
    try:
        trials = sweep.sweep(config, source, dest, progress=lambda t: bar.step(t.point))
    finally:
        bar.close()
    seconds = time.monotonic() - started
    bad = [t for t in trials if t.outcome == "fail"]
    unsure = [t for t in trials if t.outcome == "inconclusive"]
    if args.json:
        print(
            json.dumps(
                {
                    "tracker": config.cluster.tracker,
                    "source": source,
                    "dest": dest,
                    "trials": [t.to_dict() for t in trials],
                    "violations": len(bad),
                    "inconclusive": len(unsure),
                    "seconds": round(seconds, 3),
                },
                indent=2,
            )
        )
    else:
        print(
            f"sweep: kill at each point, source {source}, destination {dest}, "
            f"tracker {config.cluster.tracker}"
        )
        print(f"  {'KILLED':<12} {'AT POINT':<42} {'OUTCOME':<18} LEAKED  DOUBLE")
        for t in trials:
            leaked, double = t.counts() or ("-", "-")
            print(
                f"  {t.host + ' (' + t.role[:4] + ')':<12} {t.point:<42} {t.outcome:<18} "
                f"{leaked:<7} {double}"
            )
            for line in t.lines():
                print(f"      {line}")
        print(
            f"trials {len(trials)}, kills fired {sum(t.fired for t in trials)}, "
            f"failed {len(bad)}, inconclusive {len(unsure)}, {seconds:.1f} s"
        )
    if bad:
        return EXIT_CODES["fail"]
    return EXIT_CODES["inconclusive" if unsure else "pass"]
