"""The main job's wall time per tracker: ``testbed run --tracker fixed`` and ``--tracker
buggy``, each run as a subprocess (interpreter start-up included), next to the ~13 s Nova's
own regression test takes (a quoted figure, not measured here).

    python benchmarks/main_job.py [--runs 7] [--warmup-runs 1] [--testbed install|current|PATH]

What is timed is ``testbed`` installed the way users install it: by default a private venv
made for the benchmark with ``pip install .`` (not editable, its bytecode compiled), removed
afterwards; ``--testbed current`` times this interpreter's ``testbed`` (an editable install
pays for its import finder), ``--testbed PATH`` a given console script. The output says which.
The two trackers alternate run by run, so that a change in the machine's load falls on both.

Beside them, alternating too, it times the floor: the same interpreter importing only the
modules that are not testbed's (standard library, pyzmq, ...) which a run's code imports, and
doing nothing else; no run can be faster than that on this machine.

Exit codes must be 0 (fixed) and 1 (buggy), else the benchmark stops with exit 1. Run
directories go to a private temporary directory, removed afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from common import NOVA_TEST_SECONDS, parse, progress, spread, testbed_command, timed_run

EXPECTED_EXIT = {"fixed": 0, "buggy": 1}
OURS = ("testbed", "hosts", "orchestrator")
# which modules a run's code imports that are not ours: imported, then listed, in the
# interpreter under test (those already there at start-up are not counted)
LIST_FOREIGN = f"""
import sys
before = set(sys.modules)
import orchestrator.cli.main, orchestrator.run.runner, hosts.process
names = {{m.split(".")[0] for m in set(sys.modules) - before}}
names = {{n for n in names if getattr(sys.modules.get(n), "__spec__", None) is not None}}
print(",".join(sorted(n for n in names if n not in {OURS!r} and not n.startswith("_"))))
"""


class Mismatch(Exception):
    """A testbed run exited with an unexpected code."""


def _reported(stdout: str) -> float | None:
    """The scenario's own duration from ``--json`` (no interpreter start-up)."""
    try:
        return float(json.loads(stdout)["duration"])
    except (ValueError, KeyError, TypeError):
        return None


ROOT = Path(__file__).resolve().parents[1]  # the project, as ``pip install .`` takes it
SKIP = (".git", ".tox", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".*_cache")


@contextmanager
def installed(which: str, quiet: bool = False) -> Iterator[tuple[list[str], str, str]]:
    """The ``testbed`` command to time, how it was installed (printed with the results), and
    the interpreter it runs on."""
    if which == "current":
        yield testbed_command(), "this interpreter's testbed (as installed here)", sys.executable
        return
    if which != "install":
        path = Path(which)
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise SystemExit(f"main_job.py: --testbed {which}: not an executable file")
        shebang = path.read_text(errors="replace").splitlines()[0]
        python = shebang[2:].strip() if shebang.startswith("#!") else sys.executable
        yield [str(path)], f"{path} (given)", python
        return
    venv = Path(tempfile.mkdtemp(prefix="tb-venv-"))
    try:
        if not quiet:
            print("[job] installing testbed into a private venv (pip install .)", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        python = venv / "bin" / "python"
        pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
        # from a copy: building in place would leave build/ and egg-info in the project
        src = venv / "src"
        shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(*SKIP))
        done = subprocess.run([*pip, str(src)], capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"main_job.py: pip install . failed\n{done.stderr[-2000:]}")
        # pip compiles what it installs; compileall makes sure of it (bytecode writing may be
        # off in this environment, and a run without .pyc files times the compiler)
        site = subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        packages = [str(Path(site) / p) for p in ("testbed", "hosts", "orchestrator")]
        subprocess.run([str(python), "-m", "compileall", "-q", *packages], check=True)
        yield (
            [str(venv / "bin" / "testbed")],
            "a private venv, pip install . (not editable)",
            str(python),
        )
    finally:
        shutil.rmtree(venv, ignore_errors=True)


