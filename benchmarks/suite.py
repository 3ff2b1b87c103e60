"""Time the whole test suite serially (``-n 0``) and in parallel (``-n auto``) in one run.

Run ``python benchmarks/suite.py --help`` for what is measured and how.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import re
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

from orchestrator.cluster.procs import running

ROOT = Path(__file__).resolve().parent.parent
PYTEST = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
PR_SET_CHILD_SUBREAPER = 36
TARGET = 1.7  # the bar for -n auto against -n 0 on a 2-core machine

DESCRIPTION = f"""\
Measures, in one run:

  the wall time of the whole suite, `python {" ".join(PYTEST[1:])} -n 0` (serial) and
  `... -n auto` (pytest-xdist, one worker per CPU), each --runs times, alternating, from the
  project root; the ratio serial / parallel of the medians (the issue asks for >= {TARGET}x).
  Wall time is from starting the subprocess until it exits: interpreter start-up, collection
  and xdist's worker start-up are included. pytest's own reported duration is shown too.

  leftovers: this process makes itself a child subreaper (Linux prctl), so every process the
  suite starts and orphans (hosts, workers, inner pytest sessions, CLI runs) is re-parented
  here instead of to init. After each run it waits up to --grace seconds for them to exit
  (reaping them) and reports by pid any running when the suite exited and any still running
  after the grace. It never kills them.

  --concurrent K instead starts K runs of the suite with `-n WORKERS` (default 4) at the same
  moment (suites sharing the machine must not collide on ports or paths) and reports each
  one's wall time and outcome, and the leftovers once all have ended.

Exit code: 0 when every suite run passed and nothing was left over, 1 otherwise.
"""


@dataclass
class Run:
    label: str
    args: list[str]
    wall: float = 0.0
    returncode: int | None = None
    summary: str = ""
    reported: float | None = None  # pytest's "in X s"
    cpu: float | None = None  # user + system seconds of the run's whole process tree
    tail: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def become_subreaper() -> bool:
    """Orphaned descendants are re-parented to this process (Linux only)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def children() -> set[int]:
    pids: set[int] = set()
    for task in Path("/proc/self/task").iterdir():
        try:
            pids.update(int(p) for p in (task / "children").read_text().split())
        except (FileNotFoundError, ProcessLookupError):
            pass
    return pids


def reap_leftovers(ours: set[int], grace: float) -> list[int]:
    """Wait (bounded) for re-parented descendants to exit, reaping them; return those still
    running. ``ours`` are live Popen children, which are left to their Popen."""
    deadline = time.monotonic() + grace
    while True:
        left = []
        for pid in children() - ours:
            try:
                done, _ = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                continue
            if not done and running(pid):
                left.append(pid)
        if not left or time.monotonic() >= deadline:
            return sorted(left)
        time.sleep(0.05)


_SUMMARY = re.compile(r"^=*\s*(.*\b(?:passed|failed|error|errors|skipped)\b.*) in ([\d.]+)s")


