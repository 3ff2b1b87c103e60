"""Conductor request round trip against a raw pyzmq ROUTER/DEALER round trip, with the client
in its own process, as a host is.

The servers run in this process, each ROUTER in its own thread: a raw echo (poll, receive,
send back) and the real ``Conductor`` on a real SQLite ``State``. A forked client process,
with its own ZeroMQ context, times ``--calls`` round trips per repetition, variants
interleaved: ``raw`` sends a payload of the same size as a heartbeat request and waits for
the echo; ``conductor`` calls ``service.heartbeat`` through ``RpcClient`` (JSON and validation
both ways, the handler, the heartbeat). Same transport, same payload size, same run.

    python benchmarks/rtt.py [--transport ipc|tcp|both] [--calls 2000] [--reps 7] [--json]

``benchmarks/bench.py`` measures the same pair with the client as a thread of the server's
process (one GIL for both sides); this is the shape the testbed runs in.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import zmq

from orchestrator.cli.options import load
from orchestrator.cluster.conductor import Conductor
from testbed import wire
from testbed.system import orchestrator_system
from testbed.transport import RpcClient, bind

HOST, PID = "bench-host", 4242
BODY = {"host": HOST, "pid": PID}
_fork = multiprocessing.get_context("fork")


def _echo(ctx: zmq.Context, sock: zmq.Socket, stop: threading.Event) -> None:
    poller = zmq.Poller()
    poller.register(sock, zmq.POLLIN)
    while not stop.is_set():
        if poller.poll(50):
            sock.send_multipart(sock.recv_multipart())
    sock.close(linger=0)


def _client(raw_ep: str, conductor_ep: str, calls: int, reps: int, out: Any) -> None:
    """The client process: its own context, both variants interleaved per repetition."""
    ctx = zmq.Context()
    payload = b"x" * len(wire.encode(wire.request("service.heartbeat", BODY)))
    dealer = ctx.socket(zmq.DEALER)
    dealer.setsockopt(zmq.LINGER, 0)
    dealer.setsockopt(zmq.RCVTIMEO, 5000)  # a dead server raises, never hangs
    dealer.connect(raw_ep)
    ours = RpcClient(ctx, conductor_ep, timeout=5.0)

    def raw() -> None:
        dealer.send(payload)
        dealer.recv()

    def conductor() -> None:
        ours.call("service.heartbeat", BODY)

    variants = {"raw": raw, "conductor": conductor}
    samples: dict[str, list[float]] = {k: [] for k in variants}
    try:
        for call in variants.values():  # warm-up
            for _ in range(max(100, calls // 5)):
                call()
        for _ in range(reps):
            for name, call in variants.items():
                start = time.perf_counter()
                for _ in range(calls):
                    call()
                samples[name].append((time.perf_counter() - start) / calls * 1e6)
        out.send({"samples": samples, "payload": len(payload)})
    except Exception as exc:  # reported to the parent, which fails the benchmark
        out.send({"error": f"{type(exc).__name__}: {exc}"})
    finally:
        dealer.close(linger=0)
        ours.close()
        ctx.term()


def measure(transport: str, calls: int, reps: int) -> dict[str, Any]:
    ctx = zmq.Context()
    ipc_dir = tempfile.mkdtemp(prefix="tb-")
    stop = threading.Event()
    raw_sock = ctx.socket(zmq.ROUTER)
    raw_sock.setsockopt(zmq.LINGER, 0)
    raw_ep = bind(raw_sock, transport, ipc_dir, "raw")
    echo = threading.Thread(target=_echo, args=(ctx, raw_sock, stop), daemon=True)
    sut = orchestrator_system("model")
    state = sut.open_store(Path(ipc_dir) / "state.sqlite")
    config = load(sets=[f"cluster.transport={transport}"])
    conductor = Conductor(ctx, state, config, ipc_dir, ops=sut.ops)
    try:
        echo.start()
        conductor.start()
        state.register(HOST, PID)  # heartbeats of the registered pid are the ones that count
        rx, tx = _fork.Pipe(duplex=False)
        proc = _fork.Process(target=_client, args=(raw_ep, conductor.endpoint, calls, reps, tx))
        proc.start()
        if not rx.poll(600):
            raise RuntimeError("the client process did not report within 600 s")
        got = rx.recv()
        proc.join(10)
        if "error" in got:
            raise RuntimeError(f"client: {got['error']}")
        if time.time() - state.services()[HOST]["last_seen"] > 60:
            raise RuntimeError("heartbeats did not reach the state")
    finally:
        stop.set()
        conductor.close()
        echo.join(2)
        state.close()
        ctx.destroy(linger=0)
        shutil.rmtree(ipc_dir, ignore_errors=True)
    samples = got["samples"]
    med = {k: statistics.median(v) for k, v in samples.items()}
    return {
        "transport": transport,
        "calls": calls,
        "reps": reps,
        "payload_bytes": got["payload"],
        "median_us": med,
        "min_us": {k: min(v) for k, v in samples.items()},
        "all_us": samples,
        "ratio_conductor_over_raw": med["conductor"] / med["raw"],
    }


def main() -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--transport", choices=["ipc", "tcp", "both"], default="both")
    p.add_argument("--calls", type=int, default=2000, help="round trips per repetition")
    p.add_argument("--reps", type=int, default=7, help="repetitions per variant")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    args = p.parse_args()
    transports = ["ipc", "tcp"] if args.transport == "both" else [args.transport]
    rows = [measure(t, args.calls, args.reps) for t in transports]
    if args.json:
        print(json.dumps({"round_trip": rows}, indent=2))
        return 0
    for r in rows:
        print(
            f"Round trip, {r['transport']}, client in its own process ({r['reps']} reps x "
            f"{r['calls']} calls, median of reps; payload {r['payload_bytes']} B)"
        )
        for key, label in (
            ("raw", "raw pyzmq DEALER/ROUTER echo"),
            ("conductor", "Conductor heartbeat"),
        ):
            print(
                f"  {label:<30} {r['median_us'][key]:>7.1f} us  (min {r['min_us'][key]:.1f})"
                f"  {r['median_us'][key] / r['median_us']['raw']:.2f}x"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
