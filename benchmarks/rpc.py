"""The conductor's request round trip next to a raw pyzmq one, on the same transport, in one
run.

    python benchmarks/rpc.py [--transport ipc|tcp|both] [--calls 2000] [--reps 5] [--cpu N]

Each variant is timed for --calls round trips, --reps times, after a warm-up, the variants
interleaved per repetition (ipc in a private temporary directory; tcp on 127.0.0.1, port
picked at bind):

  raw        pyzmq DEALER send/recv <-> ROUTER echo thread, a payload the size of a heartbeat
             request envelope
  conductor  RpcClient.call("service.heartbeat") against a real Conductor and a real SQLite
             State: JSON encode and validate both ways, the handler, the heartbeat
  as_run     the same against the conductor as a run builds it: NetConductor (every link
             through Network, none faulty) observed by the run's History
  no-state   RpcClient.call("pci.get") against a ROUTER thread running serve_one with a
             handler returning None: transport and wire without SQLite

Reports the median microseconds per round trip and the ratios against raw. Every thread
shares one process (and its GIL); with several CPUs cross-core wake-ups can make the figures
bimodal, and --cpu N pins the measurement (all its threads) to one CPU.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import zmq
from common import check_cpu, cpus, parse, pinned, progress, spread

from orchestrator.cli.options import load
from orchestrator.cluster.conductor import Conductor
from orchestrator.cluster.network import NetConductor, Network
from orchestrator.history.recorder import History
from orchestrator.holds.board import Board
from orchestrator.holds.policy import OrderingPolicy
from testbed import wire
from testbed.system import orchestrator_system
from testbed.transport import RpcClient, bind, serve_one

HOST, PID = "bench-host", 4242
POLL_MS, JOIN_S = 50, 2.0
VARIANTS = {
    "raw": "raw pyzmq DEALER/ROUTER echo",
    "conductor": "ours: Conductor heartbeat (wire + state)",
    "as_run": "ours: as in a run (+ network, history)",
    "no_state": "ours: serve_one, no state (wire only)",
}


class Server:
    """A ROUTER made, bound, polled and closed in its own thread; stops on an Event."""

    def __init__(
        self,
        ctx: zmq.Context,
        transport: str,
        ipc_dir: str,
        name: str,
        serve: Callable[[zmq.Socket], None],
    ) -> None:
        self.ctx, self.transport, self.ipc_dir, self.name = ctx, transport, ipc_dir, name
        self.serve = serve
        self.stop = threading.Event()
        self.ready = threading.Event()
        self.endpoint = ""
        self.thread = threading.Thread(target=self._run, name=f"bench-{name}", daemon=True)

    def start(self) -> str:
        self.thread.start()
        if not self.ready.wait(JOIN_S) or not self.endpoint:
            raise RuntimeError(f"server '{self.name}' did not start")
        return self.endpoint

    def _run(self) -> None:
        sock = self.ctx.socket(zmq.ROUTER)
        sock.setsockopt(zmq.LINGER, 0)
        try:
            self.endpoint = bind(sock, self.transport, self.ipc_dir, self.name)
            self.ready.set()
            while not self.stop.is_set():
                if sock.poll(POLL_MS):
                    self.serve(sock)
        finally:
            self.ready.set()
            sock.close(linger=0)

    def close(self) -> bool:
        self.stop.set()
        self.thread.join(JOIN_S)
        return not self.thread.is_alive()


def _echo(sock: zmq.Socket) -> None:
    sock.send_multipart(sock.recv_multipart())


def _timed(call: Callable[[], Any], n: int) -> float:
    """Microseconds per call over ``n`` calls."""
    start = time.perf_counter()
    for _ in range(n):
        call()
    return (time.perf_counter() - start) / n * 1e6


@contextmanager
def _zmq_setup(transport: str) -> Iterator[tuple[zmq.Context, str, list[Any]]]:
    """A context, a private ipc dir and a cleanup list; everything closed in order on exit."""
    ctx = zmq.Context()
    ipc_dir = tempfile.mkdtemp(prefix="tb-")
    closers: list[Any] = []
    try:
        yield ctx, ipc_dir, closers
    finally:
        clean = True
        for close in reversed(closers):
            try:
                clean = close() is not False and clean
            except Exception as exc:  # keep closing the rest; report, don't mask the cause
                print(f"bench: WARNING: cleanup step failed: {exc!r}", file=sys.stderr)
                clean = False
        if clean:
            ctx.term()
        else:  # a thread still holds a socket: term() would block forever
            print(
                "bench: WARNING: a server thread did not stop; context left open", file=sys.stderr
            )
        shutil.rmtree(ipc_dir, ignore_errors=True)


def measure(transport: str, calls: int, reps: int, quiet: bool = False) -> dict[str, Any]:
    body = {"host": HOST, "pid": PID}
    payload = b"x" * len(wire.encode(wire.request("service.heartbeat", body)))
    with _zmq_setup(transport) as (ctx, ipc_dir, closers):
        raw_srv = Server(ctx, transport, ipc_dir, "raw-echo", _echo)
        closers.append(raw_srv.close)
        raw_ep = raw_srv.start()
        nostate_srv = Server(
            ctx, transport, ipc_dir, "no-state", lambda s: serve_one(s, lambda _msg, _route: None)
        )
        closers.append(nostate_srv.close)
        nostate_ep = nostate_srv.start()

        sut = orchestrator_system("model")
        state = sut.open_store(Path(ipc_dir) / "state.sqlite")
        closers.append(state.close)
        config = load(sets=[f"cluster.transport={transport}"])
        conductor = Conductor(ctx, state, config, ipc_dir, ops=sut.ops)
        conductor.start()

        def stop_conductor() -> bool:
            conductor.close(JOIN_S)
            return not conductor.thread.is_alive()

        closers.append(stop_conductor)

        run_dir = Path(ipc_dir) / "run"  # the as-run conductor: its own ROUTER, same state
        run_dir.mkdir()
        history = History(run_dir / "history.jsonl")
        closers.append(history.close)
        as_run = NetConductor(
            ctx,
            state,
            config,
            str(run_dir),
            Board(OrderingPolicy(config)),
            Network(config),
            sut.ops,
        )
        as_run.observe(history.conductor)
        as_run.start()

        def stop_as_run() -> bool:
            as_run.close(JOIN_S)
            return not as_run.thread.is_alive()

        closers.append(stop_as_run)

        dealer = ctx.socket(zmq.DEALER)
        dealer.setsockopt(zmq.LINGER, 0)
        dealer.setsockopt(zmq.RCVTIMEO, 5000)  # a dead echo thread raises zmq.Again, no hang
        dealer.connect(raw_ep)
        closers.append(dealer.close)
        ours = RpcClient(ctx, conductor.endpoint, timeout=5.0, identity="bench-client")
        closers.append(ours.close)
        nostate = RpcClient(ctx, nostate_ep, timeout=5.0)
        closers.append(nostate.close)
        in_run = RpcClient(ctx, as_run.endpoint, timeout=5.0, identity="bench-client")
        closers.append(in_run.close)

        def raw_call() -> None:
            dealer.send(payload)
            dealer.recv()

        variants: dict[str, Callable[[], Any]] = {
            "raw": raw_call,
            "conductor": lambda: ours.call("service.heartbeat", body),
            "as_run": lambda: in_run.call("service.heartbeat", body),
            "no_state": lambda: nostate.call("pci.get", {"host": HOST}),
        }
        ours.call("service.register", body)
        if state.services()[HOST]["pid"] != PID:
            raise RuntimeError("service.register did not reach the state")
        samples: dict[str, list[float]] = {k: [] for k in variants}
        warm = max(100, calls // 5)
        bar = progress(f"[rtt {transport}]", len(variants) * (reps + 1), quiet)
        try:
            for name, call in variants.items():
                _timed(call, warm)
                bar.step(f"warm-up {name}")
            for _ in range(reps):
                for name, call in variants.items():
                    samples[name].append(_timed(call, calls))
                    bar.step(name)
        finally:
            bar.close()
        seen = state.services()[HOST]["last_seen"]
        if not seen or time.time() - seen > 60:
            raise RuntimeError("heartbeats did not reach the state")

    stats = {k: spread(v) for k, v in samples.items()}
    med = {k: s["median"] for k, s in stats.items()}
    return {
        "transport": transport,
        "cpus": cpus(),
        "calls": calls,
        "reps": reps,
        "payload_bytes": len(payload),
        "median_us": med,
        "min_us": {k: s["min"] for k, s in stats.items()},
        "all_us": samples,
        "ratio_conductor_over_raw": med["conductor"] / med["raw"],
        "ratio_as_run_over_raw": med["as_run"] / med["raw"],
        "ratio_no_state_over_raw": med["no_state"] / med["raw"],
        "ratio_conductor_over_no_state": med["conductor"] / med["no_state"],
    }


def report(rtts: list[dict[str, Any]]) -> None:
    for r in rtts:
        print(
            f"\nRound trip, {r['transport']} ({r['reps']} reps x {r['calls']} calls, "
            f"median of reps; raw payload {r['payload_bytes']} B; CPUs {r['cpus']})"
        )
        print(f"  {'variant':<42} {'median us':>9} {'min us':>8} {'x raw':>6}")
        for key, label in VARIANTS.items():
            ratio = r["median_us"][key] / r["median_us"]["raw"]
            print(
                f"  {label:<42} {r['median_us'][key]:>9.1f} {r['min_us'][key]:>8.1f} {ratio:>5.2f}x"
            )
        print(
            f"  conductor / no-state: {r['ratio_conductor_over_no_state']:.2f}x "
            "(handler + state share)"
        )


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--calls", type=int, default=2000, help="round trips per timed repetition (default 2000)"
    )
    p.add_argument("--reps", type=int, default=5, help="repetitions per variant (default 5)")
    p.add_argument(
        "--transport",
        choices=["ipc", "tcp", "both"],
        default="both",
        help="transport for the round trips (default both)",
    )
    p.add_argument(
        "--cpu",
        type=int,
        metavar="N",
        help="pin the round-trip measurement to CPU N (default: not pinned)",
    )


def check_args(p: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if min(args.calls, args.reps) < 1:
        p.error("--calls and --reps must be >= 1")
    why = check_cpu(args.cpu)
    if why:
        p.error(why)


def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    transports = ["ipc", "tcp"] if args.transport == "both" else [args.transport]
    with pinned(args.cpu):
        return [measure(t, args.calls, args.reps, args.quiet) for t in transports]


def versions() -> dict[str, str]:
    return {"python": sys.version.split()[0], "pyzmq": zmq.__version__, "libzmq": zmq.zmq_version()}


def main(argv: list[str] | None = None) -> int:
    args = parse("rpc.py", __doc__, argv, [sys.modules[__name__]])
    rtts = run(args)
    if args.json:
        print(json.dumps(versions() | {"round_trip": {r["transport"]: r for r in rtts}}, indent=2))
    else:
        report(rtts)
    return 0


if __name__ == "__main__":
    sys.exit(main())
