"""Rate-limited log lines: one line per kind of event per interval, not one per event.

Whatever a stranger or a broken peer can make us log (malformed frames, refused handshakes)
goes through here, so that ten thousand bad frames leave a handful of lines. The next line of
a kind says how many were held back since the last one. The kinds kept are bounded too.
"""

from __future__ import annotations

import logging
import re
import threading
import time

INTERVAL = 5.0  # seconds between two lines of one kind
MAX_KINDS = 256  # distinct kinds remembered; beyond that they share one


class RateLimited:
    def __init__(self, logger: logging.Logger, interval: float = INTERVAL) -> None:
        self.logger, self.interval = logger, interval
        self.kinds: dict[str, list[float]] = {}  # kind -> [last logged at, held back since]
        self.lock = threading.Lock()

    def warning(self, kind: str, fmt: str, *args: object) -> bool:
        """Log ``fmt % args`` unless a line of ``kind`` went out within the interval; True when
        it was logged."""
        now = time.monotonic()
        with self.lock:
            if kind not in self.kinds and len(self.kinds) >= MAX_KINDS:
                kind = "(other)"
            entry = self.kinds.get(kind)
            if entry is not None and now - entry[0] < self.interval:
                entry[1] += 1
                return False
            held = int(entry[1]) if entry is not None else 0
            self.kinds[kind] = [now, 0]
        if held:
            fmt += " (and %d more like it in the last %g s)"
            args = (*args, held, self.interval)
        self.logger.warning(fmt, *args)
        return True


_VARIABLE = re.compile(r"['\"{\[(0-9]")


def kind_of(reason: str) -> str:
    """The fixed part of a reason: its words before the first quoted or variable part, so that
    'unknown op 'x'' and 'unknown op 'y'' are one kind."""
    return _VARIABLE.split(reason, 1)[0].strip() or reason[:20]