def _finish(run: Run, proc: subprocess.Popen, out: IO[str], wall: float, killed: bool) -> None:
    run.wall = wall
    run.returncode = proc.returncode
    out.seek(0)
    lines = out.read().strip().splitlines()
    if killed:
        lines.append(f"(killed after {wall:.0f} s)")
    run.tail = lines[-15:]
    for line in reversed(lines):
        m = _SUMMARY.match(line.strip())
        if m:
            run.summary, run.reported = m[1].strip(" ="), float(m[2])
            break


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_suites(runs: list[Run], timeout: float, grace: float) -> tuple[list[int], list[int]]:
    """Start every run at the same moment, wait for all, then for their orphans; return the
    descendants running when the last run ended, and those still running after ``grace``.

    Output goes to temporary files, so a chatty run never blocks on a full pipe while another
    is being waited for. CPU time is the whole process tree's (hosts and workers included:
    orphans are re-parented here and reaped), shared out evenly when several runs go at once.
    """
    cpu = _cpu()
    procs = []
    for run in runs:
        out = tempfile.TemporaryFile("w+")
        started = time.monotonic()
        proc = subprocess.Popen(
            [*PYTEST, *run.args],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        procs.append((run, proc, out, started))
    ended: dict[int, float] = {}
    while len(ended) < len(procs):  # each run's own end, however the others go
        for _, proc, _, started in procs:
            if proc.pid in ended:
                continue
            if proc.poll() is not None:
                ended[proc.pid] = time.monotonic()
            elif time.monotonic() - started > timeout:
                proc.kill()  # our own child, by pid
                proc.wait()
                ended[proc.pid] = time.monotonic()
        time.sleep(0.02)
    for run, proc, out, started in procs:
        with out:
            wall = ended[proc.pid] - started
            _finish(run, proc, out, wall, killed=wall > timeout)
    at_end = sorted(p for p in children() if running(p))
    left = reap_leftovers(set(), grace)
    for run in runs:
        run.cpu = round((_cpu() - cpu) / len(runs), 3)
    return at_end, left


def _line(run: Run) -> str:
    reported = f" (pytest {run.reported:.2f} s)" if run.reported is not None else ""
    cpu = f"  cpu {run.cpu:6.2f} s" if run.cpu is not None else ""
    outcome = run.summary or f"exit {run.returncode}"
    return f"{run.label:<10} wall {run.wall:6.2f} s{reported}{cpu}  {outcome}"


def compare(args: argparse.Namespace) -> dict[str, Any]:
    serial: list[Run] = []
    parallel: list[Run] = []
    leftovers: list[int] = []
    at_end: list[int] = []
    for i in range(args.runs):
        for label, workers, into in (("-n 0", "0", serial), ("-n auto", "auto", parallel)):
            run = Run(label, ["-n", workers, *args.pytest_args])
            running, left = run_suites([run], args.timeout, args.grace)
            at_end += running
            leftovers += left
            into.append(run)
            if not args.json:
                print(f"run {i + 1}  {_line(run)}", flush=True)
    s = statistics.median(r.wall for r in serial)
    p = statistics.median(r.wall for r in parallel)
    return {
        "mode": "compare",
        "cpus": len(os.sched_getaffinity(0)),
        "command": " ".join(["python", *PYTEST[1:], *args.pytest_args]),
        "runs": args.runs,
        "serial": [asdict(r) | {"ok": r.ok} for r in serial],
        "parallel": [asdict(r) | {"ok": r.ok} for r in parallel],
        "serial_median": round(s, 3),
        "parallel_median": round(p, 3),
        "ratio": round(s / p, 3),
        "serial_cpu_median": round(statistics.median(r.cpu or 0.0 for r in serial), 3),
        "target": TARGET,
        "running_at_end": sorted(set(at_end)),
        "leftovers": sorted(set(leftovers)),
        "ok": all(r.ok for r in serial + parallel) and not leftovers,
    }


def concurrent(args: argparse.Namespace) -> dict[str, Any]:
    runs = [
        Run(f"suite {i + 1}", ["-n", str(args.workers), *args.pytest_args])
        for i in range(args.concurrent)
    ]
    at_end, leftovers = run_suites(runs, args.timeout, args.grace)
    wall = max(r.wall for r in runs)
    return {
        "mode": "concurrent",
        "cpus": len(os.sched_getaffinity(0)),
        "command": " ".join(["python", *PYTEST[1:], "-n", str(args.workers), *args.pytest_args]),
        "runs": [asdict(r) | {"ok": r.ok} for r in runs],
        "wall": round(wall, 3),
        "running_at_end": at_end,
        "leftovers": leftovers,
        "ok": all(r.ok for r in runs) and not leftovers,
    }


def _print(result: dict[str, Any]) -> None:
    print(f"command   {result['command']} ({result['cpus']} CPUs)")
    if result["mode"] == "compare":
        print(f"-n 0      median wall {result['serial_median']:.2f} s")
        print(f"-n auto   median wall {result['parallel_median']:.2f} s")
        met = "met" if result["ratio"] >= result["target"] else "NOT met"
        print(f"ratio     {result['ratio']:.2f}x  (-n 0 / -n auto; target {TARGET}x: {met})")
        busy = result["serial_cpu_median"] / result["serial_median"]
        print(f"cpu       -n 0 keeps {busy:.0%} of one CPU busy (the rest is waiting)")
        runs = result["serial"] + result["parallel"]
    else:
        for run in result["runs"]:
            print(_line(Run(**{k: v for k, v in run.items() if k != "ok"})))
        print(f"together  wall {result['wall']:.2f} s")
        runs = result["runs"]
    for run in runs:
        if not run["ok"]:
            print(f"{run['label']} failed (exit {run['returncode']}):")
            print("\n".join(f"  {line}" for line in run["tail"]))
    at_end = ", ".join(map(str, result["running_at_end"])) or "none"
    print(f"at end    descendants still running when the suite exited: {at_end}")
    print(f"leftovers {', '.join(map(str, result['leftovers'])) or 'none'} (after --grace)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python benchmarks/suite.py",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--runs", type=int, default=1, help="runs of each mode (default: 1)")
    parser.add_argument(
        "--concurrent",
        type=int,
        metavar="K",
        default=0,
        help="start K suites at once instead of comparing -n 0 and -n auto",
    )
    parser.add_argument("--workers", default="4", help="-n for --concurrent runs (default: 4)")
    parser.add_argument(
        "--timeout", type=float, default=600, help="bound on one suite run, seconds (default 600)"
    )
    parser.add_argument(
        "--grace",
        type=float,
        default=5.0,
        help="how long orphaned descendants get to exit after a run (default 5 s)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "pytest_args", nargs="*", metavar="PYTEST_ARG", help="extra pytest arguments (after --)"
    )
    args = parser.parse_args(argv)
    if args.runs < 1 or args.concurrent < 0:
        parser.error("--runs must be at least 1 and --concurrent not negative")
    # A suite started in the background of a script inherits SIGINT ignored, and so would every
    # process it starts: the suite's Ctrl-C tests would then fail. Children get the default.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    if not become_subreaper():
        print("warning: not a child subreaper; leftovers cannot be seen", file=sys.stderr)
    result = concurrent(args) if args.concurrent else compare(args)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        _print(result)
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
