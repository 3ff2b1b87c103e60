"""A one-line progress bar on stderr for long work; silent when stderr is not a terminal.

It must not write to stdout: results and ``--json`` go there."""

from __future__ import annotations

import sys
import time


class Progress:
    def __init__(
        self, label: str, total: int | None = None, stream=sys.stderr, enabled: bool = True
    ) -> None:
        self.label, self.total, self.stream = label, total, stream
        self.enabled = enabled and stream.isatty()
        self.done = 0
        self.started = time.monotonic()

    def step(self, note: str = "") -> None:
        self.done += 1
        if not self.enabled:
            return
        secs = time.monotonic() - self.started
        if self.total:
            filled = int(30 * self.done / self.total)
            bar = f"[{'#' * filled}{'.' * (30 - filled)}] {self.done}/{self.total}"
        else:
            bar = f"{self.done}"
        self.stream.write(f"\r{self.label} {bar} {secs:5.1f} s {note}"[:120].ljust(120))
        self.stream.flush()

    def close(self) -> None:
        if self.enabled and self.done:
            self.stream.write("\r" + " " * 120 + "\r")
            self.stream.flush()
