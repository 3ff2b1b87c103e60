"""Network faults between the orchestrator and each host: partitions, delays, drops.

Every message of a host's link passes the orchestrator's two sockets: the conductor (the
host's requests and their replies) and the command socket (commands and their replies). The
faults are applied there, by the peer's routing identity, while both processes run on:

- a partition drops the link's messages in one direction or both (``to_host``: what the
  orchestrator sends; ``from_host``: what the host sends);
- a slow link delays each message by a fixed amount plus a seeded random one, and drops a
  seeded fraction.

A dropped message is gone: healing the link does not bring it back, and a request that timed
out stays failed (its late reply, if any, is dropped as stale by the caller). Delayed messages
still arrive after a heal. This module decides the fate of messages; it never reads or
changes the state behind them.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import zmq

from orchestrator.cluster.conductor import Conductor
from orchestrator.cluster.state import State
from orchestrator.holds.board import Board
from testbed import wire
from testbed.config import Config
from testbed.errors import ConfigError
from testbed.events import tag_of
from testbed.names import peer_tag
from testbed.operations import Operations
from testbed.transport import (
    DEFER,
    RemoteError,
    RouterCaller,
    RpcTimeout,
    answer,
    replied,
    send_reply,
)
from testbed.validate import DIRECTIONS

log = logging.getLogger("testbed.network")

TO_HOST, FROM_HOST = "to_host", "from_host"


@dataclass
class Link:
    partition: str | None = None  # both | to_host | from_host
    delay: float = 0.0
    jitter: float = 0.0
    drop: float = 0.0

    @property
    def faulty(self) -> bool:
        return bool(self.partition or self.delay or self.jitter or self.drop)


class Network:
    """The links of one cluster and what becomes of each message on them (thread-safe)."""

    def __init__(self, config: Config) -> None:
        n = config.network
        self.hosts = list(config.cluster.hosts)
        self.tags = {peer_tag(h): h for h in self.hosts}
        self.rng = random.Random(n.seed)
        self.lock = threading.Lock()
        self.links: dict[str, Link] = {h: Link() for h in self.hosts}
        self.calm = True  # no link has a fault: every message passes untouched, unexamined
        for host, direction in n.partition.items():
            self.partition(host, direction)
        for host in set(n.delay) | set(n.jitter) | set(n.drop):
            self.slow(host, n.delay.get(host, 0.0), n.jitter.get(host, 0.0), n.drop.get(host, 0.0))

    def _link(self, host: str) -> Link:
        if host not in self.links:
            raise ConfigError(f"unknown host '{host}' (hosts: {', '.join(self.hosts)})")
        return self.links[host]

    def partition(self, host: str, direction: str = "both") -> None:
        if direction not in DIRECTIONS:
            raise ConfigError(f"partition: direction must be one of {', '.join(DIRECTIONS)}")
        with self.lock:
            self._link(host).partition = direction
            self.calm = False
        log.warning("network: %s partitioned from the orchestrator (%s)", host, direction)

    def heal(self, host: str | None = None) -> None:
        """Restore ``host``'s link (every link when None): no partition, delay or drop."""
        with self.lock:
            for name in [host] if host else self.hosts:
                self._link(name)
                self.links[name] = Link()
            self.calm = not any(link.faulty for link in self.links.values())
        log.warning("network: %s healed", host or "every link")

    def slow(self, host: str, delay: float = 0.0, jitter: float = 0.0, drop: float = 0.0) -> None:
        if min(delay, jitter, drop) < 0 or drop > 1:
            raise ConfigError("slow: delay and jitter must not be negative, drop is 0 to 1")
        with self.lock:
            link = self._link(host)
            link.delay, link.jitter, link.drop = delay, jitter, drop
            self.calm = not any(link.faulty for link in self.links.values())
        log.warning(
            "network: %s's link delays %g s (+ up to %g s), drops %g", host, delay, jitter, drop
        )

    def host_of(self, identity: bytes) -> str | None:
        """The host whose socket has this routing identity (``TAG/...`` or the bare name)."""
        return self.tags.get(tag_of(identity))

    def faulty(self, host: str | None) -> bool:
        return not self.calm and host is not None and self.links[host].faulty

    def fate(self, host: str, direction: str) -> float | None:
        """None: this message is dropped; else the seconds it is delayed (0: none)."""
        with self.lock:
            link = self.links[host]
            if link.partition in (direction, "both"):
                return None
            if link.drop and self.rng.random() < link.drop:
                return None
            return link.delay + (self.rng.uniform(0, link.jitter) if link.jitter else 0.0)


