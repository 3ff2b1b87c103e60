"""Fuzz every listening socket of a cluster over tcp (CURVE on) and measure what it costs.

Frames go to the conductor, the host command socket and the control socket: malformed,
truncated, oversized, wrong-version, wrong-type, multi-frame, stray replies and random bytes,
from three peers per socket: one without keys (ZeroMQ without CURVE), one speaking no
ZeroMQ at all (raw tcp garbage), and one with an issued key (its frames reach the parser).
Valid requests to all three sockets are interleaved, before the storm (quiet) and during it.

Prints frames sent per socket and peer, whether every process and serving thread is alive,
p50/p99 of the valid requests quiet vs storm, RSS before/after, and how many log lines the
storm left (rate-limited: one per kind of bad frame and interval, not one per frame).

    python benchmarks/fuzz.py [--frames 10000] [--seed 0] [--json]
"""

from __future__ import annotations

import argparse
import collections
import json
import multiprocessing
import os
import random
import re
import shutil
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import zmq

from orchestrator.cli.options import load
from orchestrator.cluster.cluster import Cluster
from orchestrator.control.server import ControlServer
from orchestrator.history.recorder import for_run
from testbed import secure, wire
from testbed.transport import MAX_FRAME, RpcClient

KINDS = (
    "malformed",
    "truncated",
    "oversized",
    "wrong-version",
    "wrong-type",
    "multi-frame",
    "reply",
    "random",
)
PACE = 0.01  # seconds between two rounds of valid requests, quiet or in the storm
_fork = multiprocessing.get_context("fork")
BAD_LINE = re.compile(r"malformed|dropped|refused")


def frame(rng: random.Random, kind: str) -> list[bytes]:
    """One bad message (a list of frames) of ``kind``; never a valid request."""
    good = wire.encode(wire.request("pci.get", {"host": "host1"}))
    if kind == "malformed":
        return [rng.choice([b"{", b"[]", b"null", b'{"v":1', b"\xff\xfe", b"{}" * 50])]
    if kind == "truncated":
        return [good[: rng.randrange(len(good))]]
    if kind == "oversized":  # rarely above MAX_FRAME (its sender is dropped), mostly just big
        size = MAX_FRAME + 1 if rng.random() < 0.02 else rng.randrange(2_000, 64_000)
        return [b'{"v":1,"id":"x","op":"ping","body":{"pad":"' + b"A" * size + b'"}}']
    if kind == "wrong-version":
        v = rng.choice(["2", "0", '"1"', "true", "null", "1.0", "[1]"])
        return [f'{{"v":{v},"id":"x{rng.random()}","op":"pci.get","body":{{}}}}'.encode()]
    if kind == "wrong-type":
        return [
            rng.choice(
                [
                    b'{"v":1,"id":"a","op":"service.heartbeat","body":{"host":1,"pid":"x"}}',
                    b'{"v":1,"id":"a","op":"pci.get","body":[]}',
                    b'{"v":1,"id":"a","op":7,"body":{}}',
                    b'{"v":1,"id":7,"op":"pci.get","body":{}}',
                    b'{"v":1,"id":"a","op":"kill","body":{"host":1,"signal":"x"}}',
                    b'{"v":1,"id":"a","op":"no.such.op","body":{}}',
                    b'{"v":1,"id":"a","op":"migration.get","body":{"id":true}}',
                ]
            )
        ]
    if kind == "multi-frame":
        return [good] * rng.randrange(2, 5)
    if kind == "reply":
        return [b'{"v":1,"id":"stray","ok":true,"body":null}']
    return [rng.randbytes(rng.randrange(0, 512))]


def _kind(line: str) -> str:
    """A log line without its time, peer and counts: what kind of event it reports."""
    text = line.split(": ", 1)[-1].strip()
    text = re.sub(r"b'(?:[^'\\]|\\.)*'|b\"(?:[^\"\\]|\\.)*\"", "PEER", text)
    text = re.sub(r" \(and \d+ more like it.*", "", text)
    text = re.sub(r"[0-9a-f]{32}|\d+(\.\d+)?(:\d+)?", "N", text)
    return text[:80]


