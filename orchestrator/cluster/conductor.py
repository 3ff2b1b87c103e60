"""The conductor: the hosts' only way to the state, served on a ROUTER in its own thread.

Every operation a host may call is declared once, with the body it takes and its *footprint*:
what of the state it reads and writes (``orchestrator.cluster.footprint``). The generic ones
(services, task ends, traces) are below (``OPS``); the system under test brings its own
(``testbed.system.OrchestratorSystem.ops``), served on the run's store. The explorer learns
from those footprints which host steps can affect each other. With
``cluster.check_footprints`` each request is recorded while it is served and what it touched
is checked against its footprint (``orchestrator.cluster.accesses``).

It also serves the hold board: a traced host's report may get its reply later, when the board
releases it. Releases decided in other threads (the explorer) reach this thread through the
board's outbox and a wake-up socket, since only this thread may use the ROUTER. It must not
decide holds itself (the board's policies do), nor anything about the system under test: it
reads and writes what it is asked to.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import zmq

from orchestrator.cluster.footprint import SERVICES, TASKS, Access, writes
from orchestrator.cluster.state import State
from orchestrator.holds.board import Board
from orchestrator.holds.policy import HoldPolicy
from testbed import wire
from testbed.config import Config
from testbed.operations import Operation, Operations
from testbed.ratelimit import RateLimited
from testbed.transport import DEFER, NO_REPLY, Handler, answer, bind, send_reply, serve_one
from testbed.vocabulary import TOLD

if TYPE_CHECKING:
    from orchestrator.cluster.accesses import Watch

log = logging.getLogger("testbed.conductor")

OPS = Operations("conductor", context=("reply_to",), requires=("footprint",))


class Conductor:
    def __init__(
        self,
        ctx: zmq.Context,
        state: State,
        config: Config,
        ipc_dir: str,
        board: Board | None = None,
        ops: Operations | None = None,
    ) -> None:
        self.state = state
        self.ops = ops if ops is not None else Operations("conductor")  # the system's
        clash = set(OPS.names()) & set(self.ops.names())
        if clash:
            raise TypeError(f"conductor op '{sorted(clash)[0]}' is declared twice")
        self.board = Board(HoldPolicy(config)) if board is None else board
        self.sock = ctx.socket(zmq.ROUTER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.endpoint = bind(self.sock, config.cluster.transport, ipc_dir, "conductor")
        self.bad_frames = RateLimited(log)  # this cluster's own: another's in this process is not
        wake = f"inproc://wake-{id(self)}"
        self.wake_rx = ctx.socket(zmq.PAIR)
        self.wake_rx.bind(wake)
        self.wake_tx = ctx.socket(zmq.PAIR)
        self.wake_tx.connect(wake)
        self.wake_lock = threading.Lock()
        # called with the op of each request served (the explorer: a decision it made
        # possible is made here, and its reply sent in this same round)
        self.after: Callable[[str], None] | None = None
        self.served = ""  # the op of the request being served (this thread's)
        self.calls: dict[str, wire.Message] = {}  # held calls by message id (this thread's)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, name="conductor", daemon=True)
        self.watch: Watch | None = None  # what each request touched (cluster.check_footprints)
        if config.cluster.check_footprints:
            from orchestrator.cluster.accesses import Watch  # nothing of it loaded while off

            self.watch = Watch()
            state.watch(self.watch)

    def start(self) -> None:
        self.thread.start()

    def handle(self, msg: wire.Message, route: tuple[bytes, ...] = ()) -> Any:
        self.served = msg.op or ""
        return self._serve_request(msg, route)

    def _serve_request(self, msg: wire.Message, route: tuple[bytes, ...]) -> Any:
        if self.watch is None or msg.op == "trace":  # a trace touches no state (its call does)
            return self._dispatch(msg, route)
        op = msg.op or ""
        with self.watch.request(self.named(op, msg.body), lambda: self.footprint(op, msg.body)):
            return self._dispatch(msg, route)

    def named(self, op: str, body: dict[str, Any]) -> str:
        """What a footprint check names the request by: the op, or what its declaration's
        ``named`` makes of the body (a system whose few ops carry many calls names the call)."""
        try:
            name = self.operation(op).meta.get("named")
            return name(body) if name else op
        except Exception:  # an unknown op or a bad body: its handler refuses it
            return op

    def _dispatch(self, msg: wire.Message, route: tuple[bytes, ...]) -> Any:
        if msg.op in self.ops:
            return self.ops.call(self.state, msg.op, msg.body)
        return OPS.call(self, msg.op, msg.body, reply_to=(route, msg.id))

    def operation(self, op: str) -> Operation:
        """The declaration of ``op``, generic or the system's (``WireError`` if unknown)."""
        return self.ops.find(op) if op in self.ops else OPS.find(op)

    def footprint(self, op: str, body: dict[str, Any]) -> list[Access]:
        """What a request would read and write of the state, from its body alone."""
        return self.operation(op).meta["footprint"](body)

    def footprint_violations(self) -> list[str]:
        """Each access a request made outside its operation's footprint, one line each
        (none unless ``cluster.check_footprints``)."""
        return list(self.watch.violations) if self.watch else []

    def footprint_hints(self) -> list[str]:
        """Declared accesses no request of their operation touched (wider than needed)."""
        return self.watch.hints() if self.watch else []

    def observe(self, wrap: Callable[[Handler], Handler]) -> None:
        """Wrap the serving of every request that reaches the state (the run's history
        records each), whichever way it came in."""
        self._serve_request = wrap(self._serve_request)  # type: ignore[method-assign]

    # -- the operations, each with its footprint on the state -----------------------------
    @OPS.declare("service.register", footprint=lambda b: [writes(SERVICES, host=b["host"])])
    def service_register(self, host: str, pid: int) -> None:
        self.state.register(host, pid)

    @OPS.declare(
        "service.heartbeat", footprint=lambda b: [writes(SERVICES, "last_seen", host=b["host"])]
    )
    def service_heartbeat(self, host: str, pid: int) -> None:
        self.state.heartbeat(host, pid)

    @OPS.declare("task.done", footprint=lambda b: [writes(TASKS, id=b["task"])])
    def task_done(
        self, task: str, ok: bool, error: str | None = None, crashed: bool = False
    ) -> None:
        self.state.task_done(task, ok, error, crashed)
        self.board.on_done(task)

    @OPS.declare("trace", footprint=lambda b: [])  # the hold board's business, not the state's
    def trace(
        self,
        host: str,
        task: str,
        event: str,
        point: str,
        op: str | None = None,
        body: dict | None = None,
        call: bool = False,
        *,
        reply_to: Any,
    ) -> Any:
        """A traced host's point, lock event or conductor request (``op`` and ``body``); its
        reply is held while the board says so. A request sent with ``call`` is served here,
        when it goes on (the request and its report are one round trip), and answered with
        what it returns. A lock event the host only tells (``TOLD``) gets no answer."""
        report = {"host": host, "task": task, "event": event, "point": point}
        if op is not None:
            report |= {"op": op, "body": body or {}}
        held = self.board.on_trace(report, reply_to)
        if event in TOLD:
            return NO_REPLY
        if not call or op is None:
            return DEFER if held else None
        request = wire.Message(reply_to[1], op, body or {})
        if held:  # served once released (``_send_released``)
            self.calls[request.id] = request
            return DEFER
        return self._serve_request(request, reply_to[0])

    # -- serving ----------------------------------------------------------------------------
    def wake(self) -> None:
        """Called after something was released on the board. From this thread itself (the
        explorer deciding after a request) there is nobody to wake: the round it is in
        answers the board's outbox before its next poll."""
        if threading.current_thread() is self.thread:
            return
        with self.wake_lock:
            self.wake_tx.send(b"", zmq.NOBLOCK)

    def _send_released(self) -> None:
        """Answer every report the board released: a held call is served now, and what its
        serving lets the explorer release is answered too, before the next poll."""
        while released := self.board.take_replies():
            for route, msg_id in released:
                request = self.calls.pop(msg_id, None)
                if request is None:
                    self._send(route, msg_id, None, None)
                    continue
                self._send(route, msg_id, *answer(self._serve_request, request, route))
                self._served(request.op)

    def _served(self, op: str) -> None:
        """Tell ``after`` (the explorer) that a request was served."""
        after = self.after
        if after is not None:
            after(op)

    def _send(self, route: tuple[bytes, ...], msg_id: str, body: Any, error: str | None) -> None:
        send_reply(self.sock, route, msg_id, body, error)

    def _serve(self) -> None:
        poller = zmq.Poller()
        poller.register(self.sock, zmq.POLLIN)
        poller.register(self.wake_rx, zmq.POLLIN)
        try:
            while not self.stop.is_set():
                # One request per poll round: under load the poll returns at once, and released
                # holds are answered between any two requests.
                ready = poller.poll(50)
                with self.state.quiet():  # the waits wake once the replies have gone
                    for sock, _ in ready:
                        if sock is self.sock:
                            self.served = ""
                            serve_one(sock, self.handle, self.bad_frames)
                            self._served(self.served)
                        else:
                            while self.wake_rx.poll(0):
                                self.wake_rx.recv()
                    self._send_released()
        finally:
            self.sock.close(linger=0)
            self.wake_rx.close(linger=0)

    def close(self, timeout: float = 2.0) -> None:
        self.stop.set()
        if self.thread.is_alive():
            try:
                self.wake()  # out of its poll now, not at the next poll timeout
            except zmq.Again:  # it has just left its loop and closed the receiving end
                pass
        if self.thread.ident is not None:
            self.thread.join(timeout)
        else:  # never started: the sockets its loop closes on the way out are closed here
            self.sock.close(linger=0)
            self.wake_rx.close(linger=0)
        with self.wake_lock:
            self.wake_tx.close(linger=0)
