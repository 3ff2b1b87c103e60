"""Run a scenario many times per tracker while busy loops load every core, and count outcomes.

Determinism is the claim under test: with orderings (holds) instead of delays, a loaded
machine must not change any outcome. Prints counts per tracker and the wall time of each run.

    python benchmarks/stress.py --runs 200 --busy 2 [--scenario evacuate-race] [--json]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import tempfile

from common import repeat, spread, testbed_command


def busy(stop: multiprocessing.synchronize.Event) -> None:
    while not stop.is_set():  # bounded by the parent setting stop (and by its own lifetime)
        sum(range(10_000))


def main() -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--scenario", default="evacuate-race")
    p.add_argument("--runs", type=int, default=50, help="runs per tracker (default 50)")
    p.add_argument("--busy", type=int, default=2, help="busy-loop processes (default 2)")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds allowed per run")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    args = p.parse_args()
    stop = multiprocessing.Event()
    loaders = [
        multiprocessing.Process(target=busy, args=(stop,), daemon=True) for _ in range(args.busy)
    ]
    for proc in loaders:
        proc.start()
    results: dict[str, dict] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="tb-stress-") as runs:
            for tracker in ("buggy", "fixed"):
                codes, walls = [], []
                argv = [*testbed_command(), "run", args.scenario, "--tracker", tracker]
                for r in repeat([*argv, "--run-dir", runs], args.runs, args.timeout, tracker):
                    walls.append(r.wall)
                    codes.append(r.code)
                wall = spread(walls)
                results[tracker] = {
                    "runs": args.runs,
                    "exit_0": codes.count(0),
                    "exit_1": codes.count(1),
                    "exit_3": codes.count(3),  # inconclusive: the race did not happen
                    "other": len(codes) - sum(codes.count(c) for c in (0, 1, 3)),
                    "median_s": round(wall["median"], 3),
                    "max_s": round(wall["max"], 3),
                }
    finally:
        stop.set()
        for proc in loaders:
            proc.join(5)
    if args.json:
        print(json.dumps({"scenario": args.scenario, "busy": args.busy, "results": results}))
    else:
        print(f"{args.scenario}, {args.busy} busy loop(s) on {multiprocessing.cpu_count()} cores")
        for tracker, r in results.items():
            print(
                f"  {tracker:<6} runs {r['runs']}  pass(0) {r['exit_0']}  fail(1) {r['exit_1']}"
                f"  inconclusive(3) {r['exit_3']}  other {r['other']}  median {r['median_s']} s"
                f"  max {r['max_s']} s"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
