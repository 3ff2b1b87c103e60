"""The nova system next to Nova's own regression test for bug 1896463, in one run.

    python benchmarks/nova.py [--runs 5] [--nova-runs 3] [--json] [-q]

Run it in an environment with the nova extra (``pip install -c constraints/nova-34.txt
'.[nova]'``) and what Nova's functional test imports beyond it (``pip install -c
constraints/nova-34.txt oslotest wsgi-intercept openstack-placement``).

It times, one after the other, each as a subprocess (interpreter start-up included):

- Nova's own test, ``nova/tests/functional/regressions/test_bug_1896463.py``
  (``TestEvacuateResourceTrackerRace.test_evacuate_races_with_update_available_resource``,
  shipped in the nova package), run by ``testtools.run`` (the runner under Nova's stestr;
  pytest cannot report testtools' test cases), once as shipped and once with the lock removed
  from ``finish_evacuation``: the wrapper sets ``ResourceTracker.finish_evacuation`` to the
  function ``@utils.synchronized`` decorated (its ``__wrapped__``) before the test runs. No
  edited copy of Nova. The wrapper also points Nova's ``state_path`` at the environment, where
  the wheel installs ``etc/nova/api-paste.ini`` (the test looks for it beside the package);
- ``testbed run --set cluster.system=nova`` and the same with ``--no-fix 1896463``.

Memory: the PSS of each process (``Pss`` of ``/proc/PID/smaps_rollup``, its peak over samples
every 100 ms while it runs): each host and the orchestrator of a ``testbed run`` (the hosts'
pids from its log lines), the one process of Nova's test. A benchmark reports; it asserts no
speed. Exit 1 when a run's outcome is not the expected one (the table says which).
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from common import parse, progress, testbed_command

NOVA_TEST = "nova.tests.functional.regressions.test_bug_1896463"
NOVA_TEST_NAME = (
    "TestEvacuateResourceTrackerRace.test_evacuate_races_with_update_available_resource"
)
# Nova's test set-up is imported first (it decides about eventlet before Nova's modules load)
WRAPPER = f"""
import sys
import {NOVA_TEST}
import nova.conf
from nova.compute.resource_tracker import ResourceTracker
nova.conf.CONF.set_default("state_path", sys.prefix)
if sys.argv[1] == "unlocked":
    ResourceTracker.finish_evacuation = ResourceTracker.finish_evacuation.__wrapped__
from testtools import run
run.main([sys.argv[0], "{NOVA_TEST}"], sys.stdout)
"""
NOVA_TEST_NEEDS = ("oslotest", "wsgi_intercept", "placement.tests", "testtools")
STARTED = re.compile(r"started (\S+) as pid (\d+)")
TIMEOUT = 300.0


@dataclass
class Sampled:
    wall: float
    code: int | None
    pss_kib: dict[str, int] = field(default_factory=dict)  # process name -> peak PSS


def pss_kib(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as fh:
            for line in fh:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:  # gone, or not ours to read
        return None
    return None


def sampled_run(argv: list[str], root: str, cwd: str) -> Sampled:
    """Run ``argv``, sampling the PSS of its process (named ``root``) and of every host whose
    start its log reports, until it exits."""
    pids: dict[str, int] = {}
    peak: dict[str, int] = {}
    start = time.perf_counter()
    proc = subprocess.Popen(
        argv, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    pids[root] = proc.pid

    def read_log() -> None:
        for line in proc.stderr:  # type: ignore[union-attr]
            m = STARTED.search(line)
            if m:
                pids[m.group(1)] = int(m.group(2))

    reader = threading.Thread(target=read_log, daemon=True)
    reader.start()
    deadline = time.monotonic() + TIMEOUT
    while proc.poll() is None and time.monotonic() < deadline:
        for name, pid in list(pids.items()):
            kib = pss_kib(pid)
            if kib is not None:
                peak[name] = max(peak.get(name, 0), kib)
        time.sleep(0.1)
    if proc.poll() is None:
        proc.kill()
    code = proc.wait()
    wall = time.perf_counter() - start
    reader.join(timeout=5)
    return Sampled(wall, None if time.monotonic() >= deadline else code, peak)


@dataclass
class Row:
    what: str
    expect: int  # the exit code expected every time
    meaning: str  # what that exit says
    runs: list[Sampled]

    @property
    def walls(self) -> list[float]:
        return [r.wall for r in self.runs]

    @property
    def as_expected(self) -> int:
        return sum(r.code == self.expect for r in self.runs)

    def pss_mib(self) -> dict[str, float]:
        """Median over runs of each process's peak PSS, in MiB."""
        names = sorted({n for r in self.runs for n in r.pss_kib})
        return {
            n: statistics.median(r.pss_kib[n] for r in self.runs if n in r.pss_kib) / 1024
            for n in names
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "what": self.what, "expected_exit": self.expect, "meaning": self.meaning,
            "runs": len(self.runs), "as_expected": self.as_expected,
            "exits": [r.code for r in self.runs], "wall_s": self.walls,
            "wall_median_s": statistics.median(self.walls), "pss_mib": self.pss_mib(),
        }  # fmt: skip


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--runs", type=int, default=5, help="testbed runs each way (default 5)")
    p.add_argument("--nova-runs", type=int, default=3, help="Nova test runs each way (3)")