class NetConductor(Conductor):
    """The conductor with each host's link passing through ``Network``: a dropped request is
    never handled, a dropped reply never sent, a delayed one handled (or sent) later, in the
    conductor's own thread."""

    def __init__(
        self,
        ctx: zmq.Context,
        state: State,
        config: Config,
        ipc_dir: str,
        board: Board,
        net: Network,
        ops: Operations | None = None,
    ) -> None:
        super().__init__(ctx, state, config, ipc_dir, board, ops)
        self.net = net
        self.later: list[tuple[float, int, Callable[[], None]]] = []  # this thread only
        self.due: dict[bytes, float] = {}  # socket -> when its last delayed message is handled
        self.seq = itertools.count()

    def handle(self, msg: wire.Message, route: tuple[bytes, ...] = ()) -> Any:
        if self.net.calm and not self.due:  # no fault on any link, nothing still delayed
            return super().handle(msg, route)
        host = self.net.host_of(route[0]) if route else None
        now = time.monotonic()
        # a socket's messages keep their order, as on one connection: none overtakes one still
        # delayed (a host's told lock events go before its next request)
        ahead = self.due.get(route[0], 0.0) if route else 0.0
        if not self.net.faulty(host) and ahead <= now:
            return super().handle(msg, route)
        delay = self.net.fate(host, FROM_HOST) if self.net.faulty(host) else 0.0
        if delay is None:
            log.debug("network: dropped %s from %s", msg.op, host)
            return DEFER
        at = max(now + delay, ahead)
        if at > now:
            if route:
                self.due[route[0]] = at
            self._later(at, lambda: self._answer(msg, route, late=True))
        else:
            self._answer(msg, route)
        return DEFER  # answered (or not) through _send, where the reply's own fate is decided

    def _answer(self, msg: wire.Message, route: tuple[bytes, ...], late: bool = False) -> None:
        body, error = answer(super().handle, msg, route, self.bad_frames)  # as serve_one does
        if replied(body, error):
            self._send(route, msg.id, body, error)
        if late:  # served outside the poll round that received it
            self._served(msg.op or "")

    def _send(self, route: tuple[bytes, ...], msg_id: str, body: Any, error: str | None) -> None:
        host = self.net.host_of(route[0]) if route else None
        delay = self.net.fate(host, TO_HOST) if self.net.faulty(host) else 0.0
        if delay is None:
            log.debug("network: dropped a reply to %s", host)
        elif delay:
            self._later(
                time.monotonic() + delay, lambda: send_reply(self.sock, route, msg_id, body, error)
            )
        else:
            send_reply(self.sock, route, msg_id, body, error)

    def _later(self, at: float, fn: Callable[[], None]) -> None:
        """``fn`` at ``at`` (monotonic), in this thread; at the same time, in the order given."""
        heapq.heappush(self.later, (at, next(self.seq), fn))
        timer = threading.Timer(max(0.0, at - time.monotonic()), self._wake_quietly)
        timer.daemon = True
        timer.start()

    def _wake_quietly(self) -> None:
        try:
            self.wake()
        except zmq.ZMQError:  # closed meanwhile: nothing is delivered after close
            pass

    def _send_released(self) -> None:  # called by the serving loop after every poll
        super()._send_released()
        now = time.monotonic()
        while self.later and self.later[0][0] <= now:
            heapq.heappop(self.later)[2]()
        if self.due and not self.later:  # every delayed message handled: none is ahead
            self.due.clear()


class NetCaller(RouterCaller):
    """Commands to hosts through ``Network``: a dropped command never reaches its host; a
    dropped reply leaves the command done there but the caller timing out."""

    def __init__(self, ctx: zmq.Context, transport: str, ipc_dir: str, net: Network) -> None:
        super().__init__(ctx, transport, ipc_dir, "commands")
        self.net = net

    def call(self, identity: str, op: str, body: dict[str, Any], timeout: float) -> Any:
        if not self.net.faulty(identity if identity in self.net.links else None):
            return super().call(identity, op, body, timeout)
        deadline = time.monotonic() + timeout
        lost = RpcTimeout(op, timeout, f"host '{identity}'")
        out = self.net.fate(identity, TO_HOST)
        if out is None or out >= timeout:
            time.sleep(timeout)
            raise lost
        time.sleep(out)
        back = self.net.fate(identity, FROM_HOST)
        try:
            result = super().call(identity, op, body, deadline - time.monotonic())
        except RemoteError:
            if back is not None:
                raise
        if back is None or time.monotonic() + back > deadline:
            time.sleep(max(0.0, deadline - time.monotonic()))
            raise lost
        time.sleep(back)
        return result
