"""Actions at injection points, run inside a host when it reaches a point.

A host asks its ``Injector`` at each named point; the configuration says what happens there,
in this order:

- **trace** (hosts in ``cluster.trace``, and every host ``[holds]`` names): the host
  reports the point to the orchestrator and goes on only when the orchestrator answers. That
  answer is how a point is *held*: by a hold from ``[holds]`` or by the explorer. An
  answer that does not come within ``timeouts.hold`` is an error naming the point and what it
  waited for — never a hang.
- **fault** (``[faults]``): ``kill`` ends the host process with SIGKILL, before the step's
  effect. It fires in a host's first process only, so a restarted host can recover.
- **delay** (``[delays]``): sleep that many seconds.

A point addressed to one host overrides the same point on ``*``. Actions are armed once the
host has started, so ``init_host`` runs unhindered (as Nova's test patches in its sleeps after
the services are up). Lock use is reported the same way on traced hosts (see ``lock_event``).

Whether traced or not, armed or not, every point, lock event and fault also goes to the run's
history (``hosts.emitter``), which never blocks.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

from hosts.emitter import Emitter
from testbed import events
from testbed.config import Config
from testbed.points import ANY_HOST, POINTS, Address
from testbed.transport import RemoteError, RpcTimeout
from testbed.vocabulary import FAULTS, TOLD, Event, Fault

log = logging.getLogger("testbed.injection")

Report = Callable[[dict[str, Any], float], Any]  # (trace body, timeout) -> reply
Tell = Callable[[dict[str, Any]], bool]  # trace body -> whether it could be sent


class HoldTimeout(Exception):
    """A held point was not released in time."""


def for_host(table: dict[Address, Any], host: str) -> dict[str, Any]:
    """Point -> value for ``host``; entries for this host win over ``*``."""
    ordered = sorted(table.items(), key=lambda kv: kv[0].host != ANY_HOST)
    return {a.point: v for a, v in ordered if a.host in (ANY_HOST, host)}


class Injector:
    def __init__(self, host: str, config: Config, incarnation: int = 1) -> None:
        self.host = host
        self.delays: dict[str, float] = for_host(config.addresses(config.delays), host)
        faults = for_host(config.addresses(config.faults), host)
        self.faults: dict[str, str] = faults if incarnation == 1 else {}
        self.waits_for: dict[str, list[str]] = for_host(config.addresses(config.holds), host)
        self.traced = config.traced(host)
        # a point matters to the orchestrator only where a hold may wait at it or for it; the
        # explorer orders requests, lock requests and timers, never bare points
        self.points_reported = self.traced and bool(config.holds)
        # the explorer fires this host's periodic audit: its thread waits for that, not a clock
        exploring = bool(config.cluster.trace) and config.cluster.timer_fires > 0
        self.timer_driven = exploring and host in config.cluster.trace
        self.timer_off = exploring and host not in config.cluster.trace  # not explored: no audit
        self.hold_timeout = config.timeouts.hold
        self.rpc_timeout = config.timeouts.rpc
        self.armed = False
        self.report: Report | None = None  # set by the host process: the conductor's "trace"
        self.tell: Tell | None = None  # the same, for a report nobody waits an answer to
        self.history = Emitter(-1, host)  # set by the host process when the run records one
        self._local = threading.local()

    def arm(self, point: str, action: str) -> None:
        """A fault armed at run time (the ``fault`` step), for this process only."""
        if point not in POINTS or action not in FAULTS:
            raise ValueError(f"cannot arm '{action}' at '{point}'")
        self.faults[point] = action

    def bind(self, task: str) -> None:
        """The task the calling thread works for (reported with every trace)."""
        self._local.task = task

    @property
    def task(self) -> str:
        return getattr(self._local, "task", "")

    def record(self, kind: str, **fields: object) -> None:
        """Add a record to the run's history, for the calling thread's task."""
        self.history.emit(kind, self.task or events.PERIODIC, **fields)

    def __call__(self, point: str) -> None:
        if point not in POINTS:  # a programming error in the host, not a user's mistake
            raise KeyError(f"undeclared injection point '{point}'")
        self.history.emit("point", self.task, point=point)
        if not self.armed:
            return
        if self.traced:
            self._local.point = point  # the step a later conductor request belongs to
        if self.points_reported:
            self._trace(Event.POINT, point)
        if self.faults.get(point) == Fault.KILL:
            self._kill(point)
        seconds = self.delays.get(point, 0.0)
        if seconds > 0:
            log.info("%s: delay %.3f s", point, seconds)
            time.sleep(seconds)

    def request(self, op: str, body: dict[str, Any], send: Callable[[], Any]) -> Any:
        """A conductor request, sent (``send``) and answered. On a traced host it goes as a
        report with its body instead (the orchestrator derives its footprint from it), which
        may be held, and is served where it is released: the explorer orders every read and
        write of the shared state across hosts, a round trip each."""
        if not (self.armed and self.traced and self.task):  # a heartbeat's, or not traced
            return send()
        point = getattr(self._local, "point", "")
        call = {"op": op, "body": body, "call": True}
        # held up to the hold's timeout, then served within the request's own
        return self._trace(Event.REQUEST, point, call, serve=self.rpc_timeout)

    def await_fire(self, stop: threading.Event) -> bool:
        """The periodic thread is idle: report it and wait for the explorer to fire its timer.
        True when fired; False once the host stops. Waiting long is no error: a timer whose
        fires are spent is never fired, so a timed-out report is simply made again."""
        while not stop.is_set():
            try:
                self._trace(Event.TIMER, "")
                return not stop.is_set()
            except (HoldTimeout, RemoteError) as exc:
                log.debug("timer still idle: %s", exc)
        return False

    def lock_event(self, event: str) -> None:
        """``lock.request`` may be held (the explorer grants the lock); ``lock.wait``,
        ``lock.acquired`` and ``lock.released`` are only told (``TOLD``): the task goes on
        without a round trip, and nothing here raises."""
        self.history.emit(event, self.task)
        if not (self.armed and self.traced):
            return
        point = getattr(self._local, "point", "")
        if event not in TOLD:
            self._trace(event, point)
            return
        body = {"host": self.host, "task": self.task, "event": event, "point": point}
        if self.tell is None or not self.tell(body):
            log.warning("could not report %s: the orchestrator does not take it", event)

    def _trace(
        self,
        event: str,
        point: str = "",
        extra: dict[str, Any] | None = None,
        timeout: float | None = None,
        serve: float = 0.0,
    ) -> Any:
        """Report and wait for the answer: ``timeout`` (default: the hold's) for a hold, and
        ``serve`` more for a request the report carries to be served."""
        body = {"host": self.host, "task": self.task, "event": event, "point": point}
        body.update(extra or {})
        timeout = self.hold_timeout if timeout is None else timeout
        try:
            return self.report(body, timeout + serve)
        except RpcTimeout:
            if event != Event.TIMER:  # an idle timer simply reports again
                self._gave_up(point)
            what = point or event
            waits = self.waits_for.get(point)
            reason = f"for {', '.join(waits)} to pass" if waits else "for the orchestrator"
            raise HoldTimeout(f"{self.host}:{what} held {timeout:g} s waiting {reason}") from None

    def _gave_up(self, point: str) -> None:
        """Tell the orchestrator this task stopped waiting: a release that comes after this
        is no hold met (the host had gone on, failing)."""
        body = {"host": self.host, "task": self.task, "event": Event.GAVE_UP, "point": point}
        try:
            self.report(body, self.rpc_timeout)
        except (RpcTimeout, RemoteError):
            pass

    def _kill(self, point: str) -> None:
        # No log line here: a record half-written at SIGKILL is lost anyway. The orchestrator
        # logs the kill when this report reaches it.
        self.history.emit("fault", self.task, point=point, action="kill")
        try:  # let the orchestrator know why this host is about to vanish
            self.report(
                {"host": self.host, "task": self.task, "event": Event.KILL, "point": point},
                self.rpc_timeout,
            )
        except (RpcTimeout, RemoteError):
            pass
        os.kill(os.getpid(), signal.SIGKILL)
