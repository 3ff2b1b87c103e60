"""ZeroMQ CURVE for tcp: the cluster's key pair, the client keys it issues, and the guard that
refuses every other peer with one (rate-limited) log line.

The orchestrator's listening sockets are CURVE servers when they are made from a
``ClusterContext`` carrying a ``Guard`` (``testbed.transport.bind`` asks the context); a
client socket (a host's, a control client's) is made a CURVE client with ``client``. A key is
z85 text. Nothing here is sent in the clear: the join file holding client secrets is written
mode 0600 (``testbed.join_document``).
"""

from __future__ import annotations

import logging
import os
import queue
import socket
import threading
from dataclasses import dataclass, field

import zmq

from testbed.ratelimit import RateLimited

log = logging.getLogger("testbed.secure")
refused = RateLimited(log)
DOMAIN = "testbed"  # the ZAP domain of every CURVE server of ours

_EVENTS = (
    zmq.EVENT_ACCEPTED
    | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL
    | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
    | zmq.EVENT_MONITOR_STOPPED
)


@dataclass(frozen=True)
class Curve:
    """What a client needs: the server's public key and its own issued key pair."""

    server: str
    public: str
    secret: str

    def to_dict(self) -> dict[str, str]:
        return {"server": self.server, "public": self.public, "secret": self.secret}


@dataclass
class ClusterKeys:
    """The orchestrator's key pair (one per cluster) and every client key it issued."""

    public: str
    secret: str
    issued: dict[str, Curve] = field(default_factory=dict)  # role -> the client's keys

    @classmethod
    def generate(cls) -> ClusterKeys:
        public, secret = zmq.curve_keypair()
        return cls(public.decode(), secret.decode())

    def issue(self, role: str) -> Curve:
        """A client key pair for ``role`` (made once per role and cluster)."""
        if role not in self.issued:
            public, secret = zmq.curve_keypair()
            self.issued[role] = Curve(self.public, public.decode(), secret.decode())
        return self.issued[role]

    def knows(self, public: str) -> bool:
        return any(c.public == public for c in self.issued.values())


class Context(zmq.Context):
    """The orchestrator's context: where its listening sockets bind (``cluster.listen``) and,
    with CURVE, the guard that makes them CURVE servers. ``testbed.transport.bind`` reads both
    from the socket's context, so the sockets' owners need not know about either."""

    listen: str = ""
    guard: Guard | None = None


def client(sock: zmq.Socket, curve: Curve | None) -> None:
    """Make ``sock`` a CURVE client of the cluster (before it connects); no-op without keys."""
    if curve is not None:
        sock.curve_serverkey = curve.server.encode()
        sock.curve_publickey = curve.public.encode()
        sock.curve_secretkey = curve.secret.encode()


class Guard:
    """Authenticates peers of the cluster's CURVE servers: a ZAP handler that accepts only
    issued keys, and a monitor of each server socket that names peers refused before ZAP
    (no CURVE at all, or garbage instead of a handshake)."""

    def __init__(self, ctx: zmq.Context, keys: ClusterKeys) -> None:
        from zmq.auth.thread import ThreadAuthenticator  # an asyncio loop: orchestrator only

        self.keys = keys
        self.auth = ThreadAuthenticator(ctx, log=logging.getLogger("testbed.secure.zap"))
        self.auth.start()
        self.auth.configure_curve_callback(DOMAIN, credentials_provider=self)
        self.inbox: queue.Queue[tuple[zmq.Socket, str, str]] = queue.Queue()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._watch, name="curve-guard", daemon=True)
        self.thread.start()

    def callback(self, domain: str, key: bytes) -> bool:
        """ZAP: is this client key one we issued?"""
        text = key.decode("ascii", "replace")
        if self.keys.knows(text):
            return True
        refused.warning(
            f"key {text}", "refused a peer with key %s...: not issued by this cluster", text[:12]
        )
        return False

    def serve(self, sock: zmq.Socket) -> None:
        """Make ``sock`` a CURVE server (before it binds); ``watch`` it once bound."""
        sock.curve_secretkey = self.keys.secret.encode()
        sock.curve_publickey = self.keys.public.encode()
        sock.curve_server = True
        sock.zap_domain = DOMAIN.encode()

    def watch(self, sock: zmq.Socket, name: str, endpoint: str) -> None:
        # The monitor's PAIR is made here and handed to the guard's thread through the queue
        # (a full memory barrier); this thread never touches it again.
        self.inbox.put((sock.get_monitor_socket(_EVENTS), name, endpoint))

    def _watch(self) -> None:
        # here, not at the top: it pulls in asyncio, which only the orchestrator's guard needs
        from zmq.utils.monitor import recv_monitor_message

        poller, names, last_peer = zmq.Poller(), {}, {}
        try:
            while not self.stop.is_set():
                while not self.inbox.empty():
                    mon, name, endpoint = self.inbox.get()
                    names[mon] = (name, endpoint)
                    poller.register(mon, zmq.POLLIN)
                for mon, _ in poller.poll(100):
                    event = recv_monitor_message(mon)
                    name, endpoint = names[mon]
                    if event["event"] == zmq.EVENT_MONITOR_STOPPED:
                        poller.unregister(mon)
                        mon.close(linger=0)
                        del names[mon]
                    elif event["event"] == zmq.EVENT_ACCEPTED:
                        last_peer[mon] = _peer(event["value"])
                    else:
                        peer = last_peer.get(mon, "?")
                        refused.warning(
                            f"{name} {peer.rsplit(':', 1)[0]}",
                            "refused a peer %s on the %s socket (%s): no CURVE handshake "
                            "with this cluster's keys",
                            peer,
                            name,
                            endpoint,
                        )
        finally:
            for mon in names:
                mon.close(linger=0)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(1.0)
        self.auth.stop()


def _peer(fd: int) -> str:
    """``ADDR:PORT`` of an accepted connection, if it is still open."""
    try:
        with socket.socket(fileno=os.dup(fd)) as s:
            host, port = s.getpeername()[:2]
            return f"{host}:{port}"
    except OSError:
        return "?"
