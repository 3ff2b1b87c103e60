"""Unit tests of testbed.wire (the envelope format), testbed.operations (the bodies each
server declares at its handlers) and testbed.transport over real ZeroMQ sockets on ipc paths
in a private short directory. Every wait is bounded."""

import json
import os
import re
import shutil
import tempfile
import threading
import time
from pathlib import Path

import pytest
import zmq

from hosts.model.system import ModelHost
from hosts.process import COMMANDS as HOST
from orchestrator.cluster.conductor import OPS as CONDUCTOR
from orchestrator.control.commands import COMMANDS as CONTROL
from orchestrator.model.conductor import OPS as MODEL_CONDUCTOR
from testbed import wire
from testbed.operations import Operations
from testbed.transport import (
    RemoteError,
    RouterCaller,
    RpcClient,
    RpcTimeout,
    Unreachable,
    bind,
    serve_one,
)
from testbed.wire import Message, WireError, decode, encode

WAIT_MS = 5000  # bound on every poll for a message that must arrive
JOIN = 5.0  # bound on every thread join

# -- the format ------------------------------------------------------------------------------


TABLES = {
    "conductor": CONDUCTOR,
    "model conductor": MODEL_CONDUCTOR,  # the system's, served beside the generic ones
    "host": HOST,
    "model host": ModelHost.commands,
    "control": CONTROL,
}
EVERY_OP = [(server, op.name) for server, table in TABLES.items() for op in table]


def minimal_body(op):
    sample = {str: "x", int: 1, list: [], dict: {}, bool: True, float: 1.5}
    return {f.name: sample[f.type] for f in op.fields.values() if f.required}


def full_body(op):
    sample = {str: "x", int: 1, list: ["a"], dict: {"k": 1}, bool: False, float: 1.5}
    return {f.name: sample[f.type] for f in op.fields.values()}


@pytest.mark.parametrize("server, name", EVERY_OP)
def test_request_round_trip_for_every_op(server, name):
    op = TABLES[server].find(name)
    for body in (minimal_body(op), full_body(op)):
        msg = wire.request(name, body)
        assert not msg.is_reply
        again = decode(encode(msg))
        assert again == msg
        assert again.op == name and op.check(again.body) == body


def test_every_conductor_op_declares_a_footprint_and_every_host_call_is_served():
    for op in [*CONDUCTOR, *MODEL_CONDUCTOR]:
        assert callable(op.meta["footprint"]), op.name
        assert isinstance(op.meta["footprint"](full_body(op)), list)
    for table in (CONDUCTOR, MODEL_CONDUCTOR):
        with pytest.raises(TypeError, match="declares no footprint"):
            table.declare("instance.new")(lambda self, uuid: None)
    assert not set(CONDUCTOR.names()) & set(MODEL_CONDUCTOR.names())
    called = set()
    for path in (Path(__file__).parent.parent / "hosts").rglob("*.py"):
        called |= set(re.findall(r'call\(\s*"([a-z_.]+)"', path.read_text()))
    called |= {"trace", "service.heartbeat"}  # sent through their own helpers
    assert called and called <= set(CONDUCTOR.names()) | set(MODEL_CONDUCTOR.names())


def test_the_host_commands_are_the_managers_methods_and_the_process_own():
    """The model's task commands are derived from the compute manager's marked methods
    (none is a hand-written forwarder), each with the manager's own fields and a task id."""
    from hosts.model.manager import ComputeManager

    model = ModelHost.commands
    assert "evacuate" in model and "build" in model and "unshelve" in model
    assert not set(model.names()) & set(HOST.names())
    for op in model:
        assert op.handler is getattr(ComputeManager, op.handler.__name__), op.name
        assert "task" in op.fields
    assert set(model.find("evacuate").fields) == {"task", "uuid", "migration"}


def test_a_declaration_is_the_schema():
    table = Operations("test")

    @table.declare("thing.make", colour="blue")
    def make(self, name: str, size: int = 1, tags: list[str] | None = None) -> None:
        """Make a thing.

        More words."""

    op = table.find("thing.make")
    assert [(f.name, f.type, f.required) for f in op.fields.values()] == [
        ("name", str, True),
        ("size", int, False),
        ("tags", list, False),
    ]
    assert op.doc == "Make a thing." and op.meta == {"colour": "blue"}
    with pytest.raises(TypeError, match="declared twice"):
        table.declare("thing.make")(make)
    with pytest.raises(TypeError, match="has no wire type"):
        table.declare("thing.bad")(lambda self, x: None)


