"""Explorations side by side: what sharing the cores costs, and what keeping each exploration
to its own share of them (``orchestrator.explore.cores``) gives back; then one scenario split
over pytest-xdist workers against one pytest process without the split.

    python benchmarks/side_by_side.py [--scenario evacuate-then-rebuild] [--reps 3] [--json]

Every round runs, one after the other: one ``testbed explore`` alone; two at once on every
core; two at once, each kept to its share; ``pytest --testbed-explore SCENARIO -n 0``; and
``pytest ... -n 2 --testbed-explore-split 2``. The figures are medians of the rounds, wall
seconds with start-up included; the ratios are each row's median over the first row's. Two
at once are timed from the first start to the last exit.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

from common import parse, progress, spread, testbed_command

from orchestrator.explore import cores

TIMEOUT = 300.0


class Part:
    @staticmethod
    def add_args(p: Any) -> None:
        p.add_argument("--scenario", default="evacuate-then-rebuild", help="a built-in scenario")
        p.add_argument("--tracker", default="buggy", help="the tracker of the explorations")
        p.add_argument("--reps", type=int, default=3, help="rounds (medians are of these)")

    @staticmethod
    def check_args(p: Any, args: Any) -> None:
        if args.reps < 1:
            p.error("--reps must be at least 1")


def _together(argvs: list[list[str]], pins: list[set[int] | None], cwd: str) -> float:
    """Wall seconds from starting every command to the last one's exit."""
    started = time.perf_counter()
    procs = []
    for argv, pin in zip(argvs, pins, strict=True):
        keep: Callable[[], None] | None = None
        if pin is not None:
            keep = lambda pin=pin: os.sched_setaffinity(0, pin)  # noqa: E731
        procs.append(
            subprocess.Popen(
                argv,
                cwd=cwd,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                preexec_fn=keep,
                text=True,
            )
        )
    for proc in procs:
        _, err = proc.communicate(timeout=TIMEOUT)
        if proc.returncode not in (0, 1):
            sys.exit(f"side_by_side: {' '.join(proc.args)} exited {proc.returncode}: {err}")
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    args = parse("side_by_side.py", __doc__, argv, [Part])
    explore = [*testbed_command(), "explore", args.scenario, "--tracker", args.tracker]
    pytest = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    pytest += ["--testbed-explore", args.scenario]
    shares = [cores.share(slot, 2) for slot in range(2)]
    rows: dict[str, Callable[[str], float]] = {
        "one exploration alone": lambda d: _together([explore], [None], d),
        "two at once, every core": lambda d: _together([explore, explore], [None, None], d),
        "two at once, a share each": lambda d: _together([explore, explore], shares, d),
        "pytest -n 0": lambda d: _together([[*pytest, "-n", "0"]], [None], d),
        "pytest -n 2, split 2": lambda d: _together(
            [[*pytest, "-n", "2", "--testbed-explore-split", "2"]], [None], d
        ),
    }
    times: dict[str, list[float]] = {name: [] for name in rows}
    bar = progress("side by side", args.reps * len(rows), args.quiet)
    with tempfile.TemporaryDirectory(prefix="testbed-bench-side-") as cwd:
        try:
            for _ in range(args.reps):
                for name, run in rows.items():
                    times[name].append(run(cwd))
                    bar.step()
        finally:
            bar.close()
    first = spread(times["one exploration alone"])["median"]
    out = {
        "scenario": args.scenario,
        "tracker": args.tracker,
        "cores": sorted(cores.available()),
        "shares": [sorted(s) for s in shares],
        "rows": {
            name: spread(t) | {"ratio": round(spread(t)["median"] / first, 2)}
            for name, t in times.items()
        },
    }
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    print(f"{args.scenario} ({args.tracker}), {len(out['cores'])} cores, shares {out['shares']}")
    print(f"wall seconds, median of {args.reps} rounds; ratio to one exploration alone")
    for name, row in out["rows"].items():
        print(f"  {name:<28} {row['median']:>7.2f} s {row['ratio']:>6.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