def check_args(p: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.runs < 1 or args.nova_runs < 1:
        p.error("--runs and --nova-runs must be at least 1")
    # asked of a fresh interpreter elsewhere: here, this file's folder is first on the path and
    # this file is named nova
    code = (
        "import importlib.util as u, sys; print(*(m for m in sys.argv[1:] if not u.find_spec(m)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, "nova", *NOVA_TEST_NEEDS],
        cwd=tempfile.gettempdir(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    if out.returncode != 0 or out.stdout.strip():
        missing = out.stdout.strip() or out.stderr.strip().splitlines()[-1]
        p.exit(2, f"nova.py: needs {missing} (see its --help)\n")


def measure(args: argparse.Namespace) -> list[Row]:
    testbed = [*testbed_command(), "run", "--set", "cluster.system=nova"]
    nova = [sys.executable, "-c", WRAPPER]
    plan = [  # (row, argv, runs); the testbed's and Nova's alternate so load falls on both
        ("Nova's test, as shipped", nova + ["locked"], 0, "passes", args.nova_runs),
        ("Nova's test, lock removed", nova + ["unlocked"], 0, "passes: bug not caught",
         args.nova_runs),
        ("testbed run, nova", testbed, 0, "passes", args.runs),
        ("testbed run, nova, --no-fix 1896463", testbed + ["--no-fix", "1896463"], 1,
         "fails: bug caught", args.runs),
    ]  # fmt: skip
    rows = [Row(what, code, meaning, []) for what, _, code, meaning, _ in plan]
    bar = progress("nova", sum(p[-1] for p in plan), args.quiet)
    with tempfile.TemporaryDirectory(prefix="tb-nova-bench-") as base:
        try:
            for i in range(max(args.runs, args.nova_runs)):
                for row, (what, argv, _, _, runs) in zip(rows, plan, strict=True):
                    if i >= runs:
                        continue
                    if argv[0] != sys.executable:
                        argv = [*argv, "--run-dir", base]  # failed runs keep theirs: here
                    row.runs.append(
                        sampled_run(argv, "test" if "Nova" in what else "testbed", base)
                    )
                    bar.step()
        finally:
            bar.close()
    return rows


def report(rows: list[Row]) -> None:
    print(f"Nova's own test: {NOVA_TEST}.{NOVA_TEST_NAME}, run by testtools.run")
    print(f"{'':38} {'runs':>4}  {'as expected':<26} {'wall median (min-max)':<22} peak PSS")
    for r in rows:
        walls = r.walls
        wall = f"{statistics.median(walls):.2f} s ({min(walls):.2f}-{max(walls):.2f})"
        pss = ", ".join(f"{n} {v:.0f}" for n, v in r.pss_mib().items()) + " MiB"
        ok = f"{r.as_expected}/{len(r.runs)} {r.meaning}"
        print(f"{r.what:38} {len(r.runs):>4}  {ok:<26} {wall:<22} {pss}")
    ours, theirs = statistics.median(rows[2].walls), statistics.median(rows[0].walls)
    print(f"one nova testbed run / Nova's test (wall medians): {ours / theirs:.2f}")


def main(argv: list[str] | None = None) -> int:
    args = parse("nova.py", __doc__, argv, [sys.modules[__name__]])
    rows = measure(args)
    if args.json:
        ours, theirs = statistics.median(rows[2].walls), statistics.median(rows[0].walls)
        print(json.dumps({"nova_test": f"{NOVA_TEST}.{NOVA_TEST_NAME}", "runner":
                          "testtools.run", "rows": [r.to_dict() for r in rows],
                          "wall_ratio": ours / theirs}, indent=2))  # fmt: skip
    else:
        report(rows)
    return 0 if all(r.as_expected == len(r.runs) for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
