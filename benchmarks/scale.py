"""How the testbed's costs grow with the number of hosts.

For clusters of 2, 8, 32 and 64 hosts (``--hosts``), each host with 8 devices and 4 servers:

- **up**: seconds from starting the cluster until every host has registered;
- **audit round**: seconds for one ``update_available_resource`` on every host at once, from
  the first command sent until the last task is done;
- **conductor req/s**: requests the conductor served per second while audit rounds ran back
  to back on every host for ``--load-seconds`` (heartbeats included);
- **orchestrator RSS** (MiB) and the **mean host USS** (MiB): a host's unique pages
  (``Private_*`` of ``/proc/PID/smaps_rollup``), what each extra host really costs, since
  forked hosts share the rest with the orchestrator.

Prints a table (``--json``: one JSON object) and writes a plot of each figure against the
number of hosts (``--plot``; needs matplotlib: ``pip install -e '.[bench]'``).

    python benchmarks/scale.py [--hosts 2,8,32,64] [--plot docs/scale.png] [--json]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from orchestrator.cli.options import load
from orchestrator.cluster.cluster import Cluster
from orchestrator.history.recorder import for_run

DEVICES, SERVERS = 8, 4
FIGURES = {  # key: (label, unit)
    "up_s": ("every host up", "s"),
    "audit_round_s": ("one audit round, all hosts", "s"),
    "conductor_rps": ("conductor requests/s under audit load", "req/s"),
    "orchestrator_rss_mib": ("orchestrator RSS", "MiB"),
    "host_uss_mib": ("mean host USS (unique pages)", "MiB"),
}


def _kib(pid: int | str, fields: tuple[str, ...]) -> int:
    total = 0
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in fields:
            total += int(rest.split()[0])
    return total


def _audit_round(cluster: Cluster) -> float:
    api = cluster.api
    start = time.perf_counter()
    tasks = [api.audit(h, wait=False) for h in cluster.config.cluster.hosts]
    for task in tasks:
        api.wait_task(task)
    return time.perf_counter() - start


def measure(n: int, load_seconds: float, base: Path) -> dict[str, Any]:
    hosts = [f"host{i:02d}" for i in range(1, n + 1)]
    config = load(
        sets=[
            f"cluster.hosts={','.join(hosts)}",
            f"devices.per_host={DEVICES}",
            "devices.per_server=1",
            "cluster.audit_interval=0",  # the rounds below are the only audits
            "timeouts.host_start=60",
            "timeouts.settle=60",
        ]
    )
    with Cluster(config, base / f"scale-{n}", recorder=for_run) as cluster:
        start = time.perf_counter()
        cluster.start()
        up = time.perf_counter() - start
        api = cluster.api
        for h in hosts:
            for k in range(SERVERS):
                api.create_server(f"{h}-vm{k}", h, wait=False)
        api.wait_idle()
        if sum(map(len, api.allocations().values())) != n * SERVERS:
            raise RuntimeError("not every server was built")
        round_s = _audit_round(cluster)
        served = 0
        handle = cluster.conductor.handle

        def counting(*args: Any) -> Any:
            nonlocal served
            served += 1
            return handle(*args)

        cluster.conductor.handle = counting  # the conductor thread looks it up per request
        start = time.perf_counter()
        while time.perf_counter() - start < load_seconds:
            _audit_round(cluster)
        rps = served / (time.perf_counter() - start)
        cluster.conductor.handle = handle
        private = ("Private_Clean", "Private_Dirty", "Private_Hugetlb")
        uss = [_kib(cluster.supervisor.pid(h), private) for h in hosts]
        return {
            "hosts": n,
            "up_s": up,
            "audit_round_s": round_s,
            "conductor_rps": rps,
            "orchestrator_rss_mib": _kib("self", ("Rss",)) / 1024,
            "host_uss_mib": sum(uss) / len(uss) / 1024,
        }


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    xs = [r["hosts"] for r in rows]
    fig, grid = plt.subplots(2, 3, figsize=(12, 6.4))
    axes = list(grid.flat)
    axes[-1].axis("off")  # five figures on a 2 x 3 grid
    for ax, (key, (label, unit)) in zip(axes[: len(FIGURES)], FIGURES.items(), strict=True):
        ax.plot(xs, [r[key] for r in rows], marker="o")
        ax.set_title(label, fontsize=10)
        ax.set_xlabel("hosts")
        ax.set_ylabel(unit)
        ax.set_xticks(xs)
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
    fig.suptitle("testbed: cost against the number of hosts (8 devices, 4 servers each)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)


def main() -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--hosts", default="2,8,32,64", help="cluster sizes (default 2,8,32,64)")
    p.add_argument("--load-seconds", type=float, default=1.0, help="audit load per size")
    p.add_argument("--plot", metavar="PNG", help="write the plot here (needs matplotlib)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    args = p.parse_args()
    try:
        sizes = [int(s) for s in args.hosts.split(",")]
    except ValueError:
        p.error(f"--hosts {args.hosts!r}: expected sizes like 2,8,32,64")
    if args.plot and importlib.util.find_spec("matplotlib") is None:
        # said before measuring, not after a minute of it
        print("scale.py: --plot needs matplotlib (pip install -e '.[bench]')", file=sys.stderr)
        return 2
    rows = []
    with tempfile.TemporaryDirectory(prefix="tb-scale-") as base:
        for n in sizes:
            print(f"{n} hosts ...", file=sys.stderr)
            rows.append(measure(n, args.load_seconds, Path(base)))
    if args.plot:
        plot(rows, Path(args.plot))
    if args.json:
        print(json.dumps({"devices_per_host": DEVICES, "servers_per_host": SERVERS, "rows": rows}))
        return 0
    print(
        f"{'hosts':>5} {'up s':>7} {'audit round s':>14} {'conductor req/s':>16} "
        f"{'orch RSS MiB':>13} {'host USS MiB':>13}"
    )
    for r in rows:
        print(
            f"{r['hosts']:>5} {r['up_s']:>7.3f} {r['audit_round_s']:>14.3f} "
            f"{r['conductor_rps']:>16.0f} {r['orchestrator_rss_mib']:>13.1f} "
            f"{r['host_uss_mib']:>13.1f}"
        )
    if args.plot:
        print(f"plot: {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
