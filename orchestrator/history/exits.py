"""How a host process ended, as the history tells it: its exit code (the signal's, negative,
when one ended it), read without taking the process from whoever reaps it."""

from __future__ import annotations

import os
import signal
import time
from typing import Any


def exit_code(proc: Any, timeout: float = 1.0) -> int | None:
    """The exit code (-signal when killed), read without reaping the process: reaping is the
    supervisor's, and taking it here would race its own wait."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            got = os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:  # reaped already: multiprocessing kept the code
            got = None
            if proc.exitcode is not None:
                return proc.exitcode
        if got is not None:
            killed = got.si_code in (os.CLD_KILLED, os.CLD_DUMPED)
            return -got.si_status if killed else got.si_status
        time.sleep(0.002)  # the sentinel closes a moment before the process is a zombie
    return None


def signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return str(number)
