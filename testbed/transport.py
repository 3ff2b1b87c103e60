"""ZeroMQ transport: ROUTER servers, DEALER clients, every call with an id and a deadline.

A socket belongs to the thread that made it. Endpoints are ``ipc://`` paths in a private
per-run directory or ``tcp://127.0.0.1`` with the port picked at bind time; never fixed.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import zmq

from testbed import secure, wire
from testbed.ratelimit import RateLimited, kind_of

log = logging.getLogger("testbed.transport")
bad_frames = RateLimited(log)  # what strangers can make us log is rate-limited
MAX_FRAME = 1 << 20  # bytes; far above any message of ours (a host's devices: a few KiB)


class RpcTimeout(Exception):
    def __init__(self, op: str, timeout: float, peer: str = "orchestrator") -> None:
        super().__init__(f"no reply from {peer} to '{op}' within {timeout:g} s")


class RemoteError(Exception):
    """The peer answered with an error."""


class Unreachable(Exception):
    """The ROUTER has no connected peer of that identity."""


def bind(sock: zmq.Socket, transport: str, ipc_dir: str, name: str) -> str:
    """Bind ``sock`` and return the endpoint peers connect to. Over tcp, where and how come
    from the socket's context when it is a ``testbed.secure.Context`` (listen address, CURVE).
    """
    sock.setsockopt(zmq.MAXMSGSIZE, MAX_FRAME)  # a bigger frame drops its sender
    if transport == "tcp":
        guard = getattr(sock.context, "guard", None)
        if guard is not None:
            guard.serve(sock)
        endpoint = _bind_tcp(sock, getattr(sock.context, "listen", ""), name)
        if guard is not None:
            guard.watch(sock, name, endpoint)
        return endpoint
    endpoint = f"ipc://{ipc_dir}/{name}"
    sock.bind(endpoint)
    return endpoint


def split_listen(listen: str) -> tuple[str, int]:
    """``tcp://ADDR:PORT`` -> (ADDR, PORT); empty -> loopback, port picked at bind."""
    if not listen:
        return "127.0.0.1", 0
    addr, _, port = listen.removeprefix("tcp://").rpartition(":")
    return addr, int(port)


def _bind_tcp(sock: zmq.Socket, listen: str, name: str) -> str:
    """The control socket takes the port of ``cluster.listen`` (the one users type); the
    others take ports picked at bind on the same address (the join file names them all)."""
    addr, port = split_listen(listen)
    if port and name == "control":
        sock.bind(f"tcp://{addr}:{port}")
    else:
        port = sock.bind_to_random_port(f"tcp://{addr}")
    shown = socket.gethostname() if addr in ("*", "0.0.0.0") else addr
    return f"tcp://{shown}:{port}"


class _Receiver:
    """Blocking receives on one socket, each bounded by a timeout in ms that is set on the
    socket only when it changes (no poll round before each reply: a receive alone wakes as
    soon as the reply is in). ``recv`` returns a message's last frame; None when it timed out.
    """

    def __init__(self, sock: zmq.Socket, recv: Callable[[], bytes]) -> None:
        self.sock, self.recv, self.wait_ms = sock, recv, -1

    def __call__(self, wait_ms: int) -> bytes | None:
        wait_ms = min(wait_ms, 2**31 - 1)  # the option is a C int: a longer wait takes turns
        if wait_ms != self.wait_ms:
            self.sock.setsockopt(zmq.RCVTIMEO, wait_ms)
            self.wait_ms = wait_ms
        try:
            return self.recv()
        except zmq.Again:
            return None


def _await_reply(msg_id: str, deadline: float, recv: _Receiver) -> wire.Message | None:
    """Receive until the reply to ``msg_id`` arrives or the deadline passes; drop stale
    replies."""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        data = recv(int(left * 1000) + 1)
        if data is None:
            continue
        try:
            got = wire.decode(data)
        except wire.WireError as exc:
            bad_frames.warning(f"reply {kind_of(str(exc))}", "dropped malformed reply: %s", exc)
            continue
        if got.id != msg_id or not got.is_reply:
            log.debug("dropped stale message %s", got.id)
            continue
        return got


def _result(got: wire.Message | None, op: str, timeout: float, peer: str) -> Any:
    if got is None:
        raise RpcTimeout(op, timeout, peer)
    if not got.ok:
        raise RemoteError(got.error)
    return got.body


class RpcClient:
    """A DEALER that sends requests and waits for their replies, one thread only."""

    def __init__(
        self,
        ctx: zmq.Context,
        endpoint: str,
        timeout: float,
        identity: str = "",
        curve: secure.Curve | None = None,
    ) -> None:
        self.timeout = timeout
        self.sock = ctx.socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        if identity:
            self.sock.setsockopt(zmq.IDENTITY, identity.encode())
        secure.client(self.sock, curve)
        self.sock.connect(endpoint)
        self.recv = _Receiver(self.sock, self.sock.recv)

    def call(
        self, op: str, body: dict[str, Any] | None = None, timeout: float | None = None
    ) -> Any:
        timeout = self.timeout if timeout is None else timeout
        msg_id = wire.new_id()
        frame = wire.encode_request(msg_id, op, body or {})
        deadline = time.monotonic() + timeout
        try:
            self.sock.send(frame, zmq.NOBLOCK)
        except zmq.Again:
            raise RpcTimeout(op, timeout) from None
        return _result(_await_reply(msg_id, deadline, self.recv), op, timeout, "orchestrator")

    def tell(self, op: str, body: dict[str, Any]) -> bool:
        """Send a request whose answer nobody waits for (the server sends none); False when
        it could not be queued (the peer is gone and the queue is full)."""
        try:
            self.sock.send(wire.encode_request(wire.new_id(), op, body), zmq.NOBLOCK)
        except zmq.Again:
            return False
        return True

    def close(self) -> None:
        self.sock.close(linger=0)


