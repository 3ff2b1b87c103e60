"""Mutation check of the race tests: does each deliberate bug make a test fail?

Each mutant is one small edit of the source. For each, the repository is copied to a private
temporary directory, the edit applied there (the working tree is never touched), and the
chosen tests run against the copy; the script prints which tests failed. A mutant no test
catches is a hole in the tests. Exit 1 when any mutant survives.

    python checks/mutants.py                # tests/integration/test_evacuate_race.py
    python checks/mutants.py --tests tests/integration/test_evacuate_race.py \
        tests/integration/test_hold_policy.py
    python checks/mutants.py --only lock-rule-removed --json
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COPY = ("testbed", "hosts", "orchestrator", "tests", "docs", "pyproject.toml", "README.md")
TESTS = ["tests/integration/test_evacuate_race.py"]  # run against each mutant unless --tests

# name -> (what it breaks, file, text, replacement); each text must occur exactly once
MUTANTS: dict[str, tuple[str, str, str, str]] = {
    "buggy-takes-lock": (
        "without the fix for 1896463, the evacuation still finishes under the lock",
        "hosts/model/resource_tracker.py",
        '        if "1896463" not in self.fixes:\n'
        "            self._finish_evacuation(instance, migration)\n            return\n",
        "",
    ),
    "fixed-drops-lock": (
        "with the fix for 1896463, the evacuation still finishes outside the lock",
        "hosts/model/resource_tracker.py",
        "        with self.lock:\n            self._finish_evacuation(instance, migration)\n\n"
        "    def _finish_evacuation",
        "        self._finish_evacuation(instance, migration)\n\n    def _finish_evacuation",
    ),
    "clean-usage-frees-nothing": (
        "clean_usage frees nothing",
        "hosts/model/pci.py",
        "        for uuid in freed:\n            self.free_instance(uuid)\n"
        "        return sorted(set(freed))",
        "        return []",
    ),
    "checks-always-pass": (
        "every check row holds, whatever is bound",
        "orchestrator/run/checks.py",
        "        return self.actual == self.expect.count",
        "        return True",
    ),
    "lock-rule-removed": (
        "a hold is never released because its holder owns the lock",
        "orchestrator/holds/policy.py",
        "by_lock = bool(unmet) and self._blocks_everyone(board, task)",
        "by_lock = False",
    ),
    "hold-timeouts-ignored-by-hosts": (
        "a host whose hold times out goes on silently, as if released",
        "hosts/injection.py",
        "        except RpcTimeout:\n            if event != Event.TIMER:",
        "        except RpcTimeout:\n            return\n            if event != Event.TIMER:",
    ),
    "hold-timeouts-ignored-by-board": (
        "the orchestrator does not record a hold its host gave up on",
        "orchestrator/holds/record.py",
        "        with self.lock:\n            if not self._close(task, TIMED_OUT):",
        "        with self.lock:\n            return\n"
        "            if not self._close(task, TIMED_OUT):",
    ),
}


def mutate(tree: Path, name: str) -> None:
    _, path, text, replacement = MUTANTS[name]
    source = (tree / path).read_text()
    if source.count(text) != 1:
        raise SystemExit(f"mutant {name}: its text occurs {source.count(text)} times in {path}")
    (tree / path).write_text(source.replace(text, replacement))


def run(name: str, tests: list[str], timeout: float) -> dict:
    with tempfile.TemporaryDirectory(prefix=f"tb-mutant-{name}-") as tmp:
        tree = Path(tmp)
        for item in COPY:
            src = ROOT / item
            if src.is_dir():
                shutil.copytree(src, tree / item, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                shutil.copy2(src, tree / item)
        mutate(tree, name)
        env = os.environ | {"PYTHONPATH": str(tree)}  # the copy wins over the installed tree
        started = time.monotonic()
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-rf", "-p", "no:cacheprovider", "-n", "2"]
            + tests,
            cwd=tree,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        failed = sorted(set(re.findall(r"^FAILED (\S+)", proc.stdout, re.M)))
        return {
            "mutant": name,
            "breaks": MUTANTS[name][0],
            "exit": proc.returncode,
            "caught": proc.returncode != 0,
            "failed": failed,
            "seconds": round(time.monotonic() - started, 1),
        }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tests", nargs="+", default=TESTS)
    p.add_argument("--only", nargs="+", choices=sorted(MUTANTS), help="these mutants only")
    p.add_argument("--timeout", type=float, default=600, help="per mutant, seconds")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    results = []
    for name in args.only or MUTANTS:
        results.append(run(name, args.tests, args.timeout))
        r = results[-1]
        print(f"{name}: {'caught' if r['caught'] else 'SURVIVED'}", file=sys.stderr)
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print(f"mutants against {' '.join(args.tests)}")
        for r in results:
            print(f"  {r['mutant']:<32} {'caught' if r['caught'] else 'SURVIVED':<9} {r['breaks']}")
            for test in r["failed"]:
                print(f"      {test}")
    return 0 if all(r["caught"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
