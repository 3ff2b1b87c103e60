"""Helpers shared by the integration tests: the CLI as a subprocess, pid liveness."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

from orchestrator.procs import running

CLI = [sys.executable, "-m", "orchestrator.cli"]


def run_cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout)


def run_json(*args: str) -> tuple[int, dict]:
    proc = run_cli(*args, "--json")
    return proc.returncode, json.loads(proc.stdout)


def default_sigint() -> None:
    """``preexec_fn`` for a CLI child that must take Ctrl-C as a terminal's child does, even
    when this suite was started with SIGINT ignored (``pytest &`` from a script)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


alive = running  # a zombie counts as gone


def start_cli(*args: str, cwd=None) -> subprocess.Popen:
    """The CLI in its own session, as a terminal would start it (Ctrl-C reaches its group)."""
    return subprocess.Popen(
        [*CLI, *args],
        cwd=cwd,
        preexec_fn=default_sigint,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def wait_gone(pids: list[int], timeout: float) -> list[int]:
    """Wait (bounded) until every pid is gone; return those still alive."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        left = [p for p in pids if alive(p)]
        if not left:
            return []
        time.sleep(0.02)
    return [p for p in pids if alive(p)]


def wait_for_file_text(path: Path, text: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and text in path.read_text(errors="replace"):
            return True
        time.sleep(0.02)
    return False


def child_pids(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except FileNotFoundError:
        return []
