"""Benchmark the testbed: the main job's wall time and the conductor's request round trip.

Run ``python benchmarks/bench.py --help`` for what is measured and how.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import zmq

from orchestrator.conductor import Conductor
from orchestrator.state import State
from testbed import wire
from testbed.config import load
from testbed.transport import RpcClient, bind, serve_one

# Nova's own regression test for the bug (nova/tests/functional/regressions/
# test_bug_1896463.py), Nova 34.0.0, run as a functional test on a 2-core machine: about 13 s.
# A quoted figure, never measured by this benchmark.
NOVA_TEST_SECONDS = 13.0
NOVA_TEST_SOURCE = (
    "Nova 34.0.0, functional test test_bug_1896463 on a 2-core machine; quoted, not measured here"
)
EXPECTED_EXIT = {"fixed": 0, "buggy": 1}
HOST, PID = "bench-host", 4242
POLL_MS, JOIN_S = 50, 2.0

DESCRIPTION = """\
Measures, in one run:

1. Main job wall time: `testbed run --tracker fixed` and `testbed run --tracker buggy`, each
   run --runs times as a subprocess (interpreter start-up included), after --warmup-runs
   untimed runs. Exit codes must be 0 (fixed) and 1 (buggy), else the benchmark fails with
   exit 1. Prints median/min/max wall seconds, the scenario's own reported duration, and the
   ratio against Nova's regression test for the bug (~13 s: Nova 34.0.0's functional test
   test_bug_1896463 on a 2-core machine; quoted, NOT measured here).
   Run directories go to a private temp dir that is removed afterwards.

2. Request round trip over the same transport (ipc in a private temp dir, and/or tcp on
   127.0.0.1 with a random port), each timed for --calls round trips, --reps repetitions,
   after a warm-up, variants interleaved per repetition:
     raw        pyzmq DEALER send/recv <-> ROUTER echo thread, payload of the same size as a
                heartbeat request envelope
     conductor  RpcClient.call("service.heartbeat") against a real Conductor and a real
                SQLite State: JSON encode/validate both ways + one SQLite UPDATE
     no-state   RpcClient.call("pci.get") against a ROUTER thread running serve_one with a
                handler returning None: transport + wire overhead without SQLite
   Reports the median microseconds per round trip and the ratios against raw.
   All threads share one process (and its GIL). With several CPUs, cross-core wake-ups can
   make the figures bimodal; --cpu N pins this part (all its threads) to one CPU.

Progress goes to stderr; the summary (or with --json one JSON object) to stdout.
"""


class Progress:
    """A one-line progress indicator on stderr (plain lines when stderr is not a terminal)."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.tty = sys.stderr.isatty()

    def show(self, text: str) -> None:
        if not self.enabled:
            return
        if self.tty:
            sys.stderr.write(f"\r\x1b[K{text}")
        else:
            sys.stderr.write(f"{text}\n")
        sys.stderr.flush()

    def done(self) -> None:
        if self.enabled and self.tty:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()


# -- 1. wall time of the main job -------------------------------------------------------------


class Mismatch(Exception):
    """A testbed run exited with an unexpected code."""


def testbed_command() -> list[str]:
    """The console script of this interpreter (no pyenv shim), else PATH, else ``-c``."""
    script = Path(sysconfig.get_path("scripts")) / "testbed"
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    found = shutil.which("testbed")
    if found:
        return [found]
    return [sys.executable, "-m", "orchestrator.cli"]


def time_run(cmd: list[str], tracker: str, run_dir: str, timeout: float) -> dict[str, Any]:
    """Run the main job once; return wall seconds, exit code, reported duration and output."""
    argv = [*cmd, "run", "--tracker", tracker, "--json", "--run-dir", run_dir]
    start = time.perf_counter()
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        code, out, err = proc.returncode, proc.stdout, proc.stderr
    except subprocess.TimeoutExpired as exc:
        code, out, err = None, str(exc.stdout or ""), f"timed out after {timeout:g} s"
    wall = time.perf_counter() - start
    try:
        reported = float(json.loads(out)["duration"])
    except (ValueError, KeyError, TypeError):
        reported = None
    return {"wall": wall, "code": code, "reported": reported, "stdout": out, "stderr": err}


