"""Exploration speed and reduction: for each scenario and tracker, the schedules dynamic
partial-order reduction runs, the seconds it takes, schedules per second, the interleavings
the same steps have without reduction (an upper bound: the orders of the steps of tasks whose
lifetimes overlap, ignoring the lock) and the ratio between the two; then the same with timers
(``timers on``: each host's periodic audit, at least every 0.5 s, fired by the explorer at most
once per schedule; ``off``: the scenario's own audits only, as ``--timer-fires 0``). With timers
an exploration stops after ``--cap`` schedules (its schedules then read ``>=``), after 3 for a
scenario that turns its timers off (``explore.timer_fires = 0``: cell-evacuation's 64 hosts).

    python benchmarks/explore.py [--scenario NAME ...] [--reps 3] [--json]

Each exploration runs ``--reps`` times; the figures are medians. Every schedule runs on a
cluster of its own, so the seconds include starting and stopping one for each schedule; the
next schedule's is started while the current one runs (``orchestrator.explore.prestart``).
``--fresh`` adds a column: the same exploration with each cluster started when its schedule
begins, interleaved with the other in each repetition.
"""

from __future__ import annotations

import copy
import json
import shutil
import statistics
import sys
import tempfile
from typing import Any

from common import parse, progress

from orchestrator.cli.options import option_layers
from orchestrator.explore import explorer
from orchestrator.explore.strategies.dpor import Dpor
from orchestrator.run import scenario as sc
from testbed.fixes import PRESETS

SMALL_CAP = 3  # timers-on schedules of a scenario that turns its timers off (64 hosts: ~9 s each)


class Part:
    @staticmethod
    def add_args(p: Any) -> None:
        p.add_argument(
            "--scenario",
            action="append",
            default=[],
            help="a scenario to explore (repeatable; default: every built-in one)",
        )
        p.add_argument("--reps", type=int, default=3, help="explorations per row (median)")
        p.add_argument(
            "--fresh",
            action="store_true",
            help="also time each exploration with a cluster started as each schedule begins",
        )
        p.add_argument("--cap", type=int, default=200, help="with timers: at most this many")

    @staticmethod
    def check_args(p: Any, args: Any) -> None:
        if args.reps < 1:
            p.error("--reps must be at least 1")


def measure(
    names: list[str], reps: int, quiet: bool, fresh: bool = False, cap: int = 200
) -> list[dict[str, Any]]:
    rows = []
    base = tempfile.mkdtemp(prefix="tb-explore-")
    bar = progress("explore", len(names) * len(PRESETS) * reps, quiet)
    try:
        for name in names:
            for tracker in PRESETS:
                scenario, config = sc.load_with_config(name, *option_layers(tracker=tracker))
                runs, slow = [], []
                for _ in range(reps):
                    runs.append(
                        explorer.explore(scenario, config, Dpor(), run_base=base, timer_fires=0)
                    )
                    if fresh:
                        again = explorer.explore(
                            scenario, config, Dpor(), run_base=base, prestart=False, timer_fires=0
                        )
                        slow.append(again)
                    bar.step(f"{name} {tracker}")
                timed = copy.deepcopy(config)
                timed.cluster.audit_interval = min(timed.cluster.audit_interval or 0.5, 0.5)
                # a scenario that turns its timers off (explore.timer_fires = 0) is too big
                # for them: its timers-on row stops after SMALL_CAP schedules
                few = cap if config.explore.timer_fires else min(cap, SMALL_CAP)
                on = explorer.explore(
                    scenario, timed, Dpor(), run_base=base, timer_fires=1, max_schedules=few
                ).to_dict()
                d = [r.to_dict() for r in runs]
                seconds = statistics.median(x["seconds"] for x in d)
                schedules = d[0]["schedules"]
                rows.append(
                    {
                        "scenario": name,
                        "tracker": tracker,
                        "schedules": schedules,
                        "losing": d[0]["losing"],
                        "seconds_median": round(seconds, 3),
                        "schedules_per_second": round(schedules / seconds, 1),
                        "interleavings_bound": d[0]["interleavings_bound"],
                        "reduction": d[0]["reduction"],
                        "same_every_time": len({(x["schedules"], x["losing"]) for x in d}) == 1,
                        "timers_schedules": on["schedules"],
                        "timers_capped": on["schedules"] >= few,
                        "timers_losing": on["losing"],
                        "timers_seconds": on["seconds"],
                        "timers_off_in_scenario": not config.explore.timer_fires,
                    }
                )
                if fresh:
                    fresh_seconds = statistics.median(r.seconds for r in slow)
                    rows[-1]["fresh_seconds_median"] = round(fresh_seconds, 3)
    finally:
        bar.close()
        shutil.rmtree(base, ignore_errors=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    args = parse("explore.py", __doc__, argv, [Part])
    names = args.scenario or sc.builtin_names()
    rows = measure(names, args.reps, args.quiet, args.fresh, args.cap)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    width = max(len(r["scenario"]) for r in rows)
    print(
        f"{'SCENARIO':<{width}}  TRACKER  SCHED  LOSING  SECONDS  SCHED/S  WITHOUT REDUCTION  RATIO"
        "  TIMERS: SCHED  LOSING  SECONDS"
    )
    for r in rows:
        print(
            f"{r['scenario']:<{width}}  {r['tracker']:<7}  {r['schedules']:>5}  {r['losing']:>6}  "
            f"{r['seconds_median']:>7.2f}  {r['schedules_per_second']:>7.1f}  "
            f"{r['interleavings_bound']:>17}  {r['reduction']:>5}  "
            f"{('>=' if r['timers_capped'] else '') + str(r['timers_schedules']):>13}  "
            f"{r['timers_losing']:>6}  {r['timers_seconds']:>7.2f}"
            + ("  (timers off in the scenario)" if r["timers_off_in_scenario"] else "")
            + (f"  fresh {r['fresh_seconds_median']:.2f} s" if "fresh_seconds_median" in r else "")
            + ("" if r["same_every_time"] else "  (counts varied between repetitions)")
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
