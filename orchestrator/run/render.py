"""How the cluster's state and a run's verdict read as text, one place for each: the status
table (``testbed up``, ``testbed status``), devices bound per host (a check's diff, the pytest
report), the verdict lines (``testbed run``, ``testbed check``).

Pure functions of plain data (what the API and the control server return, which is also what
``--json`` prints): they never read or change a cluster and never print.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any


def bound(servers: Mapping[str, int]) -> str:
    """``vm1=1, vm2=2`` (devices bound per server), or ``nothing bound``."""
    return ", ".join(f"{s}={n}" for s, n in sorted(servers.items())) or "nothing bound"


def allocations(observed: Mapping[str, Mapping[str, int]], prefix: str = "") -> list[str]:
    """One line per host: ``{prefix}HOST: vm1=1, ...``."""
    return [f"{prefix}{host}: {bound(servers)}" for host, servers in sorted(observed.items())]


def verdict(outcome: str, invariants_ok: bool | None = None) -> list[str]:
    """The closing lines of a run or a check: pass, fail or inconclusive (invariants only
    when they were checked)."""
    lines = [f"outcome   {outcome.upper()}"]
    if invariants_ok is not None:
        lines.insert(0, f"invariants {'hold' if invariants_ok else 'VIOLATED'}")
    return lines


def listing(docs: Mapping[str, str]) -> list[str]:
    """``name  doc`` lines, the names in one column (``testbed points``, ``testbed scenarios``)."""
    width = max(map(len, docs), default=0)
    return [f"{name:<{width}}  {doc}" for name, doc in docs.items()]


def status_table(status: Mapping[str, Any], now: float | None = None) -> str:
    """One row per host, then one line per server."""
    now = time.time() if now is None else now
    rows = [("HOST", "PID", "KIND", "STATE", "FREE", "BOUND", "HEARTBEAT", "SERVERS")]
    for host, h in status["hosts"].items():
        beat = f"{now - h['last_heartbeat']:.1f} s ago" if h["last_heartbeat"] else "-"
        state = h["state"] + (" (forced)" if h["forced_down"] else "")
        rows.append(
            (
                host,
                str(h["pid"] or "-"),
                "joined" if h.get("joined") else "supervised",
                state,
                str(h["free"]),
                str(h["bound"]),
                beat,
                ", ".join(h["servers"]) or "-",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    for s in status["servers"]:
        lines.append(
            f"server {s['name']}: {s['vm_state']} on {s['host']}"
            + (f" ({s['task_state']})" if s["task_state"] else "")
        )
    return "\n".join(lines)
