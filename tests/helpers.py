"""Helpers shared by the integration tests: the CLI (in this process or as a subprocess), pid
liveness."""

from __future__ import annotations

import contextlib
import io
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

from orchestrator.cluster.procs import running

CLI = [sys.executable, "-m", "orchestrator.cli"]


def run_cli(*args: str, cwd: Path | str | None = None) -> subprocess.CompletedProcess:
    """``testbed ARGS`` run by its ``main`` in this process: the same parsing, cluster, hosts
    (forked from here) and output, without an interpreter start-up per call. What only a
    process can show (the console script, signals, lean imports) starts ``CLI`` instead."""
    from orchestrator.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    sigterm = signal.getsignal(signal.SIGTERM)  # main() installs its own
    with contextlib.ExitStack() as stack:
        if cwd is not None:
            stack.enter_context(contextlib.chdir(cwd))
        stack.enter_context(contextlib.redirect_stdout(out))
        stack.enter_context(contextlib.redirect_stderr(err))
        try:
            code = main(list(args))
        except SystemExit as exc:  # argparse: --help, usage errors
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
        finally:
            signal.signal(signal.SIGTERM, sigterm)
    return subprocess.CompletedProcess(["testbed", *args], code, out.getvalue(), err.getvalue())


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
