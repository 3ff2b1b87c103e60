"""A traced host's conductor request travels as its report (``trace`` with ``call``), so the
request and its scheduling point are one round trip: the conductor serves it where it goes on,
at once when nothing holds it, when released when held, and answers with what the operation
returns or with its error."""

from __future__ import annotations

import json

import zmq

from orchestrator.holds.explorer_policy import ExplorerPolicy
from testbed import events, wire


def _dealer(ctx: zmq.Context, endpoint: str, task: str) -> zmq.Socket:
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.IDENTITY, events.peer_identity("host1", 1, task, 0))
    sock.connect(endpoint)
    return sock


def _call(sock: zmq.Socket, task: str, op: str, body: dict) -> str:
    msg_id = wire.new_id()
    report = {"host": "host1", "task": task, "event": "request", "point": "", "op": op}
    sock.send(wire.encode_request(msg_id, "trace", report | {"body": body, "call": True}))
    return msg_id


def _reply(sock: zmq.Socket, msg_id: str, timeout_ms: int) -> wire.Message | None:
    if not sock.poll(timeout_ms):
        return None
    reply = wire.decode(sock.recv())
    assert reply.id == msg_id
    return reply


def test_a_traced_request_is_served_where_it_goes_on(make_cluster) -> None:
    cluster = make_cluster()
    ctx = zmq.Context()
    try:
        sock = _dealer(ctx, cluster.conductor.endpoint, "t1")
        # nothing holds it: served and answered at once, with the result or the error
        got = _reply(sock, _call(sock, "t1", "pci.get", {"host": "host1"}), 2000)
        assert got is not None and got.ok and [d["address"] for d in got.body]
        got = _reply(sock, _call(sock, "t1", "instance.get", {"uuid": "no-such"}), 2000)
        assert got is not None and not got.ok and "no-such" in got.error
        # held (the explorer's policy holds every request): not served until released
        policy = ExplorerPolicy(cluster.board, cluster.conductor.wake, ["host1"])
        cluster.board.install(["host1"], policy)
        msg_id = _call(sock, "t2", "pci.get", {"host": "host1"})
        assert _reply(sock, msg_id, 300) is None
        assert [t.task for t in policy.options()] == ["t2"]
        policy.release("t2")
        got = _reply(sock, msg_id, 2000)
        assert got is not None and got.ok and [d["address"] for d in got.body]
        sock.close()
    finally:
        ctx.term()
    cluster.close()
    # the history tells each as the host's request (the held one: held, then served)
    records = [json.loads(line) for line in (cluster.run_dir / "history.jsonl").open()]
    ours = [(r["kind"], r.get("call")) for r in records if r["pid"] == 1]
    assert ours == [
        ("request", "pci.get"),
        ("request", "instance.get"),
        ("held", None),
        ("request", "pci.get"),
    ], ours
