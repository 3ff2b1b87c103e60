"""What recording the history costs: ``testbed run`` wall time with and without it.

Runs ``testbed run --tracker T`` and ``testbed run --tracker T --no-history`` as subprocesses
(interpreter start-up included), interleaved, ``--runs`` times each after one untimed warm-up
of each, and prints the medians and their ratio (goal: history at most 10% slower). With the
buggy tracker the run fails, so the recorded run also writes its timeline.html: that is in
the figure too. Then the same pair in this process (``runner.run``, no interpreter start-up,
so less noise on a busy machine). Run directories go to a private temporary directory,
removed afterwards. ``--json`` prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

EXPECTED_EXIT = {"fixed": 0, "buggy": 1}


def once(tracker: str, history: bool, run_dir: str) -> float:
    cmd = [sys.executable, "-m", "orchestrator.cli", "run", "--tracker", tracker]
    cmd += ["--run-dir", run_dir] + ([] if history else ["--no-history"])
    started = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    seconds = time.monotonic() - started
    if proc.returncode != EXPECTED_EXIT[tracker]:
        sys.exit(f"history benchmark: {' '.join(cmd[2:])} exited {proc.returncode}: {proc.stderr}")
    return seconds


def measure(tracker: str, runs: int, run_dir: str) -> dict[str, float]:
    times: dict[bool, list[float]] = {True: [], False: []}
    for history in (True, False):  # warm-up: imports cached, files in the page cache
        once(tracker, history, run_dir)
    for n in range(runs):
        order = (True, False) if n % 2 == 0 else (False, True)  # no side always goes first
        for history in order:
            times[history].append(once(tracker, history, run_dir))
        print(f"  {tracker}: {n + 1}/{runs}", file=sys.stderr)
    on, off = statistics.median(times[True]), statistics.median(times[False])
    return {"with_history_s": round(on, 4), "without_s": round(off, 4), "ratio": round(on / off, 3)}


def in_process(tracker: str, runs: int, run_dir: str) -> dict[str, float]:
    from orchestrator.cli.options import load
    from orchestrator.run import runner
    from orchestrator.run import scenario as sc

    scenario = sc.load("evacuate-race")
    times: dict[bool, list[float]] = {True: [], False: []}
    for n in range(runs + 1):  # the first round is the warm-up
        for history in (True, False) if n % 2 == 0 else (False, True):
            flag = f"cluster.history={str(history).lower()}"
            config = load([("scenario", scenario.config)], sets=[flag], tracker=tracker)
            started = time.monotonic()
            result = runner.run(scenario, config, run_dir)
            if n:
                times[history].append(time.monotonic() - started)
            if result.ok != (tracker == "fixed"):
                sys.exit(f"history benchmark: {tracker} run in process: {result.outcome}")
    on, off = statistics.median(times[True]), statistics.median(times[False])
    return {"with_history_s": round(on, 4), "without_s": round(off, 4), "ratio": round(on / off, 3)}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--runs", type=int, default=11, help="timed runs per variant (default 11)")
    p.add_argument("--tracker", action="append", choices=tuple(EXPECTED_EXIT), help="repeatable")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    args = p.parse_args()
    trackers = args.tracker or ["fixed", "buggy"]
    run_dir = tempfile.mkdtemp(prefix="testbed-bench-history-")
    try:
        results = {t: measure(t, args.runs, run_dir) for t in trackers}
        inside = {t: in_process(t, args.runs, run_dir) for t in trackers}
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)
    if args.json:
        print(json.dumps({"runs": args.runs, "results": results, "in_process": inside}, indent=2))
        return 0
    print(f"testbed run wall time, median of {args.runs} (subprocess, start-up included)")
    print(f"  {'TRACKER':<8} {'HISTORY':>9} {'NO HISTORY':>11} {'RATIO':>7}")
    for t, r in results.items():
        print(f"  {t:<8} {r['with_history_s']:>8.3f}s {r['without_s']:>10.3f}s {r['ratio']:>7.3f}")
    print(f"runner.run in this process, median of {args.runs}")
    for t, r in inside.items():
        print(f"  {t:<8} {r['with_history_s']:>8.3f}s {r['without_s']:>10.3f}s {r['ratio']:>7.3f}")
    print("goal: ratio <= 1.10 (buggy includes writing timeline.html)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
