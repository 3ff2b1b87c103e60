"""The main job's wall time per tracker: ``testbed run --tracker fixed`` and ``--tracker
buggy``, each run as a subprocess (interpreter start-up included), next to the ~13 s Nova's
own regression test takes (a quoted figure, not measured here).

    python benchmarks/main_job.py [--runs 7] [--warmup-runs 1] [--json]

Exit codes must be 0 (fixed) and 1 (buggy), else the benchmark stops with exit 1. Run
directories go to a private temporary directory, removed afterwards.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from typing import Any

from common import NOVA_TEST_SECONDS, parse, repeat, spread, testbed_command

EXPECTED_EXIT = {"fixed": 0, "buggy": 1}


class Mismatch(Exception):
    """A testbed run exited with an unexpected code."""


def _reported(stdout: str) -> float | None:
    """The scenario's own duration from ``--json`` (no interpreter start-up)."""
    try:
        return float(json.loads(stdout)["duration"])
    except (ValueError, KeyError, TypeError):
        return None


def measure(runs: int, warmup: int, timeout: float, quiet: bool = False) -> dict[str, Any]:
    cmd = testbed_command()
    base = tempfile.mkdtemp(prefix="tb-")
    results: dict[str, Any] = {"command": cmd, "runs": runs, "warmup_runs": warmup}
    try:
        for tracker, expected in EXPECTED_EXIT.items():
            walls, reported = [], []
            argv = [*cmd, "run", "--tracker", tracker, "--json", "--run-dir", base]
            label = f"[job] testbed run --tracker {tracker}"
            for i, r in enumerate(repeat(argv, warmup + runs, timeout, label, quiet)):
                if r.code != expected:
                    raise Mismatch(
                        f"\n!!! EXIT CODE MISMATCH: `testbed run --tracker {tracker}` "
                        f"exited {r.code}, expected {expected}\n--- stdout ---\n"
                        f"{r.stdout[-2000:]}\n--- stderr ---\n{r.stderr[-2000:]}\n"
                    )
                if i >= warmup:
                    walls.append(r.wall)
                    if _reported(r.stdout) is not None:
                        reported.append(_reported(r.stdout))
            wall = spread(walls)
            results[tracker] = {
                "exit_code": expected,
                "wall_median_s": wall["median"],
                "wall_min_s": wall["min"],
                "wall_max_s": wall["max"],
                "wall_all_s": wall["all"],
                "reported_duration_median_s": spread(reported)["median"] if reported else None,
                "nova_test_s_quoted": NOVA_TEST_SECONDS,
                "nova_over_ours": NOVA_TEST_SECONDS / wall["median"],
            }
    finally:
        shutil.rmtree(base, ignore_errors=True)
    return results


def report(job: dict[str, Any]) -> None:
    print(
        f"Main job wall time ({job['runs']} runs each after {job['warmup_runs']} warm-up; "
        f"{' '.join(job['command'][:1])})"
    )
    print(
        f"  {'tracker':<8} {'exit':>4} {'median s':>9} {'min s':>7} {'max s':>7} "
        f"{'reported s':>10} {'13 s / median':>13}"
    )
    for tracker in EXPECTED_EXIT:
        r = job[tracker]
        rep = r["reported_duration_median_s"]
        print(
            f"  {tracker:<8} {r['exit_code']:>4} {r['wall_median_s']:>9.3f} "
            f"{r['wall_min_s']:>7.3f} {r['wall_max_s']:>7.3f} "
            f"{(f'{rep:.3f}' if rep is not None else '-'):>10} "
            f"{r['nova_over_ours']:>12.1f}x"
        )
    print(
        f"  Nova's regression test for this bug: ~{NOVA_TEST_SECONDS:g} s "
        "(quoted figure, NOT measured here)"
    )
    print("  'reported s' = the scenario's own duration from --json (no interpreter start-up)")


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--runs", type=int, default=7, help="timed runs per tracker (default 7)")
    p.add_argument(
        "--warmup-runs",
        type=int,
        default=1,
        help="untimed runs per tracker first (default 1; exit code still checked)",
    )
    p.add_argument(
        "--run-timeout",
        type=float,
        default=120.0,
        help="seconds before one testbed run counts as failed (default 120)",
    )


def check_args(p: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.runs < 1 or args.warmup_runs < 0:
        p.error("--runs must be >= 1, --warmup-runs >= 0")


def run(args: argparse.Namespace) -> dict[str, Any] | None:
    """The measurement, or None (printed on stderr) when an exit code was not the expected."""
    try:
        return measure(args.runs, args.warmup_runs, args.run_timeout, args.quiet)
    except Mismatch as exc:
        print(exc, file=sys.stderr)
        return None


def main(argv: list[str] | None = None) -> int:
    args = parse("main_job.py", __doc__, argv, [sys.modules[__name__]])
    job = run(args)
    if job is None:
        return 1
    if args.json:
        print(json.dumps({"nova_test_s": NOVA_TEST_SECONDS, "job": job}, indent=2))
    else:
        report(job)
    return 0


if __name__ == "__main__":
    sys.exit(main())
