"""Explorations side by side (``testbed explore --all --jobs N``), each in a worker process of
its own, forked from this one: every schedule still runs on a cluster of its own, the workers
only share the machine's cores, each its own share of them (``orchestrator.explore.cores``).

A worker sends its exploration's summary back as one JSON document on a pipe of its own, and
ends. The command ends its workers (SIGTERM: they tear their clusters down as Ctrl-C does, and
are reaped) when it is interrupted; the kernel sends them SIGTERM if the command dies first.
"""

from __future__ import annotations

import ctypes
import json
import multiprocessing
import multiprocessing.connection
import os
import signal
import time
from collections.abc import Callable
from typing import Any

from orchestrator.cluster import stops
from orchestrator.explore import cores

PR_SET_PDEATHSIG = 1
STOP_GRACE = 10.0  # a worker told to stop tears its current schedule's clusters down first

_fork = multiprocessing.get_context("fork")


def _worker(work: Callable[[Any], dict], item: Any, out: Any, parent: int, cpus: set[int]) -> None:
    """Born with SIGINT and SIGTERM blocked (``run_all``): a stop is taken only inside the
    ``try``, where it tears the exploration down quietly. Ctrl-C is the command's to handle:
    it ends its workers with SIGTERM (as does the kernel when the command dies). It keeps to
    ``cpus``, its slot's share of the cores (``orchestrator.explore.cores``)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    try:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, stops.STOPS)
        if os.getppid() != parent:  # the command died before prctl: nobody waits
            return
        with cores.kept_to(cpus):
            row = work(item)
        out.send_bytes(json.dumps(row).encode())
    except Exception as exc:  # reported as the row's error; the other explorations go on
        out.send_bytes(json.dumps({"error": f"{type(exc).__name__}: {exc}"}).encode())
    except KeyboardInterrupt:  # told to stop: its clusters are torn down, nothing to say
        pass
    finally:
        signal.pthread_sigmask(signal.SIG_BLOCK, stops.STOPS)  # from here on, only the way out


def run_all(
    work: Callable[[Any], dict],
    items: list[Any],
    jobs: int,
    done: Callable[[dict], None] = lambda row: None,
) -> list[dict]:
    """``work(item)`` for every item, ``jobs`` at a time (1: here, one after the other), each
    a JSON-able row; the rows in the items' order. ``done`` is told each row as it comes."""
    if jobs <= 1 or len(items) <= 1:
        rows = []
        for item in items:
            rows.append(work(item))
            done(rows[-1])
        return rows
    rows: list[dict | None] = [None] * len(items)
    waiting = list(enumerate(items))
    # the result pipe's read end -> (index, process, slot)
    running: dict[Any, tuple[int, Any, int]] = {}
    free = list(range(jobs))  # slots: each running worker keeps to its slot's cores
    try:
        while waiting or running:
            while waiting and len(running) < jobs:
                index, item = waiting.pop(0)
                slot = free.pop(0)
                theirs, ours = _fork.Pipe(duplex=False)
                proc = _fork.Process(
                    target=_worker,
                    args=(work, item, ours, os.getpid(), cores.share(slot, jobs)),
                    daemon=False,  # a minimising worker starts hosts as processes of its own
                )
                with stops.forking():  # the child is born with the stops blocked: _worker
                    proc.start()
                    running[theirs] = (index, proc, slot)
                ours.close()
            for conn in multiprocessing.connection.wait(list(running)):
                index, proc, slot = running.pop(conn)
                free.append(slot)
                try:
                    rows[index] = json.loads(conn.recv_bytes())
                except EOFError:  # it died without a word
                    rows[index] = {"error": f"the exploration's worker ended ({proc.exitcode})"}
                conn.close()
                proc.join()
                done(rows[index])  # type: ignore[arg-type]
    except BaseException:
        for _, proc, _ in running.values():
            if proc.is_alive():
                os.kill(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE
        for conn, (_, proc, _) in running.items():
            proc.join(max(0.0, deadline - time.monotonic()))
            if proc.is_alive():  # it did not take the stop: its hosts end once it is gone
                os.kill(proc.pid, signal.SIGKILL)
                proc.join()
            conn.close()
        raise
    return rows  # type: ignore[return-value]
