"""The 1896463 race found by a peer and by testbed, side by side, in one run.

    python benchmarks/peers/frontrun_1896463.py [--reps 3]

frontrun (``pip install '.[peers]'``) explores ``race_1896463.py``, the race as a small
in-process program (two threads, one lock, the records the audit reads), in its thread mode:
each execution reruns the two functions in this process, its DPOR deciding at every shared
access. It reports whether the invariant held, the executions it ran (``num_explored``) and the
failing schedules. Its process mode (``execution="process"``, ``explore_processes``) runs
workers in spawned processes over a socket, but only for state kept in SQL or Redis, which
this program does not use. testbed runs ``evacuate-race`` with fix 1896463 off: real host
processes over ZeroMQ, the state in SQLite, one cluster per schedule. Figures are medians of
``--reps`` runs; testbed's are wall times of the command, start-up included.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import testbed_command  # noqa: E402

SCENARIO = ["explore", "evacuate-race", "--no-fix", "1896463", "--json"]


def _frontrun(first: bool) -> tuple[float, int, int]:
    """(seconds, executions, failing executions) of one frontrun exploration."""
    import frontrun
    from race_1896463 import Host2, buggy

    started = time.perf_counter()
    result = frontrun.explore(
        setup=buggy,
        workers=[Host2.evacuate, Host2.audit],
        invariant=Host2.holds,
        stop_on_first=first,
        preemption_bound=None,  # no bound: the search can be exhausted
        reproduce_on_failure=0,
    )
    failing = len(getattr(result, "failures", None) or []) or int(not result.property_holds)
    return time.perf_counter() - started, result.num_explored, failing


def _testbed(extra: list[str]) -> tuple[float, int, int]:
    """(seconds, schedules, losing schedules) of one ``testbed explore``."""
    started = time.perf_counter()
    proc = subprocess.run(
        testbed_command() + SCENARIO + extra, capture_output=True, text=True, timeout=300
    )
    wall = time.perf_counter() - started
    out = json.loads(proc.stdout)
    return wall, out["schedules"], out["losing"]


def _has_first() -> bool:
    help_text = subprocess.run(
        testbed_command() + ["explore", "--help"], capture_output=True, text=True, timeout=60
    ).stdout
    return "--first" in help_text


def _median(runs: list[tuple[float, int, int]]) -> tuple[float, int, int]:
    return statistics.median(r[0] for r in runs), runs[0][1], runs[0][2]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3, help="runs per row (median)")
    args = parser.parse_args()
    try:
        from frontrun._cooperative import patch_locks
    except ImportError:
        print("frontrun is not installed: pip install '.[peers]'", file=sys.stderr)
        return 2
    patch_locks()  # frontrun's scheduler sees the program's locks (its CLI would do this)
    warm = _frontrun(True)  # its first call sets up its tracing: shown apart
    first = _has_first()
    rows = [
        ("frontrun, first call (set-up)", warm),
        ("frontrun, first loss", _median([_frontrun(True) for _ in range(args.reps)])),
        ("frontrun, exhaust", _median([_frontrun(False) for _ in range(args.reps)])),
    ]
    if first:
        runs = [_testbed(["--first"]) for _ in range(args.reps)]
        rows.append(("testbed explore --first", _median(runs)))
    rows.append(("testbed explore (full)", _median([_testbed([]) for _ in range(args.reps)])))
    print(f"{'':32}  {'SECONDS':>8}  {'SCHEDULES':>9}  {'LOSING':>6}")
    for name, (seconds, schedules, losing) in rows:
        print(f"{name:32}  {seconds:8.3f}  {schedules:9d}  {losing:6d}")
    if not first:
        print("(testbed explore has no --first here: its full exploration is the only row)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
