"""Actions at injection points, run inside a host when it reaches a point.

A host asks its ``Injector`` at each named point; the configuration says what happens there.
Today the action is a delay; a point addressed to one host overrides the same point on ``*``.
Actions are armed once the host has started, so ``init_host`` runs unhindered (as Nova's test
patches its sleeps in after the services are up).
"""

from __future__ import annotations

import logging
import time

from testbed.points import ANY_HOST, POINTS, Address

log = logging.getLogger("testbed.injection")


class Injector:
    def __init__(self, host: str, delays: dict[Address, float]) -> None:
        self.host = host
        ordered = sorted(delays.items(), key=lambda kv: kv[0].host != ANY_HOST)  # '*' first
        self.delays = {a.point: s for a, s in ordered if a.host in (ANY_HOST, host)}
        self.armed = False

    def __call__(self, point: str) -> None:
        if point not in POINTS:  # a programming error in the host, not a user's mistake
            raise KeyError(f"undeclared injection point '{point}'")
        seconds = self.delays.get(point, 0.0) if self.armed else 0.0
        if seconds > 0:
            log.info("%s: delay %.3f s", point, seconds)
            time.sleep(seconds)
