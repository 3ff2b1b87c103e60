"""Logging across processes: every host's records reach the orchestrator's handlers.

Each host process gets its own multiprocessing-logging handler, and so its own queue: a host
killed with SIGKILL while it holds its queue's write lock can only silence itself, never the
other hosts. Records carry the host name (the process name) and pid, formatted in one place.
Hosts must not share a queue, and nothing else formats a record."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from multiprocessing_logging import MultiProcessingHandler

ROOT = "testbed"  # every logger of the project is below this one
FORMAT = "%(asctime)s %(host)s[%(process)d] %(levelname)s %(name)s: %(message)s"


class HostFormatter(logging.Formatter):
    """Adds ``host``: the host's name in a host process, ``orchestrator`` in the main one."""

    def format(self, record: logging.LogRecord) -> str:
        name = record.processName
        record.host = "orchestrator" if name == "MainProcess" else name
        return super().format(record)


class _Forward(logging.Handler):
    """Hands records received from a host to the run's handlers, each at its own level."""

    def __init__(self, targets: list[logging.Handler]) -> None:
        super().__init__()
        self.targets = targets

    def emit(self, record: logging.LogRecord) -> None:
        for handler in self.targets:
            if record.levelno >= handler.level:
                handler.handle(record)


class HostLogHandler(MultiProcessingHandler):
    """multiprocessing-logging's handler with a bounded close.

    The library waits up to 5 s for a queue to drain; a host killed between queueing a record
    and writing it never drains, so teardown would stall. Here the wait is ours to bound.
    """

    def wake(self) -> None:
        """Tell the receiver to finish: it drains what is queued, then ends."""
        if not self._is_closed:
            self._is_closed = True
            # Wake the receiver at once (it polls every 0.2 s) with a record below every level.
            # A host killed mid-write holds the queue's write lock for ever: never let the
            # interpreter's exit wait for our feeder thread behind it (the join below is bounded).
            self.queue.cancel_join_thread()
            self.queue.put(logging.LogRecord("testbed", 0, "", 0, "", None, None))

    def close(self, timeout: float = 0.5) -> None:  # type: ignore[override]
        self.wake()
        self._receive_thread.join(timeout)
        logging.Handler.close(self)


class _Buffered(logging.FileHandler):
    """A log file written as its buffer fills and when it is closed, not after every record:
    a write per record hands the interpreter to another thread each time."""

    def flush(self) -> None:
        pass  # closing the stream writes what is left


class RunLog:
    """The run's log: a file in the run directory, and the console with ``verbose``.
    ``buffered``: the file is complete only once closed (for runs read when they are over)."""

    def __init__(
        self, path: Path, verbose: bool = False, level: int = logging.INFO, buffered: bool = False
    ) -> None:
        self.path = path
        self.handlers: list[logging.Handler] = [
            (_Buffered if buffered else logging.FileHandler)(path)
        ]
        if verbose:
            self.handlers.append(logging.StreamHandler(sys.stderr))
        for handler in self.handlers:
            handler.setFormatter(HostFormatter(FORMAT))
            handler.setLevel(level)
        self.logger = logging.getLogger(ROOT)
        self.logger.setLevel(level)
        for handler in self.handlers:
            self.logger.addHandler(handler)
        self.channels: list[HostLogHandler] = []

    def host_handler(self, host: str) -> HostLogHandler:
        """A fresh queue for one host process (one per start, so restarts get a new one)."""
        handler = HostLogHandler(f"log-{host}", sub_handler=_Forward(self.handlers))
        self.channels.append(handler)
        return handler

    def close(self) -> None:
        for channel in self.channels:  # every receiver drains at once; then each is joined
            channel.wake()
        for channel in self.channels:
            channel.close()
        for handler in self.handlers:
            self.logger.removeHandler(handler)
            handler.close()


def install_in_host(handler: logging.Handler, level: int) -> None:
    """In a freshly forked host: send every record through ``handler`` and nowhere else."""
    logger = logging.getLogger(ROOT)
    for old in list(logger.handlers):
        logger.removeHandler(old)  # the parent's file/console handlers, copied by fork
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
