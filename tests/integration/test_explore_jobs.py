"""Explorations side by side in worker processes (``testbed explore --all --jobs N``): the
same rows as one after the other, and nothing left behind when the command is interrupted."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from helpers import child_pids, start_cli, wait_gone

from orchestrator.cli.options import option_layers
from orchestrator.explore import cores, explorer, jobs
from orchestrator.explore.strategies.dpor import Dpor
from orchestrator.run import scenario as sc

ITEMS = [(n, t) for n in ("unshelve-race", "resize-confirm-leak") for t in ("buggy", "fixed")]


def _explore(tmp_path: Path, item: tuple[str, str]) -> dict:
    name, tracker = item
    scenario, config = sc.load_with_config(name, *option_layers(tracker=tracker))
    base = tmp_path / f"{name}-{tracker}-{os.getpid()}"
    summary = explorer.explore(scenario, config, Dpor(), None, base / "out", str(base / "runs"))
    d = summary.to_dict()
    return {k: d[k] for k in ("scenario", "tracker", "schedules", "losing", "final_states")} | {
        "pid": os.getpid(),
        "cpus": sorted(os.sched_getaffinity(0)),
        "orders": [s.line for s in summary.losing],
    }


def test_jobs_give_the_rows_one_after_the_other_gives(tmp_path: Path) -> None:
    alone = jobs.run_all(lambda item: _explore(tmp_path, item), ITEMS, 1)
    seen: list[dict] = []
    apart = jobs.run_all(lambda item: _explore(tmp_path, item), ITEMS, 2, seen.append)
    strip = [{k: v for k, v in r.items() if k not in ("pid", "cpus")} for r in alone]
    assert [{k: v for k, v in r.items() if k not in ("pid", "cpus")} for r in apart] == strip
    assert [r["scenario"] for r in strip] == [n for n, _ in ITEMS]
    assert sum(r["losing"] for r in strip) >= 2  # both buggy explorations lose
    assert {r["pid"] for r in alone} == {os.getpid()}
    assert os.getpid() not in {r["pid"] for r in apart} and len(seen) == len(ITEMS)
    # one after the other, an exploration has every core; side by side, each its slot's share
    every = sorted(cores.available())
    assert {tuple(r["cpus"]) for r in alone} == {tuple(every)}
    shares = {tuple(sorted(cores.share(slot, 2))) for slot in range(2)}
    assert {tuple(r["cpus"]) for r in apart} <= shares


def _interrupt_with_hosts_up(proc, depth: int) -> set[int]:
    """Ctrl-C the command once both its workers run and hosts are up (``depth``: generations
    below a worker); every process of it seen on the way."""
    seen: set[int] = set()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and proc.poll() is None:
        workers = child_pids(proc.pid)
        below = workers
        for _ in range(depth):
            below = [c for p in below for c in child_pids(p)]
            seen |= set(below)
        seen |= set(workers)
        if len(workers) == 2 and below:
            break
        time.sleep(0.01)
    assert seen, "no worker started"
    os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C in a terminal: the whole group
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err, err
    return seen


def test_an_interrupted_all_leaves_nothing(tmp_path: Path) -> None:
    proc = start_cli("explore", "--all", "--jobs", "2", "--out", str(tmp_path))
    seen = _interrupt_with_hosts_up(proc, depth=2)  # worker, zygote, host
    assert wait_gone(sorted(seen), 10) == [], "a worker, zygote or host outlived the command"


def test_an_interrupted_emission_leaves_nothing(tmp_path: Path) -> None:
    """--emit-scenario minimises groups in workers that start their hosts themselves: Ctrl-C
    while they run ends every worker and host (a stop that came while one forked a host was
    lost, and the command hung)."""
    proc = start_cli(
        "explore", "evacuate-race", "--tracker", "buggy", "--jobs", "2",
        "--out", str(tmp_path / "replays"), "--emit-scenario", str(tmp_path / "emitted"),
    )  # fmt: skip
    seen = _interrupt_with_hosts_up(proc, depth=1)  # worker, host
    assert wait_gone(sorted(seen), 10) == [], "a worker or host outlived the command"