def bench_job(runs: int, warmup: int, timeout: float, progress: Progress) -> dict[str, Any]:
    cmd = testbed_command()
    base = tempfile.mkdtemp(prefix="tb-")
    results: dict[str, Any] = {"command": cmd, "runs": runs, "warmup_runs": warmup}
    try:
        for tracker, expected in EXPECTED_EXIT.items():
            walls, reported = [], []
            for i in range(warmup + runs):
                label = "warm-up" if i < warmup else f"run {i - warmup + 1}/{runs}"
                progress.show(f"[job] testbed run --tracker {tracker}: {label}")
                r = time_run(cmd, tracker, base, timeout)
                if r["code"] != expected:
                    raise Mismatch(
                        f"\n!!! EXIT CODE MISMATCH: `testbed run --tracker {tracker}` exited "
                        f"{r['code']}, expected {expected}\n--- stdout ---\n{r['stdout'][-2000:]}"
                        f"\n--- stderr ---\n{r['stderr'][-2000:]}\n"
                    )
                if i >= warmup:
                    walls.append(r["wall"])
                    if r["reported"] is not None:
                        reported.append(r["reported"])
            med = statistics.median(walls)
            results[tracker] = {
                "exit_code": expected,
                "wall_median_s": med,
                "wall_min_s": min(walls),
                "wall_max_s": max(walls),
                "wall_all_s": walls,
                "reported_duration_median_s": statistics.median(reported) if reported else None,
                "nova_test_s_quoted": NOVA_TEST_SECONDS,
                "nova_over_ours": NOVA_TEST_SECONDS / med,
            }
    finally:
        shutil.rmtree(base, ignore_errors=True)
    return results


# -- 2. round trips -------------------------------------------------------------------------


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
def pinned(cpu: int | None) -> Iterator[None]:
    """Pin the calling thread, and the threads it starts meanwhile, to ``cpu``."""
    if cpu is None:
        yield
        return
    if not hasattr(os, "sched_setaffinity"):
        raise SystemExit("bench: --cpu needs os.sched_setaffinity (Linux)")
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {cpu})
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


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


