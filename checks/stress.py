"""Determinism under load, checked and in numbers: holds against sleeps.

Busy loops hold every core (``--busy``, default one per core) while ``testbed run`` runs
``--concurrency`` at a time (default 4):

1. ``evacuate-race`` (holds), ``--runs`` times per tracker (default 1000): ``buggy``
   must lose every run (exit 1) and ``fixed`` pass every run (exit 0);
2. ``evacuate-race-delays`` (sleeps, as Nova's test does it), ``--delay-runs`` times with the
   ``buggy`` tracker at each delay scale (default x1, x0.3, x0.1, x0.03): how often it still
   detects the bug (exit 1), next to the hold-based scenario.

Prints a table (``--json``: one JSON object). Exit 1 when a hold-based run did not end as
its tracker must (the delay rows are figures, never judged). Every run directory goes to a
private temporary directory, removed at the end.

    python checks/stress.py [--runs 1000] [--delay-runs 200] [--json]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from orchestrator.run import scenario as sc

CLI = [sys.executable, "-m", "orchestrator.cli"]
SCALES = (1.0, 0.3, 0.1, 0.03)


def busy(stop: Any) -> None:
    while not stop.is_set():  # bounded by the parent setting stop (and by its own lifetime)
        sum(range(10_000))


def _run(args: list[str], timeout: float) -> tuple[int | None, float, str]:
    """Exit code, wall seconds, and what the run said went wrong (its --json error)."""
    start = time.monotonic()
    try:
        proc = subprocess.run([*CLI, *args, "--json"], capture_output=True, timeout=timeout)
        code, why = proc.returncode, ""
        try:
            doc = json.loads(proc.stdout)
            if not doc["ok"]:
                violated = "invariants: " + "; ".join(
                    (doc["invariants"] or {}).get("violations", [])
                )
                why = doc["error"] or doc["failed_step"] or violated
        except (ValueError, KeyError, TypeError):
            why = proc.stderr.decode(errors="replace")[-300:]
    except subprocess.TimeoutExpired:
        code, why = None, f"timed out after {timeout:g} s"
    return code, time.monotonic() - start, why


def batch(
    label: str, args: list[str], runs: int, pool: ThreadPoolExecutor, timeout: float
) -> dict[str, Any]:
    done = 0
    codes, walls, failures = [], [], []
    for code, wall, why in pool.map(lambda _: _run(args, timeout), range(runs)):
        codes.append(code)
        walls.append(wall)
        if why:
            failures.append(why)
        done += 1
        print(f"\r{label}: {done}/{runs}", end="", file=sys.stderr)
    print(file=sys.stderr)
    return {
        "runs": runs,
        "exit_0": codes.count(0),
        "exit_1": codes.count(1),
        "exit_3": codes.count(3),  # inconclusive: the race did not happen
        "other": runs - codes.count(0) - codes.count(1) - codes.count(3),
        "median_s": round(statistics.median(walls), 3),
        "max_s": round(max(walls), 3),
        "failures": dict(Counter(failures).most_common(10)),  # why runs failed, how often
    }


def main() -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--runs", type=int, default=1000, help="evacuate-race runs per tracker")
    p.add_argument("--delay-runs", type=int, default=200, help="delay-scenario runs per scale")
    p.add_argument("--concurrency", type=int, default=4, help="runs at a time (default 4)")
    p.add_argument("--busy", type=int, default=os.cpu_count() or 1, help="busy-loop processes")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds allowed per run")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    args = p.parse_args()
    delays = sc.load("evacuate-race-delays").config["delays"]
    stop = multiprocessing.Event()
    loaders = [
        multiprocessing.Process(target=busy, args=(stop,), daemon=True) for _ in range(args.busy)
    ]
    for proc in loaders:
        proc.start()
    rows: list[dict[str, Any]] = []
    started = time.monotonic()
    try:
        with (
            tempfile.TemporaryDirectory(prefix="tb-stress-") as runs,
            ThreadPoolExecutor(args.concurrency) as pool,
        ):
            base = ["--run-dir", runs]
            for tracker in ("buggy", "fixed"):
                r = batch(
                    f"evacuate-race {tracker}",
                    ["run", "evacuate-race", "--tracker", tracker, *base],
                    args.runs,
                    pool,
                    args.timeout,
                )
                rows.append({"scenario": "evacuate-race", "tracker": tracker, "scale": None} | r)
            for scale in SCALES if args.delay_runs else ():
                scaled = [f"--delay={k}={v * scale:g}" for k, v in delays.items()]
                r = batch(
                    f"evacuate-race-delays x{scale:g}",
                    ["run", "evacuate-race-delays", "--tracker", "buggy", *scaled, *base],
                    args.delay_runs,
                    pool,
                    args.timeout,
                )
                rows.append(
                    {"scenario": "evacuate-race-delays", "tracker": "buggy", "scale": scale} | r
                )
    finally:
        stop.set()
        for proc in loaders:
            proc.join(5)
    seconds = time.monotonic() - started
    head = {
        "busy_loops": args.busy,
        "cores": os.cpu_count(),
        "concurrency": args.concurrency,
        "seconds": round(seconds, 1),
    }
    # holds make the race happen every time: buggy loses every run, fixed passes every run
    must = {"buggy": "exit_1", "fixed": "exit_0"}
    held = all(r[must[r["tracker"]]] == r["runs"] for r in rows if r["scale"] is None)
    if args.json:
        print(json.dumps(head | {"deterministic": held, "rows": rows}))
        return 0 if held else 1
    print(
        f"{args.busy} busy loop(s) on {os.cpu_count()} core(s), {args.concurrency} runs at a "
        f"time, {seconds:.0f} s"
    )
    print(
        "| scenario | tracker | delays | runs | bug detected (exit 1) | passed (exit 0) "
        "| inconclusive (exit 3) | other | median s |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        scale = "holds" if r["scale"] is None else f"x{r['scale']:g}"
        print(
            f"| {r['scenario']} | {r['tracker']} | {scale} | {r['runs']} | {r['exit_1']} "
            f"| {r['exit_0']} | {r['exit_3']} | {r['other']} | {r['median_s']} |"
        )
    if not held:
        print("holds: not every run ended as its tracker must (--json says why runs failed)")
    return 0 if held else 1


if __name__ == "__main__":
    sys.exit(main())