def measure(
    runs: int, warmup: int, timeout: float, quiet: bool = False, which: str = "install"
) -> dict[str, Any]:
    base = tempfile.mkdtemp(prefix="tb-")
    results: dict[str, Any] = {"runs": runs, "warmup_runs": warmup}
    walls: dict[str, list[float]] = {t: [] for t in EXPECTED_EXIT}
    floor: list[float] = []
    reported: dict[str, list[float]] = {t: [] for t in EXPECTED_EXIT}
    try:
        with installed(which, quiet) as (cmd, how, python):
            foreign = subprocess.run(
                [python, "-c", LIST_FOREIGN], check=True, capture_output=True, text=True
            ).stdout.strip()
            floor_code = f"import {foreign}" if foreign else "pass"
            results |= {"command": cmd, "installed": how, "floor_modules": foreign.split(",")}
            bar = progress("[job] testbed run, fixed and buggy", (warmup + runs) * 2, quiet)
            try:
                for i in range(warmup + runs):
                    for tracker, expected in EXPECTED_EXIT.items():  # alternating
                        argv = [*cmd, "run", "--tracker", tracker, "--json", "--run-dir", base]
                        r = timed_run(argv, timeout)
                        bar.step()
                        if r.code != expected:
                            raise Mismatch(
                                f"\n!!! EXIT CODE MISMATCH: `testbed run --tracker {tracker}` "
                                f"exited {r.code}, expected {expected}\n--- stdout ---\n"
                                f"{r.stdout[-2000:]}\n--- stderr ---\n{r.stderr[-2000:]}\n"
                            )
                        if i >= warmup:
                            walls[tracker].append(r.wall)
                            if _reported(r.stdout) is not None:
                                reported[tracker].append(_reported(r.stdout))
                    r = timed_run([python, "-c", floor_code], timeout)
                    if r.code != 0:
                        raise Mismatch(f"\n!!! the floor's imports failed\n{r.stderr[-2000:]}")
                    if i >= warmup:
                        floor.append(r.wall)
            finally:
                bar.close()
    finally:
        shutil.rmtree(base, ignore_errors=True)
    results["floor_median_s"] = spread(floor)["median"]
    for tracker, expected in EXPECTED_EXIT.items():
        wall = spread(walls[tracker])
        rep = reported[tracker]
        results[tracker] = {
            "exit_code": expected,
            "wall_median_s": wall["median"],
            "wall_min_s": wall["min"],
            "wall_max_s": wall["max"],
            "wall_all_s": wall["all"],
            "reported_duration_median_s": spread(rep)["median"] if rep else None,
            "nova_test_s_quoted": NOVA_TEST_SECONDS,
            "nova_over_ours": NOVA_TEST_SECONDS / wall["median"],
        }
    return results


def report(job: dict[str, Any]) -> None:
    print(
        f"Main job wall time ({job['runs']} runs each after {job['warmup_runs']} warm-up, "
        f"trackers alternating; {job['command'][0]})"
    )
    print(f"  testbed timed: {job['installed']}")
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
    print(
        f"  floor {job['floor_median_s']:.3f} s median: the same interpreter importing only the "
        f"{len(job['floor_modules'])} modules not testbed's that a run imports, doing nothing"
    )


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--runs", type=int, default=7, help="timed runs per tracker (default 7)")
    p.add_argument(
        "--warmup-runs",
        type=int,
        default=1,
        help="untimed runs per tracker first (default 1; exit code still checked)",
    )
    p.add_argument(
        "--testbed",
        default="install",
        metavar="install|current|PATH",
        help="what to time: a private venv with pip install . (default), this interpreter's "
        "testbed, or the testbed console script at PATH",
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
        return measure(args.runs, args.warmup_runs, args.run_timeout, args.quiet, args.testbed)
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
