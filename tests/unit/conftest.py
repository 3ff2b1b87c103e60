"""The unit tests start no process: no cluster, no subprocess, no fork.

Enforced by recording, not by sampling: every record below is kept from the moment this file
is loaded (before any unit test module is imported), so a process that started and exited
between two looks is still seen.

1. An audit hook (PEP 578; once added it cannot be removed) records each process start the
   interpreter announces: ``os.fork``, ``os.forkpty``, ``os.posix_spawn``, ``os.spawn*``,
   ``os.system``, ``os.exec*`` and ``subprocess.Popen``, whoever calls them and however they
   were imported.
2. What announces nothing is wrapped: ``_posixsubprocess.fork_exec`` (multiprocessing's spawn
   and forkserver start methods call it directly) and ``BaseProcess.start`` (a forkserver
   forks its children itself, so this process makes no call the hook sees).
3. The kernel's own books, for a process started below Python (a C library calling fork):
   the resource usage of reaped children (``RUSAGE_CHILDREN``: a child that ran and was
   waited for adds its page faults and context switches) and the children, live or zombie,
   that this process has now. (A child of C code, exited and auto-reaped under an ignored
   SIGCHLD, leaves no trace in either; nothing in this project ignores SIGCHLD.)

A unit test during which any of these moves fails in its teardown, naming what started.
When every collected test is a unit test (``pytest tests/unit -p no:xdist``), the process has
no other reason to start anything: all three records count, from this file's loading to the
end of the session (a start at collection fails the first test; one after the last, the
session). In a session that also runs the integration tests, their clusters are this
process's children too, and an xdist worker starts processes of its own between tests: there
only the starts the interpreter records during a unit test count.
"""

from __future__ import annotations

import _posixsubprocess
import multiprocessing.process
import os
import resource
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

UNIT = Path(__file__).resolve().parent
STARTS = {
    "os.fork",
    "os.forkpty",
    "os.posix_spawn",
    "os.spawn",
    "os.system",
    "os.exec",
    "subprocess.Popen",
}


class Watch:
    """What started a process, since the last look; and whether a unit test is running."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.records: list[str] = []  # each start the interpreter saw, outside a test too
        self.in_test = False
        self.strict: bool | None = None  # None: nothing collected here (an xdist controller)
        self.rusage = _reaped()
        self.pid = os.getpid()

    def record(self, what: str) -> None:
        if os.getpid() != self.pid:  # a forked child's own starts are its parent's record already
            return
        with self.lock:
            self.records.append(f"{what} (during a unit test)" if self.in_test else what)

    def take(self, kernel: bool) -> list[str]:
        """Every start recorded since the last call; with ``kernel``, the kernel's too."""
        with self.lock:
            found, self.records = self.records, []
        if kernel:
            now = _reaped()
            if now != self.rusage:
                found.append("a child process ran and was reaped (RUSAGE_CHILDREN moved)")
            self.rusage = now
            found += [f"child process {pid} ({_comm(pid)})" for pid in _children()]
        return found


def _reaped() -> tuple[float, ...]:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (r.ru_minflt, r.ru_majflt, r.ru_nvcsw, r.ru_nivcsw, r.ru_utime, r.ru_stime)


def _children() -> list[int]:
    """This process's children, live or zombie: every process whose parent it is."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:  # gone meanwhile
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == os.getpid():  # field 4, after "(comm)"
                found.append(int(entry))
    return found


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return "gone"


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if event in STARTS:
        argv = [a for a in args if isinstance(a, list | tuple)]  # the command, where it has one
        shown = argv or [a for a in args if isinstance(a, str | bytes)]
        WATCH.record(f"{event} {shown[0]!r}" if shown else event)


def _wrap(owner: Any, name: str, label: str) -> None:
    original = getattr(owner, name)

    def recorded(*args: Any, **kwargs: Any) -> Any:
        WATCH.record(label)
        return original(*args, **kwargs)

    setattr(owner, name, recorded)


WATCH = Watch()
sys.addaudithook(_audit)
_wrap(_posixsubprocess, "fork_exec", "_posixsubprocess.fork_exec")
_wrap(multiprocessing.process.BaseProcess, "start", "multiprocessing Process.start")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    unit_only = bool(items) and all(UNIT in item.path.parents for item in items)
    # an xdist worker's own machinery starts processes between tests (it probes the platform)
    WATCH.strict = unit_only and not hasattr(config, "workerinput")


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    if not WATCH.strict:
        WATCH.take(kernel=False)  # what started between tests is not a unit test's doing
    WATCH.in_test = True


@pytest.hookimpl(trylast=True)  # after every fixture's teardown, module-scoped ones included
def pytest_runtest_teardown(item: pytest.Item) -> None:
    WATCH.in_test = False
    found = WATCH.take(kernel=bool(WATCH.strict))
    if found:
        pytest.fail(
            "a unit test must start no process; since the previous check: " + "; ".join(found),
            pytrace=False,
        )


def pytest_sessionfinish(session: pytest.Session) -> None:
    if not WATCH.strict:
        return
    found = WATCH.take(kernel=True)
    if found:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line("processes started after the last unit test: " + "; ".join(found))
