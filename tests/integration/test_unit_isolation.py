"""The unit tests' guard (tests/unit/conftest.py) catches every way of starting a process, in
inner pytest sessions run as ``pytest tests/unit -p no:xdist`` is: a copy of that conftest
beside tiny tests that start one, each in its own way."""

from __future__ import annotations

import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

GUARD = Path(__file__).resolve().parents[1] / "unit" / "conftest.py"

# Run in file order; each test's teardown looks at what started since the previous one.
STARTERS = r'''
import ctypes
import multiprocessing
import os
from multiprocessing import resource_tracker
import subprocess
import time

LIVE = []


def test_a_clean():
    time.sleep(0.01)


def test_subprocess_run():
    subprocess.run(["sleep", "0.1"], check=True)


def test_fork():
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)


def test_multiprocessing_spawn():
    proc = multiprocessing.get_context("spawn").Process(target=os.getpid)
    proc.start()
    proc.join(30)
    resource_tracker._resource_tracker._stop()  # the spawn start's helper process, too


def test_fork_below_python_reaped():
    """libc's fork through ctypes: no audit event, no wrapper; only the kernel knows."""
    pid = ctypes.CDLL(None).fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)


def test_fork_below_python_still_running():
    pid = ctypes.CDLL(None).fork()
    if pid == 0:
        time.sleep(0.5)
        os._exit(0)
    LIVE.append(pid)


def test_reaping_it_later():
    os.waitpid(LIVE.pop(), 0)


def test_z_clean_again():
    time.sleep(0.01)
'''


def run_inner(root: Path, *paths: str) -> tuple[int, dict[str, str], str]:
    """An inner session of ``paths`` under ``root``: its exit code, each test's outcome
    (``passed``, ``failed`` or ``error``: a failing teardown) and its output."""
    xml = root / "report.xml"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:xdist", "-p", "no:randomly"]
        + ["-p", "no:cacheprovider", "-q", f"--junitxml={xml}", "--rootdir", str(root), *paths],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
    )
    outcomes: dict[str, str] = {}
    for case in ET.parse(xml).iter("testcase"):
        kinds = {child.tag for child in case} & {"failure", "error"}
        outcomes[case.get("name", "")] = (
            "error" if "error" in kinds else kinds.pop() if kinds else "passed"
        )
    return proc.returncode, outcomes, proc.stdout + proc.stderr


def unit_dir(root: Path) -> Path:
    unit = root / "unit"
    unit.mkdir()
    shutil.copy(GUARD, unit / "conftest.py")
    return unit


def test_every_way_of_starting_a_process_fails_its_unit_test(tmp_path: Path) -> None:
    (unit_dir(tmp_path) / "test_starters.py").write_text(STARTERS)
    code, outcomes, out = run_inner(tmp_path, "unit")
    assert code == 1, out
    clean = {"test_a_clean", "test_z_clean_again"}
    assert {name for name, outcome in outcomes.items() if outcome == "passed"} == clean, out
    assert len(outcomes) == 8, out
    for needle in (
        "subprocess.Popen ['sleep', '0.1']",
        "os.fork",
        "_posixsubprocess.fork_exec",
        "multiprocessing Process.start",
        "RUSAGE_CHILDREN moved",
        "child process",
    ):
        assert needle in out, (needle, out)


def test_a_process_started_at_collection_fails_the_unit_session(tmp_path: Path) -> None:
    unit = unit_dir(tmp_path)
    (unit / "test_import.py").write_text(
        'import subprocess\nsubprocess.run(["true"])\n\n\ndef test_nothing():\n    pass\n'
    )
    code, outcomes, out = run_inner(tmp_path, "unit")
    assert code == 1 and outcomes == {"test_nothing": "error"}, out
    assert "subprocess.Popen ['true']" in out and "(during a unit test)" not in out, out


@pytest.mark.parametrize("where", ["unit", "integration"])
def test_beside_integration_tests_only_the_unit_tests_are_held_to_it(
    tmp_path: Path, where: str
) -> None:
    """In a whole-suite session the integration tests' processes are theirs; a unit test
    that starts one still fails."""
    unit = unit_dir(tmp_path)
    (tmp_path / "integration").mkdir()
    start = 'import subprocess\n\n\ndef test_starts():\n    subprocess.run(["sleep", "0.1"])\n'
    (tmp_path / where / "test_starts.py").write_text(start)
    (unit / "test_clean.py").write_text("def test_clean():\n    pass\n")
    code, outcomes, out = run_inner(tmp_path, "unit", "integration")
    assert outcomes["test_clean"] == "passed", out
    assert outcomes["test_starts"] == ("error" if where == "unit" else "passed"), out
    assert code == (1 if where == "unit" else 0), out
