"""What the benchmarks share: the ``testbed`` command they time, timed subprocess runs,
medians, CPU pinning and the progress bar (the command line's own).

A benchmark measures and reports; it must not assert a speed (no pass/fail on a time) and
must not leave a process or a directory behind.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import sysconfig
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestrator.cli.progress import Progress
from orchestrator.explore import cores

# Nova's own regression test for the bug (nova/tests/functional/regressions/
# test_bug_1896463.py), Nova 34.0.0, run as a functional test on a 2-core machine: about 13 s.
# A quoted figure, never measured by these benchmarks.
NOVA_TEST_SECONDS = 13.0
NOVA_TEST_SOURCE = (
    "Nova 34.0.0, functional test test_bug_1896463 on a 2-core machine; quoted, not measured here"
)


def testbed_command() -> list[str]:
    """The console script of this interpreter (no pyenv shim), else PATH, else ``-m``."""
    script = Path(sysconfig.get_path("scripts")) / "testbed"
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    found = shutil.which("testbed")
    if found:
        return [found]
    return [sys.executable, "-m", "orchestrator.cli"]


@dataclass
class Timed:
    wall: float  # seconds from start to exit, interpreter start-up included
    code: int | None  # None: timed out (the process was killed by subprocess.run)
    stdout: str
    stderr: str


def timed_run(argv: list[str], timeout: float) -> Timed:
    """Run ``argv`` once, capturing its output; bounded by ``timeout``."""
    start = time.perf_counter()
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        code, out, err = proc.returncode, proc.stdout, proc.stderr
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else ""
        code, err = None, f"timed out after {timeout:g} s"
    return Timed(time.perf_counter() - start, code, out, err)


def repeat(
    argv: list[str], times: int, timeout: float, label: str, quiet: bool = False
) -> Iterator[Timed]:
    """Run ``argv`` ``times`` times, one after the other, with a progress bar."""
    bar = progress(label, times, quiet)
    try:
        for _ in range(times):
            result = timed_run(argv, timeout)
            bar.step()
            yield result
    finally:
        bar.close()


def spread(samples: list[float]) -> dict[str, float | list[float]]:
    """Median, min, max and every sample (medians, never means: one slow outlier is noise)."""
    return {
        "median": statistics.median(samples),
        "min": min(samples),
        "max": max(samples),
        "all": samples,
    }


@contextmanager
def pinned(cpu: int | None) -> Iterator[None]:
    """Pin the calling thread, and the threads it starts meanwhile, to ``cpu``."""
    if cpu is None:
        yield
        return
    if not hasattr(os, "sched_setaffinity"):
        raise SystemExit("bench: --cpu needs os.sched_setaffinity (Linux)")
    with cores.kept_to({cpu}):
        yield


def check_cpu(cpu: int | None) -> str | None:
    """Why ``--cpu`` cannot be used, or None."""
    if cpu is not None and hasattr(os, "sched_getaffinity"):
        allowed = os.sched_getaffinity(0)
        if cpu not in allowed:
            return f"--cpu {cpu}: not one of {sorted(allowed)}"
    return None


def cpus() -> list[int] | None:
    return sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None


def parse(prog: str, doc: str | None, argv: list[str] | None, parts: Sequence[Any]) -> Any:
    """The command line of a benchmark: each part's options (``add_args``), ``--json`` and
    ``-q``; then each part checks its values (``check_args``)."""
    p = argparse.ArgumentParser(
        prog=prog, description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    for part in parts:
        part.add_args(p)
    p.add_argument("--json", action="store_true", help="print one JSON object instead")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    args = p.parse_args(argv)
    for part in parts:
        if hasattr(part, "check_args"):
            part.check_args(p, args)
    return args


def progress(label: str, total: int | None, quiet: bool = False) -> Progress:
    """The command line's progress bar on stderr (nothing when quiet or not a terminal)."""
    return Progress(label, total, enabled=not quiet)