def test_request_ids_are_unique():
    assert wire.request("ping").id != wire.request("ping").id


def test_a_forked_child_does_not_repeat_its_parents_request_ids():
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next id, then gone without running the parent's cleanup
        os.write(write, wire.new_id().encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    child = os.read(read, 64).decode()
    os.close(read)
    assert len(child) == 32 and child[:16] != wire.new_id()[:16]


@pytest.mark.parametrize(
    "msg",
    [
        Message(id='q"\\u\u00e9', op="op\n\u2603", body={"k\u00e9": ['"', 1.5, None, True]}),
        Message(id="r", ok=True, body=[float("inf"), {"a": -1}, "\x00"]),
        Message(id="r", ok=True, body=None),
        Message(id="e", ok=False, error='bad "thing" \u00e9'),
    ],
)
def test_an_envelope_is_the_bytes_json_writes_for_it(msg):
    doc = {"v": 1, "id": msg.id}
    if msg.is_reply:
        doc |= {"ok": msg.ok, **({"body": msg.body} if msg.ok else {"error": msg.error})}
    else:
        doc |= {"op": msg.op, "body": msg.body}
    assert encode(msg) == json.dumps(doc, separators=(",", ":")).encode()


def test_encoded_request_is_the_documented_envelope():
    msg = wire.request("instance.get", {"uuid": "u1"})
    assert json.loads(encode(msg)) == {
        "v": 1,
        "id": msg.id,
        "op": "instance.get",
        "body": {"uuid": "u1"},
    }


@pytest.mark.parametrize("body", [None, 0, "text", [1, {"a": None}], {"nested": {"x": [1.5]}}])
def test_ok_reply_round_trip(body):
    to = wire.request("ping")
    msg = wire.reply(to, body=body)
    assert msg.is_reply and msg.ok is True and msg.id == to.id
    again = decode(encode(msg))
    assert again == msg
    assert again.body == body
    assert json.loads(encode(msg)) == {"v": 1, "id": to.id, "ok": True, "body": body}


def test_error_reply_round_trip():
    to = wire.request("ping")
    msg = wire.reply(to, error="LookupError: no such server")
    again = decode(encode(msg))
    assert again == msg
    assert again.is_reply and again.ok is False
    assert again.error == "LookupError: no such server"
    assert decode(encode(wire.error_reply("abc", "bad"))) == Message(
        id="abc", ok=False, error="bad"
    )


def check(op, body, table=None):
    """A body as the server that declares ``op`` checks it before its handler runs."""
    if table is None:
        table = MODEL_CONDUCTOR if op in MODEL_CONDUCTOR else CONDUCTOR
    return table.find(op).check(body)


def test_a_server_refuses_an_unknown_op_or_a_bad_body():
    with pytest.raises(WireError, match="unknown op 'nope'"):
        check("nope", {})
    with pytest.raises(WireError, match="missing field 'uuid'"):
        check("instance.get", {})


def test_request_without_body_defaults_to_empty_object():
    assert decode(b'{"v":1,"id":"a","op":"ping"}') == Message(id="a", op="ping", body={})


def doc(**fields):
    return json.dumps({"v": 1, "id": "m1", **fields}).encode()


@pytest.mark.parametrize(
    "data", [b"", b"\x00\xff\xfe garbage", b"{not json", b'{"v": 1, "id": ', b"\xff"]
)
def test_decode_rejects_non_json(data):
    with pytest.raises(WireError, match="not a JSON document") as err:
        decode(data)
    assert err.value.msg_id is None


@pytest.mark.parametrize("data", [b"[1, 2]", b'"text"', b"3", b"null", b"true"])
def test_decode_rejects_non_objects(data):
    with pytest.raises(WireError, match="not a JSON object") as err:
        decode(data)
    assert err.value.msg_id is None


@pytest.mark.parametrize(
    "data",
    [
        b'{"v": 1, "op": "ping"}',
        b'{"v": 1, "id": "", "op": "ping"}',
        b'{"v": 1, "id": 5, "op": "ping"}',
        b'{"v": 1, "id": null, "op": "ping"}',
    ],
)
def test_decode_rejects_a_missing_id(data):
    with pytest.raises(WireError, match="missing message id") as err:
        decode(data)
    assert err.value.msg_id is None  # no id: no reply is possible


@pytest.mark.parametrize("version", [2, 0, "1", None])
def test_decode_rejects_a_wrong_version_with_the_id_set(version):
    data = json.dumps({"v": version, "id": "m1", "op": "ping"}).encode()
    with pytest.raises(WireError, match="unsupported version") as err:
        decode(data)
    assert err.value.msg_id == "m1"


def test_decode_rejects_a_missing_version_with_the_id_set():
    with pytest.raises(WireError, match="unsupported version None") as err:
        decode(b'{"id": "m1", "op": "ping"}')
    assert err.value.msg_id == "m1"


def test_decode_rejects_true_as_version():
    with pytest.raises(WireError, match="unsupported version"):
        decode(b'{"v": true, "id": "m1", "op": "ping"}')


def test_decode_leaves_the_op_to_the_server():
    assert decode(doc(op="reboot")) == Message(id="m1", op="reboot", body={})


def test_decode_rejects_a_request_without_op():
    with pytest.raises(WireError, match="request without 'op'") as err:
        decode(doc(body={}))
    assert err.value.msg_id == "m1"
    with pytest.raises(WireError, match="request without 'op'"):
        decode(doc(op=3))


@pytest.mark.parametrize(
    "op, body, message",
    [
        ("instance.get", {}, "missing field 'uuid'"),
        ("evacuate", {"task": "t", "uuid": "u"}, "missing field 'migration'"),
        ("evacuate", {"uuid": "u", "migration": 1}, "missing field 'task'"),
        ("service.register", {"host": "h"}, "missing field 'pid'"),
    ],
)
def test_a_server_refuses_a_missing_required_field(op, body, message):
    with pytest.raises(WireError, match=message):
        check(op, body, ModelHost.commands if op == "evacuate" else None)


@pytest.mark.parametrize(
    "op, body, field",
    [
        ("instance.get", {"uuid": 3}, "uuid"),
        ("service.register", {"host": "h", "pid": "12"}, "pid"),
        ("service.register", {"host": "h", "pid": 1.5}, "pid"),
        ("pci.save", {"host": "h", "devices": {}}, "devices"),
        ("instance.save", {"uuid": "u", "updates": []}, "updates"),
        ("migration.query", {"in_progress": 1}, "in_progress"),
        ("task.done", {"task": "t", "ok": "yes"}, "ok"),
        ("migration.query", {"host": None}, "host"),
    ],
)
def test_a_server_refuses_a_wrong_field_type(op, body, field):
    with pytest.raises(WireError, match=f"field '{field}' has the wrong type"):
        check(op, body)


@pytest.mark.parametrize(
    "op, body, field",
    [
        ("service.register", {"host": "h", "pid": True}, "pid"),
        ("migration.get", {"id": False}, "id"),
        ("evacuate", {"task": "t", "uuid": "u", "migration": True}, "migration"),
    ],
)
def test_a_server_refuses_a_bool_where_an_int_is_expected(op, body, field):
    with pytest.raises(WireError, match=f"field '{field}' has the wrong type"):
        check(op, body, ModelHost.commands if op == "evacuate" else None)


def test_a_server_refuses_an_unknown_field():
    with pytest.raises(WireError, match="op 'ping': unknown field 'extra'"):
        check("ping", {"extra": 1}, HOST)
    with pytest.raises(WireError, match="unknown field 'a'"):
        check("instance.get", {"uuid": "u", "b": 1, "a": 2})


def test_decode_rejects_a_body_that_is_not_an_object():
    with pytest.raises(WireError, match="body must be an object") as err:
        decode(doc(op="ping", body=[]))
    assert err.value.msg_id == "m1"


def test_decode_rejects_a_reply_with_a_non_bool_ok():
    with pytest.raises(WireError, match="'ok' must be true or false") as err:
        decode(doc(ok=1))
    assert err.value.msg_id == "m1"


def test_decode_error_reply_without_error_text():
    assert decode(doc(ok=False)) == Message(id="m1", ok=False, error="error")


def test_decode_rejects_deeply_nested_json():
    with pytest.raises(WireError):
        decode(b"[" * 100_000)


def test_decode_rejects_an_overlong_integer():
    with pytest.raises(WireError):
        decode(b'{"v": 1, "id": "m1", "op": "ping", "body": {"x": ' + b"1" * 5000 + b"}}")


# -- real sockets ----------------------------------------------------------------------------


@pytest.fixture
def ipc_dir():
    path = tempfile.mkdtemp(prefix="tb-")
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def ctx():
    context = zmq.Context()
    try:
        yield context
    finally:
        context.destroy(linger=0)


def endpoint_in(ipc_dir, name):
    endpoint = f"ipc://{ipc_dir}/{name}"
    assert len(endpoint) < 100, endpoint
    return endpoint


ECHO = Operations("echo")  # a server's table, as the conductor and the hosts declare theirs


@ECHO.declare("ping")
def _ping(server):
    return {"op": "ping", "body": {}}


@ECHO.declare("instance.get")
def _instance_get(server, uuid: str):
    if uuid == "boom":
        raise ValueError("boom")
    return {"op": "instance.get", "body": {"uuid": uuid}}


def echo(msg, route=()):
    return ECHO.call(None, msg.op, msg.body)


class Server:
    """A ROUTER made, bound and served by serve_one in its own thread, until stopped."""

    def __init__(self, ctx, endpoint, handler=echo):
        self.ctx, self.endpoint, self.handler = ctx, endpoint, handler
        self.stop, self.ready = threading.Event(), threading.Event()
        self.errors, self.served = [], 0
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        sock = self.ctx.socket(zmq.ROUTER)
        sock.setsockopt(zmq.LINGER, 0)
        try:
            sock.bind(self.endpoint)
            self.ready.set()
            while not self.stop.is_set():
                if sock.poll(20):
                    serve_one(sock, self.handler)
                    self.served += 1
        except BaseException as exc:
            self.errors.append(exc)
        finally:
            sock.close(linger=0)

    def __enter__(self):
        self.thread.start()
        assert self.ready.wait(JOIN)
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(JOIN)
        assert not self.thread.is_alive()


def dealer(ctx, endpoint):
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(endpoint)
    return sock


def recv_json(sock):
    assert sock.poll(WAIT_MS), "no reply within the bound"
    return json.loads(sock.recv())


def test_server_survives_malformed_messages(ctx, ipc_dir):
    endpoint = endpoint_in(ipc_dir, "srv")
    with Server(ctx, endpoint) as server:
        raw = dealer(ctx, endpoint)
        # dropped without a reply: no id, so nobody to answer
        raw.send(b"\x00\xff garbage \xfe")
        raw.send(b'{"v": 1, "op": "ping"}')  # JSON without id
        raw.send(b"[1, 2, 3]")
        raw.send(b"")
        # a well-formed request split over two frames: dropped, never answered
        raw.send_multipart([encode(Message(id="multi", op="ping")), b"extra frame"])
        # answered with an error carrying the same id
        raw.send(b'{"v": 1, "id": "u1", "op": "reboot", "body": {}}')
        # replies come back in order: the first one is u1's, so nothing before got one
        first = recv_json(raw)
        assert first == {"v": 1, "id": "u1", "ok": False, "error": "unknown op 'reboot'"}

        raw.send(b'{"v": 9, "id": "v9", "op": "ping"}')
        assert recv_json(raw) == {
            "v": 1,
            "id": "v9",
            "ok": False,
            "error": "unsupported version 9 (expected 1)",
        }
        raw.send(doc(op="instance.get", body={"uuid": True}))
        got = recv_json(raw)
        assert got["id"] == "m1" and got["ok"] is False
        assert "field 'uuid' has the wrong type" in got["error"]
        # a reply sent to a server is dropped
        raw.send(encode(wire.error_reply("r1", "x")))

        # a valid request still gets its reply: the server survived
        client = RpcClient(ctx, endpoint, timeout=5.0)
        try:
            assert client.call("instance.get", {"uuid": "u7"}) == {
                "op": "instance.get",
                "body": {"uuid": "u7"},
            }
            assert client.call("ping") == {"op": "ping", "body": {}}
            # a handler's exception comes back as an error reply
            with pytest.raises(RemoteError, match="ValueError: boom"):
                client.call("instance.get", {"uuid": "boom"})
            assert client.call("ping") == {"op": "ping", "body": {}}
        finally:
            client.close()
        assert raw.poll(100) == 0  # nothing more came back for the raw DEALER
        raw.close()
        assert server.thread.is_alive()
    assert server.errors == []
    assert server.served == 13  # every message reached serve_one, none stopped the loop


def test_rpc_client_times_out_when_nobody_answers(ctx, ipc_dir):
    endpoint = endpoint_in(ipc_dir, "silent")
    router = ctx.socket(zmq.ROUTER)  # bound, never read
    router.setsockopt(zmq.LINGER, 0)
    router.bind(endpoint)
    client = RpcClient(ctx, endpoint, timeout=0.3)
    try:
        start = time.monotonic()
        with pytest.raises(RpcTimeout, match=r"no reply from orchestrator to 'ping' within 0.3 s"):
            client.call("ping")
        elapsed = time.monotonic() - start
        assert 0.3 <= elapsed < 3.0
        start = time.monotonic()
        with pytest.raises(RpcTimeout, match=r"within 0.1 s"):
            client.call("ping", timeout=0.1)
        assert time.monotonic() - start < 3.0
    finally:
        client.close()
    assert router.poll(WAIT_MS)  # the requests did arrive; nobody answered them
    router.close()


def test_rpc_client_times_out_when_nothing_is_bound(ctx, ipc_dir):
    client = RpcClient(ctx, endpoint_in(ipc_dir, "nobody"), timeout=0.2)
    try:
        start = time.monotonic()
        with pytest.raises(RpcTimeout):
            client.call("ping")
        assert time.monotonic() - start < 3.0
    finally:
        client.close()


def test_rpc_client_skips_stale_and_malformed_replies(ctx, ipc_dir):
    endpoint = endpoint_in(ipc_dir, "stale")
    ready, errors = threading.Event(), []

    def serve():
        sock = ctx.socket(zmq.ROUTER)
        sock.setsockopt(zmq.LINGER, 0)
        try:
            sock.bind(endpoint)
            ready.set()
            assert sock.poll(WAIT_MS)
            ident, data = sock.recv_multipart()
            msg = decode(data)
            sock.send_multipart([ident, encode(wire.error_reply("old-id", "stale"))])
            sock.send_multipart([ident, b"garbage"])
            sock.send_multipart([ident, encode(wire.request("ping"))])  # not a reply
            sock.send_multipart([ident, encode(wire.reply(msg, body="the answer"))])
        except BaseException as exc:
            errors.append(exc)
        finally:
            sock.close(linger=0)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert ready.wait(JOIN)
    client = RpcClient(ctx, endpoint, timeout=5.0)
    try:
        assert client.call("ping") == "the answer"
    finally:
        client.close()
    thread.join(JOIN)
    assert not thread.is_alive()
    assert errors == []


def test_router_caller_reaches_a_dealer_by_identity(ctx, ipc_dir):
    caller = RouterCaller(ctx, "ipc", ipc_dir, "commands")
    assert caller.endpoint == endpoint_in(ipc_dir, "commands")
    host = ctx.socket(zmq.DEALER)
    host.setsockopt(zmq.LINGER, 0)
    host.setsockopt(zmq.IDENTITY, b"host1")
    host.connect(caller.endpoint)
    stop, errors = threading.Event(), []

    def serve():
        try:
            while not stop.is_set():
                if host.poll(20):
                    serve_one(host, echo)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        body = {"uuid": "u1"}
        assert caller.call("host1", "instance.get", body, timeout=5.0) == {
            "op": "instance.get",
            "body": body,
        }
        with pytest.raises(Unreachable, match="host 'host9' is not connected"):
            caller.call("host9", "ping", {}, timeout=0.2)
    finally:
        stop.set()
        thread.join(JOIN)
        host.close()
        caller.close()
    assert not thread.is_alive()
    assert errors == []


def test_bind_tcp_picks_a_port(ctx, ipc_dir):
    sock = ctx.socket(zmq.ROUTER)
    sock.setsockopt(zmq.LINGER, 0)
    try:
        endpoint = bind(sock, "tcp", ipc_dir, "x")
        assert endpoint.startswith("tcp://127.0.0.1:")
        assert int(endpoint.rsplit(":", 1)[1]) > 0
    finally:
        sock.close()


def _serve_once(router, handler=echo):
    assert router.poll(WAIT_MS)
    serve_one(router, handler)


def test_serve_one_survives_deeply_nested_json(ctx, ipc_dir):
    endpoint = endpoint_in(ipc_dir, "deep")
    router = ctx.socket(zmq.ROUTER)
    router.setsockopt(zmq.LINGER, 0)
    router.bind(endpoint)
    raw = dealer(ctx, endpoint)
    raw.send(b"[" * 100_000)
    _serve_once(router)  # must drop it with a log line, not raise
    raw.send(encode(Message(id="p1", op="ping")))
    _serve_once(router)
    assert recv_json(raw)["id"] == "p1"


def test_serve_one_answers_an_unencodable_result_with_an_error(ctx, ipc_dir):
    endpoint = endpoint_in(ipc_dir, "unenc")
    router = ctx.socket(zmq.ROUTER)
    router.setsockopt(zmq.LINGER, 0)
    router.bind(endpoint)
    raw = dealer(ctx, endpoint)
    raw.send(encode(Message(id="s1", op="ping")))
    _serve_once(router, lambda msg, route: {1, 2})
    got = recv_json(raw)
    assert got["id"] == "s1" and got["ok"] is False