Route = tuple[bytes, ...]  # the routing frames a reply goes back with
Handler = Callable[[wire.Message, Route], Any]
DEFER = object()  # a handler's answer meaning "I will reply later with send_reply"
NO_REPLY = object()  # a handler's answer to a request told (``RpcClient.tell``): none is sent


def replied(body: Any, error: str | None) -> bool:
    """Whether a handler's answer is sent now: an error always is (to a told request it is
    dropped as stale by the sender's next call), ``DEFER`` and ``NO_REPLY`` never."""
    return error is not None or (body is not DEFER and body is not NO_REPLY)


def send_reply(
    sock: zmq.Socket, route: Route, msg_id: str, body: Any = None, error: str | None = None
) -> None:
    try:
        frame = wire.encode_reply(msg_id, body, error or None)
    except (TypeError, ValueError, RecursionError) as exc:  # a result JSON cannot carry
        frame = wire.encode_reply(msg_id, error=f"unencodable reply: {exc}")
    for part in route:  # send_multipart, without its per-frame type checks: these are bytes
        sock.send(part, zmq.SNDMORE)
    sock.send(frame)


def serve_one(sock: zmq.Socket, handler: Handler, limiter: RateLimited = bad_frames) -> None:
    """Receive one request and answer it: ``[identity, frame]`` on a ROUTER, ``[frame]`` on a
    DEALER (the routing prefix goes back unchanged).

    A malformed message (bad envelope, or a ``WireError`` from the handler's declaration: an
    unknown op, a bad body) is answered with an error when it carries an id, else dropped with
    a log line; any other handler exception becomes an error reply; a handler returning ``DEFER``
    replies later, one returning ``NO_REPLY`` never. Nothing here raises. A server gives its
    own ``limiter``, so that what a peer did to another server of this process does not hold
    back the lines it logs.
    """
    frames = sock.recv_multipart()
    route, data = tuple(frames[:-1]), frames[-1]
    peer = route[0] if route else b"orchestrator"
    if len(route) > 1:
        limiter.warning("frames", "dropped message with %d frames", len(frames))
        return
    try:
        msg = wire.decode(data)
    except wire.WireError as exc:
        limiter.warning(kind_of(str(exc)), "malformed message from %r: %s", peer[:64], exc)
        if exc.msg_id:
            send_reply(sock, route, exc.msg_id, error=str(exc))
        return
    if msg.is_reply:
        limiter.warning("reply", "dropped unexpected reply %s from %r", msg.id[:64], peer[:64])
        return
    body, error = answer(handler, msg, route, limiter)
    if replied(body, error):
        send_reply(sock, route, msg.id, body, error)


def answer(
    handler: Handler, msg: wire.Message, route: Route, limiter: RateLimited = bad_frames
) -> tuple[Any, str | None]:
    """(reply body, error) of one request: a ``WireError`` from the handler's declaration (an
    unknown op, a bad body) is logged as malformed, any other failure becomes an error reply,
    never an exception here. The body may be ``DEFER`` (the handler replies later)."""
    try:
        return handler(msg, route), None
    except wire.WireError as exc:  # an unknown op or a body its declaration refuses
        peer = route[0] if route else b"orchestrator"
        limiter.warning(kind_of(str(exc)), "malformed message from %r: %s", peer[:64], exc)
        return None, str(exc)
    except Exception as exc:  # the handler's failure goes back to the caller, not up the stack
        if not isinstance(exc, (LookupError, ValueError, RemoteError)):
            log.exception("op '%s' failed", msg.op)
        return None, f"{type(exc).__name__}: {exc}"


class RouterCaller:
    """Requests from a bound ROUTER to a connected DEALER, addressed by identity.

    Used by the orchestrator to send commands to hosts. A lock makes the socket usable from
    any thread, one call at a time (ZeroMQ allows moving a socket between threads behind a
    full memory barrier).
    """

    def __init__(self, ctx: zmq.Context, transport: str, ipc_dir: str, name: str) -> None:
        self.sock = ctx.socket(zmq.ROUTER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.setsockopt(zmq.ROUTER_MANDATORY, 1)
        self.sock.setsockopt(zmq.ROUTER_HANDOVER, 1)  # a restarted host takes its name back
        self.endpoint = bind(self.sock, transport, ipc_dir, name)
        self.lock = threading.Lock()
        self.recv = _Receiver(self.sock, lambda: self.sock.recv_multipart()[-1])

    def call(self, identity: str, op: str, body: dict[str, Any], timeout: float) -> Any:
        msg_id = wire.new_id()
        frame = wire.encode_request(msg_id, op, body)
        deadline = time.monotonic() + timeout
        with self.lock:
            while True:  # a just-started peer may not have finished its handshake yet
                try:
                    self.sock.send_multipart([identity.encode(), frame], zmq.NOBLOCK)
                    break
                except zmq.ZMQError as exc:
                    if exc.errno != zmq.EHOSTUNREACH:
                        raise
                    if time.monotonic() >= deadline:
                        raise Unreachable(f"host '{identity}' is not connected") from None
                    time.sleep(0.005)
            got = _await_reply(msg_id, deadline, self.recv)
        return _result(got, op, timeout, f"host '{identity}'")

    def close(self) -> None:
        with self.lock:
            self.sock.close(linger=0)
