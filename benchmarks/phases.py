"""Where one ``testbed run`` spends its wall time, by phase, measured on a cold run: a fresh
interpreter per run, as the console script starts and leaves.

    python benchmarks/phases.py [SCENARIO] [--tracker buggy|fixed] [--runs N] [--json]

Phases, in order: interpreter start (to the first line of the child), imports (the command
line, then the runner and the hosts' code), config (arguments, scenario, configuration),
set-up (the cluster's state, sockets, conductor), hosts up (forking them, then waiting for
them to register), steps, checks, invariants, judging (how each task ended), teardown (every
host stopped and reaped), the rest of the run (result, run directory removed), output (a
failing run's timeline page too), and exit (exit hooks and the process's end, as the parent
sees it). Medians over ``--runs``; times come from the one
monotonic clock parent and child share. It measures; it asserts nothing.
"""

from __future__ import annotations

import time

START = time.perf_counter()  # a child's first mark: the interpreter is up (and this file read)

import os  # noqa: E402 (the child's imports are timed as its phases, not before them)
import sys  # noqa: E402

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs a child milliseconds it would count as interpreter start
    from collections.abc import Callable
    from typing import Any

CHILD = "--child"  # argv[1] of the timed child: SCENARIO TRACKER RUN_BASE follow
ORDER = (
    "interpreter start",
    "imports: cli",
    "imports: run",
    "config",
    "set-up",
    "hosts up: fork",
    "hosts up: register",
    "steps",
    "checks",
    "invariants",
    "judging",
    "teardown",
    "rest of run",
    "output",
    "exit",
)


def _child(scenario: str, tracker: str, run_base: str) -> None:
    """One run, as ``testbed run`` does it, with a mark at each phase's end (on stdout)."""
    marks: dict[str, float] = {"child": START}
    import gc

    gc.disable()  # as the console script starts (orchestrator.cli.script)
    import atexit
    import contextlib
    import io

    from orchestrator.cli.main import main

    marks["cli"] = time.perf_counter()
    from orchestrator.cluster import cluster, supervisor
    from orchestrator.run import runner
    from orchestrator.run.steps import STEPS
    from testbed import config, launch

    launch.resolve_entry(config.Cluster().host_entry)  # the hosts' code, which set-up loads

    marks["runner"] = time.perf_counter()
    spent: dict[str, float] = {}

    def timed(name: str, fn: Callable, first: str | None = None) -> Callable:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            if first and first not in marks:
                marks[first] = start
            try:
                return fn(*args, **kwargs)
            finally:
                spent[name] = spent.get(name, 0.0) + time.perf_counter() - start

        return wrapper

    cluster.Cluster.__init__ = timed("set-up", cluster.Cluster.__init__, first="config")
    cluster.Cluster.start = timed("hosts up", cluster.Cluster.start)
    cluster.Cluster.close = timed("teardown", cluster.Cluster.close)
    supervisor.Supervisor.start = timed("hosts up: fork", supervisor.Supervisor.start)
    runner.check_invariants = timed("invariants", runner.check_invariants)
    runner._judge = timed("judging", runner._judge)
    for name, step in STEPS.items():
        phase = "checks" if name == "check" else "steps"
        STEPS[name] = step.__class__(timed(phase, step.run), step.fields, step.doc)
    argv = ["run", scenario, "--tracker", tracker, "--json", "--run-dir", run_base]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(argv)
    marks["main"] = time.perf_counter()
    import json

    result = json.loads(out.getvalue())
    print(json.dumps({"marks": marks, "spent": spent, "code": code, "run": result["duration"]}))
    sys.stdout.flush()
    marks_end = time.perf_counter()
    atexit._run_exitfuncs()
    os.write(2, f"{marks_end}\n".encode())  # when the exit began: stderr, stdout is done
    os._exit(code)


def run_once(scenario: str, tracker: str, run_base: str) -> dict[str, float]:
    import json
    import subprocess

    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, __file__, CHILD, scenario, tracker, run_base],
        capture_output=True,
        text=True,
        timeout=120,
    )
    end = time.perf_counter()
    if not proc.stdout.strip():
        raise SystemExit(f"phases: the run printed nothing\n{proc.stderr[-2000:]}")
    got = json.loads(proc.stdout)
    m, s = got["marks"], got["spent"]
    exit_began = float(proc.stderr.strip().splitlines()[-1])
    run_end = m["main"]
    phases = {
        "interpreter start": m["child"] - start,
        "imports: cli": m["cli"] - m["child"],
        "imports: run": m["runner"] - m["cli"],
        "config": m["config"] - m["runner"],
        "set-up": s.get("set-up", 0.0),
        "hosts up: fork": s.get("hosts up: fork", 0.0),
        "hosts up: register": s.get("hosts up", 0.0) - s.get("hosts up: fork", 0.0),
        "steps": s.get("steps", 0.0),
        "checks": s.get("checks", 0.0),
        "invariants": s.get("invariants", 0.0),
        "judging": s.get("judging", 0.0),
        "teardown": s.get("teardown", 0.0),
    }
    in_run = sum(phases[k] for k in ORDER[4:12])
    # the runner's own work around the phases; the command's output after the run
    phases["rest of run"] = got["run"] - in_run
    phases["output"] = run_end - m["config"] - got["run"]
    phases["exit"] = end - exit_began
    phases["wall"] = end - start
    phases["code"] = got["code"]
    return phases


def main() -> int:
    if sys.argv[1:2] == [CHILD]:  # before any import of ours: they would count as the run's
        _child(*sys.argv[2:5])
    import argparse
    import json
    import statistics
    import tempfile

    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("scenario", nargs="?", default="evacuate-race")
    p.add_argument("--tracker", choices=("buggy", "fixed"), default="buggy")
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="tb-phases-") as base:
        runs = [run_once(args.scenario, args.tracker, base) for _ in range(args.runs)]
    phases = {k: statistics.median(r[k] for r in runs) for k in (*ORDER, "wall")}
    codes = sorted({int(r["code"]) for r in runs})
    if args.json:
        doc = {"scenario": args.scenario, "tracker": args.tracker, "exit": codes}
        print(json.dumps(doc | {"phases": phases}))
        return 0
    print(
        f"{args.scenario}, tracker {args.tracker}, exit {codes}, median of {args.runs} cold "
        f"run(s) ({sys.executable})"
    )
    for name in ORDER:
        print(f"  {name:<20} {phases[name] * 1000:7.1f} ms")
    print(f"  {'(sum of medians)':<20} {sum(phases[k] for k in ORDER) * 1000:7.1f} ms")
    print(f"  {'wall (median)':<20} {phases['wall'] * 1000:7.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
