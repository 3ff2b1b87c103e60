"""Logging across processes: every host's records reach the orchestrator's handlers.

Each host process gets its own multiprocessing-logging handler, and so its own queue: a host
killed with SIGKILL while it holds its queue's write lock can only silence itself, never the
other hosts. Records carry the host name (the process name) and pid, formatted in one place.
Hosts must not share a queue, and nothing else formats a record."""

from __future__ import annotations

import logging
import sys
import threading
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


class Relay(logging.Handler):
    """Records another process relays for several runs at once (the zygote, for the hosts it
    forks): each goes to the run it is tagged with (``testbed_run``); a run's end marker
    (``testbed_end``) says that its last record has come."""

    def __init__(self) -> None:
        super().__init__()
        self.runs: dict[str, logging.Handler] = {}
        self.ends: dict[str, threading.Event] = {}

    @staticmethod
    def end(run: str) -> logging.LogRecord:
        record = logging.LogRecord(ROOT, logging.CRITICAL, "", 0, "", None, None)
        record.testbed_run, record.testbed_end = run, True
        return record

    def expect(self, run: str) -> threading.Event:
        """The event set when ``run``'s end marker comes."""
        return self.ends.setdefault(run, threading.Event())

    def forget(self, run: str) -> None:
        self.runs.pop(run, None)
        self.ends.pop(run, None)

    def emit(self, record: logging.LogRecord) -> None:
        run = getattr(record, "testbed_run", None)
        if getattr(record, "testbed_end", False):
            ended = self.ends.get(run)  # type: ignore[arg-type]
            if ended is not None:
                ended.set()
            return
        target = self.runs.get(run)  # type: ignore[arg-type]
        if target is not None:
            target.emit(record)


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


class _Deferred(logging.FileHandler):
    """A log file written when it is closed, not after every record (a write per record hands
    the interpreter to another thread each time), and not at all once discarded: records are
    kept with their message made, and formatted only if the file is written."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, delay=True)
        self.records: list[logging.LogRecord] | None = []

    def emit(self, record: logging.LogRecord) -> None:
        if self.records is None:
            return
        if record.args:  # made now: an argument may change before the file is written
            record.msg, record.args = record.getMessage(), None
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatter.formatException(record.exc_info)  # type: ignore[union-attr]
            record.exc_info = None
        self.records.append(record)

    def discard(self) -> None:
        self.records = None

    def clear(self) -> None:
        with self.lock:  # type: ignore[union-attr]
            if self.records:
                self.records.clear()

    def close(self) -> None:
        records, self.records = self.records, None
        with self.lock:  # type: ignore[union-attr]
            if records:
                stream = self._open()
                stream.write("".join(self.format(r) + self.terminator for r in records))
                stream.close()
        super().close()


class RunLog:
    """The run's log: a file in the run directory, and the console with ``verbose``.
    ``buffered``: the file is written only once closed (for runs read when they are over),
    and not at all when discarded first."""

    def __init__(
        self, path: Path, verbose: bool = False, level: int = logging.INFO, buffered: bool = False
    ) -> None:
        self.path = path
        self.handlers: list[logging.Handler] = [
            _Deferred(path) if buffered else logging.FileHandler(path)
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

    def relayed(self, relay: Relay, run: str) -> None:
        """Take the records ``relay`` tags with ``run`` (of hosts forked elsewhere)."""
        relay.runs[run] = _Forward(self.handlers)

    def host_handler(self, host: str) -> HostLogHandler:
        """A fresh queue for one host process (one per start, so restarts get a new one)."""
        handler = HostLogHandler(f"log-{host}", sub_handler=_Forward(self.handlers))
        self.channels.append(handler)
        return handler

    def clear(self) -> None:
        """Forget what a buffered file holds so far."""
        for handler in self.handlers:
            if isinstance(handler, _Deferred):
                handler.clear()

    def discard(self) -> None:
        """The run directory is about to be removed: a buffered file is not written."""
        for handler in self.handlers:
            if isinstance(handler, _Deferred):
                handler.discard()

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
