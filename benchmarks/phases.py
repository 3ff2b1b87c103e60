"""Where one ``testbed run`` spends its time, by phase: interpreter start, imports, cluster
set-up, hosts up, steps, checks (the invariants), teardown.

    python benchmarks/phases.py [SCENARIO] [--tracker buggy|fixed] [--runs N] [--json]

Imports and interpreter start are timed in fresh subprocesses; the phases of the run itself
in this process, wrapping the runner's calls (medians over ``--runs``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any


def _subprocess_seconds(code: str, runs: int) -> float:
    walls = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        walls.append(time.perf_counter() - start)
    return statistics.median(walls)


def _timed(phases: dict[str, float], name: str, fn: Callable) -> Callable:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            phases[name] += time.perf_counter() - start

    return wrapper


def run_once(scenario: str, tracker: str) -> dict[str, float]:
    from orchestrator import cluster, runner
    from orchestrator import scenario as sc
    from orchestrator.steps import STEPS
    from testbed.config import load

    phases: dict[str, float] = defaultdict(float)
    sc_obj = sc.load(scenario)
    config = load([("scenario", sc_obj.config)], tracker=tracker)
    originals = (
        cluster.Cluster.__init__,
        cluster.Cluster.start,
        cluster.Cluster.close,
        runner.check_invariants,
        dict(STEPS),
    )
    cluster.Cluster.__init__ = _timed(phases, "set-up", originals[0])
    cluster.Cluster.start = _timed(phases, "hosts up", originals[1])
    cluster.Cluster.close = _timed(phases, "teardown", originals[2])
    runner.check_invariants = _timed(phases, "invariants", originals[3])
    for name, step in STEPS.items():
        phase = "checks" if name == "check" else "steps"
        STEPS[name] = step.__class__(_timed(phases, phase, step.run), step.fields, step.doc)
    try:
        start = time.perf_counter()
        result = runner.run(sc_obj, config)
        phases["total"] = time.perf_counter() - start
    finally:
        (
            cluster.Cluster.__init__,
            cluster.Cluster.start,
            cluster.Cluster.close,
            runner.check_invariants,
        ) = originals[:4]
        STEPS.update(originals[4])
    phases["other"] = phases["total"] - sum(v for k, v in phases.items() if k != "total")
    phases["ok"] = float(result.ok)
    return dict(phases)


def main() -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("scenario", nargs="?", default="evacuate-race")
    p.add_argument("--tracker", choices=("buggy", "fixed"), default="buggy")
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    # os._exit in both, as the console script leaves: the teardown is not start-up's cost
    start_s = _subprocess_seconds("import os; os._exit(0)", args.runs)
    imports_s = (
        _subprocess_seconds(
            "import os, orchestrator.cli.main, orchestrator.runner, hosts.process; os._exit(0)",
            args.runs,
        )
        - start_s
    )
    runs = [run_once(args.scenario, args.tracker) for _ in range(args.runs)]
    phases = {"interpreter start": start_s, "imports": imports_s}
    phases |= {
        k: statistics.median(r.get(k, 0.0) for r in runs)
        for k in runs[0]
        if k not in ("ok", "total")
    }
    phases["run total"] = statistics.median(r["total"] for r in runs)
    if args.json:
        print(json.dumps({"scenario": args.scenario, "tracker": args.tracker, "phases": phases}))
        return 0
    print(f"{args.scenario}, tracker {args.tracker}, median of {args.runs} run(s)")
    for name, seconds in phases.items():
        print(f"  {name:<18} {seconds * 1000:7.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
