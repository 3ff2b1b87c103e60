"""The host's side of the run's history: records written to a pipe, never waited for.

Each record (see ``testbed.events``) is one ``os.write`` on a non-blocking pipe the
orchestrator reads: atomic, so records of several threads never mix, and the kernel's once the
call returns, so a host killed with SIGKILL loses at most the record it was writing. A full
pipe drops the record and counts it (the next record that gets through says how many); a
closed one (the orchestrator is gone) turns recording off. Nothing here blocks or raises.
"""

from __future__ import annotations

import itertools
import os
import time
from typing import Any

from testbed import events


class Emitter:
    def __init__(self, fd: int, host: str) -> None:
        self.fd, self.host, self.pid = fd, host, os.getpid()
        self.seq = itertools.count()  # next() is atomic under the GIL: one order per process
        self.lost = 0
        if fd >= 0:
            os.set_blocking(fd, False)

    def emit(self, kind: str, task: str, **fields: Any) -> None:
        if self.fd < 0:
            return
        record = {
            "t": time.monotonic(),
            "kind": kind,
            "host": self.host,
            "pid": self.pid,
            "task": task,
            "seq": next(self.seq),
            **fields,
        }
        try:
            if self.lost:
                lost = {"kind": "lost", "seq": next(self.seq), "count": self.lost}
                os.write(self.fd, events.encode(record | lost))
                self.lost = 0
            os.write(self.fd, events.encode(record))
        except BlockingIOError:
            self.lost += 1
        except OSError:  # the orchestrator closed its end: nobody reads any more
            self.fd = -1