def _rss(pid: int) -> int:
    """Resident set size in KiB (Linux)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


class Storm:
    """Sends ``frames`` bad frames to each target from the three peers, from a process of its
    own (one sending thread per target), so that it competes with the cluster for the CPU as
    a stranger would, not for the orchestrator's interpreter lock."""

    def __init__(self, targets: dict[str, str], curve: secure.Curve, frames: int, seed: int):
        self.targets, self.curve, self.frames, self.seed = targets, curve, frames, seed
        self.results = _fork.Queue()
        self.proc = _fork.Process(target=self._main, name="storm", daemon=True)
        self.sent: dict[str, dict[str, int]] = {}

    def start(self) -> None:
        self.proc.start()

    def is_alive(self) -> bool:
        return self.proc.is_alive()

    def join(self, timeout: float = 600.0) -> None:
        for _ in self.targets:
            name, counts = self.results.get(timeout=timeout)
            self.sent[name] = counts
        self.proc.join(timeout)

    def _main(self) -> None:
        ctx = zmq.Context()
        threads = [
            threading.Thread(target=self._storm, args=(ctx, name, endpoint, n))
            for n, (name, endpoint) in enumerate(self.targets.items())
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        ctx.destroy(linger=0)

    def _storm(self, ctx: zmq.Context, name: str, endpoint: str, n: int) -> None:
        rng = random.Random(self.seed * 1000 + n)
        counts = {"keyed": 0, "unkeyed": 0, "raw": 0, "held back": 0}
        keyed, unkeyed = ctx.socket(zmq.DEALER), ctx.socket(zmq.DEALER)
        for s in (keyed, unkeyed):
            s.setsockopt(zmq.LINGER, 0)
        secure.client(keyed, self.curve)
        keyed.connect(endpoint)
        unkeyed.connect(endpoint)
        patience = 5.0  # seconds this sender may wait, in all, for a full queue to drain
        for i in range(self.frames):
            msg = frame(rng, KINDS[i % len(KINDS)])
            peer = ("unkeyed", "raw")[(i // 10) % 2] if i % 10 == 0 else "keyed"
            if peer == "raw":
                _raw(endpoint, b"".join(msg)[:4096])
                counts["raw"] += 1
                continue
            sock = keyed if peer == "keyed" else unkeyed
            for attempt in (0, 1):
                try:
                    sock.send_multipart(msg, zmq.NOBLOCK)
                    counts[peer] += 1
                    break
                except zmq.Again:  # the server reads at its own pace: wait a little, once
                    if attempt or patience <= 0 or peer == "unkeyed":
                        counts["held back"] += 1
                        break
                    t = time.monotonic()
                    sock.poll(50, zmq.POLLOUT)
                    patience -= time.monotonic() - t
        keyed.close(linger=0)
        unkeyed.close(linger=0)
        self.results.put((name, counts))


def _raw(endpoint: str, data: bytes) -> None:
    """A peer that speaks no ZeroMQ: connect, send garbage, go."""
    host, port = endpoint.removeprefix("tcp://").rsplit(":", 1)
    try:
        with socket.create_connection((host, int(port)), timeout=1) as s:
            s.sendall(data or b"\x00")
    except OSError:
        pass


def _valid(c: Cluster, ctl_client: RpcClient, conductor: RpcClient) -> dict[str, float]:
    """One valid request to each socket; seconds each took."""
    out = {}
    t = time.perf_counter()
    conductor.call("pci.get", {"host": "host1"})
    out["conductor"] = time.perf_counter() - t
    t = time.perf_counter()
    c.api.host_view("host1")
    out["commands"] = time.perf_counter() - t
    t = time.perf_counter()
    ctl_client.call("status", {})
    out["control"] = time.perf_counter() - t
    return out


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] * 1000 if values else float("nan")


def run(frames: int = 10_000, seed: int = 0, rounds: int = 200) -> dict[str, Any]:
    config = load(sets=["cluster.transport=tcp", "cluster.audit_interval=0"])
    run_dir = Path(tempfile.mkdtemp(prefix="testbed-fuzz-"))
    try:
        with Cluster(config, run_dir, recorder=for_run) as c, ControlServer(c) as ctl:
            c.start()
            targets = {
                "conductor": c.conductor.endpoint,
                "commands": c.commands.endpoint,
                "control": ctl.endpoint,
            }
            ctx = zmq.Context()
            valid_keys = c.keys.issue("valid")
            ctl_client = RpcClient(ctx, ctl.endpoint, 10.0, curve=valid_keys)
            conductor = RpcClient(ctx, c.conductor.endpoint, 10.0, curve=valid_keys)
            pids = {h: c.supervisor.pid(h) for h in config.cluster.hosts}
            quiet: dict[str, list[float]] = {t: [] for t in targets}
            storm_lat: dict[str, list[float]] = {t: [] for t in targets}
            for _ in range(rounds):
                for k, v in _valid(c, ctl_client, conductor).items():
                    quiet[k].append(v)
                time.sleep(PACE)
            rss_before = {"orchestrator": _rss(os.getpid())} | {h: _rss(p) for h, p in pids.items()}
            log_before = sum(1 for ln in open(c.runlog.path) if BAD_LINE.search(ln))
            storm = Storm(targets, c.keys.issue("fuzz"), frames, seed)
            started = time.monotonic()
            storm.start()
            failures = 0
            while storm.is_alive():
                try:
                    for k, v in _valid(c, ctl_client, conductor).items():
                        storm_lat[k].append(v)
                except Exception:  # a valid request that failed during the storm
                    failures += 1
                time.sleep(PACE)
            storm.join()
            seconds = time.monotonic() - started
            for _ in range(20):  # and after it: still answering
                _valid(c, ctl_client, conductor)
            rss_after = {"orchestrator": _rss(os.getpid())} | {h: _rss(p) for h, p in pids.items()}
            time.sleep(0.2)  # let the guard's monitor log what the storm left
            bad_lines = [ln for ln in open(c.runlog.path) if BAD_LINE.search(ln)]
            alive = {h: c.supervisor.alive(h) for h in config.cluster.hosts} | {
                "conductor thread": c.conductor.thread.is_alive(),
                "control thread": ctl.thread.is_alive(),
                "curve guard": c.ctx.guard.thread.is_alive(),
            }
            ctl_client.close()
            conductor.close()
            ctx.term()
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)
    return {
        "frames_per_socket": frames,
        "sent": storm.sent,
        "storm_seconds": round(seconds, 2),
        "alive": alive,
        "valid_failed_during_storm": failures,
        "latency_ms": {
            t: {
                "quiet_p50": round(_pct(quiet[t], 0.5), 3),
                "quiet_p99": round(_pct(quiet[t], 0.99), 3),
                "storm_p50": round(_pct(storm_lat[t], 0.5), 3),
                "storm_p99": round(_pct(storm_lat[t], 0.99), 3),
                "storm_requests": len(storm_lat[t]),
            }
            for t in targets
        },
        "rss_kib": {"before": rss_before, "after": rss_after},
        "log_lines": len(bad_lines) - log_before,
        "log_kinds": dict(collections.Counter(_kind(ln) for ln in bad_lines).most_common()),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--frames", type=int, default=10_000, help="bad frames per socket")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--rounds", type=int, default=200, help="quiet valid requests per socket")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    args = p.parse_args(argv)
    r = run(args.frames, args.seed, args.rounds)
    if args.json:
        print(json.dumps(r, indent=2))
        return 0 if all(r["alive"].values()) else 1
    print(f"fuzz: {r['frames_per_socket']} bad frames per socket in {r['storm_seconds']} s")
    print("  (an unkeyed peer's frames never pass its handshake: they count as handed to its")
    print("   ZeroMQ socket; raw tcp: one connection of garbage bytes each)")
    for t, sent in r["sent"].items():
        print(
            f"  {t:<10} keyed {sent['keyed']}, unkeyed {sent['unkeyed']}, raw tcp "
            f"{sent['raw']}, held back by a full queue {sent['held back']}"
        )
    print("alive:", ", ".join(f"{k} {'yes' if v else 'NO'}" for k, v in r["alive"].items()))
    print(f"valid requests failed during the storm: {r['valid_failed_during_storm']}")
    print(
        f"  {'SOCKET':<10} {'QUIET p50':>10} {'QUIET p99':>10} {'STORM p50':>10} {'STORM p99':>10}"
    )
    for t, lat in r["latency_ms"].items():
        print(
            f"  {t:<10} {lat['quiet_p50']:>8.2f}ms {lat['quiet_p99']:>8.2f}ms "
            f"{lat['storm_p50']:>8.2f}ms {lat['storm_p99']:>8.2f}ms  ({lat['storm_requests']})"
        )
    for who in r["rss_kib"]["before"]:
        b, a = r["rss_kib"]["before"][who], r["rss_kib"]["after"][who]
        print(f"  rss {who:<12} {b / 1024:.1f} MiB -> {a / 1024:.1f} MiB")
    print(f"log lines about bad frames and refused peers: {r['log_lines']}")
    for kind, n in r["log_kinds"].items():
        print(f"  {n:>4}  {kind}")
    return 0 if all(r["alive"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