def bench_rtt(transport: str, calls: int, reps: int, progress: Progress) -> dict[str, Any]:
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

        state = State(Path(ipc_dir) / "state.sqlite")
        closers.append(state.close)
        config = load(sets=[f"cluster.transport={transport}"])
        conductor = Conductor(ctx, state, config, ipc_dir)
        conductor.start()

        def stop_conductor() -> bool:
            conductor.close(JOIN_S)
            return not conductor.thread.is_alive()

        closers.append(stop_conductor)

        dealer = ctx.socket(zmq.DEALER)
        dealer.setsockopt(zmq.LINGER, 0)
        dealer.setsockopt(zmq.RCVTIMEO, 5000)  # a dead echo thread raises zmq.Again, no hang
        dealer.connect(raw_ep)
        closers.append(dealer.close)
        ours = RpcClient(ctx, conductor.endpoint, timeout=5.0, identity="bench-client")
        closers.append(ours.close)
        nostate = RpcClient(ctx, nostate_ep, timeout=5.0)
        closers.append(nostate.close)

        def raw_call() -> None:
            dealer.send(payload)
            dealer.recv()

        variants: dict[str, Callable[[], Any]] = {
            "raw": raw_call,
            "conductor": lambda: ours.call("service.heartbeat", body),
            "no_state": lambda: nostate.call("pci.get", {"host": HOST}),
        }
        ours.call("service.register", body)
        if state.services()[HOST]["pid"] != PID:
            raise RuntimeError("service.register did not reach the state")
        samples: dict[str, list[float]] = {k: [] for k in variants}
        warm = max(100, calls // 5)
        for name, call in variants.items():
            progress.show(f"[rtt {transport}] warm-up {name} ({warm} calls)")
            _timed(call, warm)
        for rep in range(reps):
            for name, call in variants.items():
                progress.show(f"[rtt {transport}] rep {rep + 1}/{reps}: {name} ({calls} calls)")
                samples[name].append(_timed(call, calls))
        seen = state.services()[HOST]["last_seen"]
        if not seen or time.time() - seen > 60:
            raise RuntimeError("heartbeats did not reach the state")

    med = {k: statistics.median(v) for k, v in samples.items()}
    return {
        "transport": transport,
        "cpus": sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "calls": calls,
        "reps": reps,
        "payload_bytes": len(payload),
        "median_us": med,
        "min_us": {k: min(v) for k, v in samples.items()},
        "all_us": samples,
        "ratio_conductor_over_raw": med["conductor"] / med["raw"],
        "ratio_no_state_over_raw": med["no_state"] / med["raw"],
        "ratio_conductor_over_no_state": med["conductor"] / med["no_state"],
    }


# -- output ---------------------------------------------------------------------------------


def print_summary(job: dict[str, Any] | None, rtts: list[dict[str, Any]]) -> None:
    if job is not None:
        print(
            f"Main job wall time ({job['runs']} runs each after {job['warmup_runs']} warm-up; "
            f"{' '.join(job['command'][:1])})"
        )
        print(
            f"  {'tracker':<8} {'exit':>4} {'median s':>9} {'min s':>7} {'max s':>7} "
            f"{'reported s':>10} {'13 s / median':>13}"
        )
        for tracker in EXPECTED_EXIT:
            r = job[tracker]
            rep = r["reported_duration_median_s"]
            print(
                f"  {tracker:<8} {r['exit_code']:>4} {r['wall_median_s']:>9.3f} "
                f"{r['wall_min_s']:>7.3f} {r['wall_max_s']:>7.3f} "
                f"{(f'{rep:.3f}' if rep is not None else '-'):>10} "
                f"{r['nova_over_ours']:>12.1f}x"
            )
        print(
            f"  Nova's regression test for this bug: ~{NOVA_TEST_SECONDS:g} s ({NOVA_TEST_SOURCE})"
        )
        print("  'reported s' = the scenario's own duration from --json (no interpreter start-up)")
    for r in rtts:
        print(
            f"\nRound trip, {r['transport']} ({r['reps']} reps x {r['calls']} calls, "
            f"median of reps; raw payload {r['payload_bytes']} B; CPUs {r['cpus']})"
        )
        print(f"  {'variant':<42} {'median us':>9} {'min us':>8} {'x raw':>6}")
        rows = [
            ("raw pyzmq DEALER/ROUTER echo", "raw"),
            ("ours: Conductor heartbeat (wire + SQLite)", "conductor"),
            ("ours: serve_one, no state (wire only)", "no_state"),
        ]
        for label, key in rows:
            ratio = r["median_us"][key] / r["median_us"]["raw"]
            print(
                f"  {label:<42} {r['median_us'][key]:>9.1f} {r['min_us'][key]:>8.1f} {ratio:>5.2f}x"
            )
        print(
            f"  conductor / no-state: {r['ratio_conductor_over_no_state']:.2f}x "
            "(SQLite + handler share)"
        )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="bench.py",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--runs", type=int, default=7, help="timed runs per tracker (default 7)")
    p.add_argument(
        "--warmup-runs",
        type=int,
        default=1,
        help="untimed runs per tracker first (default 1; exit code still checked)",
    )
    p.add_argument(
        "--run-timeout",
        type=float,
        default=120.0,
        help="seconds before one testbed run counts as failed (default 120)",
    )
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
    p.add_argument("--skip-job", action="store_true", help="only measure the round trips")
    p.add_argument("--json", action="store_true", help="print one JSON object instead")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    args = p.parse_args(argv)
    if min(args.runs, args.calls, args.reps) < 1 or args.warmup_runs < 0:
        p.error("--runs, --calls and --reps must be >= 1, --warmup-runs >= 0")
    if args.cpu is not None and hasattr(os, "sched_getaffinity"):
        if args.cpu not in os.sched_getaffinity(0):
            p.error(f"--cpu {args.cpu}: not one of {sorted(os.sched_getaffinity(0))}")

    progress = Progress(not args.quiet)
    transports = ["ipc", "tcp"] if args.transport == "both" else [args.transport]
    try:
        job = (
            None
            if args.skip_job
            else bench_job(args.runs, args.warmup_runs, args.run_timeout, progress)
        )
        with pinned(args.cpu):
            rtts = [bench_rtt(t, args.calls, args.reps, progress) for t in transports]
    except Mismatch as exc:
        progress.done()
        print(exc, file=sys.stderr)
        return 1
    progress.done()

    if args.json:
        print(
            json.dumps(
                {
                    "python": sys.version.split()[0],
                    "pyzmq": zmq.__version__,
                    "libzmq": zmq.zmq_version(),
                    "nova_test_s": NOVA_TEST_SECONDS,
                    "nova_test_s_note": NOVA_TEST_SOURCE,
                    "job": job,
                    "round_trip": {r["transport"]: r for r in rtts},
                },
                indent=2,
            )
        )
    else:
        print_summary(job, rtts)
    return 0


if __name__ == "__main__":
    sys.exit(main())
