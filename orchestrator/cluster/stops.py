"""Stops (Ctrl-C, SIGTERM) as ``KeyboardInterrupt``, never lost inside a fork.

The command line turns both signals into ``KeyboardInterrupt``, and every cluster tears itself
down on the way out. Python runs a signal's handler in the main thread at its next bytecode;
when that thread is forking, that can be inside a fork hook (``os.register_at_fork``: logging's
releases its lock there), where an exception is printed and dropped, and the stop is lost: a
worker of ``testbed explore --jobs`` told to stop while it forked a host went on minimising.
Around a fork, ``deferred`` keeps a stop for the end of the ``with``; ``forking`` also blocks
the stop signals in the forking thread, so that the child is born with them blocked and takes
them once it has handlers of its own (``testbed.launch.host_main``).
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator

from testbed.stops import STOPS

# the handler runs in the main thread: its view only. ``deferring`` is the pid that defers, so
# that a child forked inside the ``with`` (it inherits the memory) takes its stops at once
_main = threading.local()


def interrupt(signum: int, frame: object) -> None:
    """The handler of both stops: ``KeyboardInterrupt`` now, or at the end of ``deferred``."""
    if getattr(_main, "deferring", 0) == os.getpid():
        _main.pending = True
        return
    raise KeyboardInterrupt


def install() -> None:
    """Both stops raise ``KeyboardInterrupt`` through ``interrupt`` (main thread only)."""
    for sig in STOPS:
        signal.signal(sig, interrupt)


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """A stop that comes during the ``with`` is raised at its end, after what it did (start a
    process, note its pid), so that the teardown knows of everything started."""
    if (
        threading.current_thread() is not threading.main_thread()
        or getattr(_main, "deferring", 0) == os.getpid()
    ):
        yield  # a handler never runs in another thread; nested: the outer one raises
        return
    _main.deferring, _main.pending = os.getpid(), False
    try:
        yield
    finally:
        _main.deferring = 0
        if _main.pending:
            _main.pending = False
            raise KeyboardInterrupt


@contextlib.contextmanager
def forking() -> Iterator[None]:
    """Around a fork and the notes of what it started: ``deferred``, and the stop signals
    blocked in this thread (the child inherits the mask; this thread gets its own back)."""
    with deferred():
        before = signal.pthread_sigmask(signal.SIG_BLOCK, STOPS)
        try:
            yield
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, before)
