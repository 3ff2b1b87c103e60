"""The model's invariants, which hold whenever the cluster is quiet (docs/design.md §2), checked
on the orchestrator's state and on each live host's own view. Each violation names the invariant,
the server, the host and the device address where there is one. ``violations`` is a pure
function of the data it is given: it must not read or change the cluster itself."""

from __future__ import annotations

from typing import Any

from testbed.config import Config
from testbed.vocabulary import BOUND, DeviceStatus, HostState, VmState


def violations(
    config: Config,
    devices: list[dict[str, Any]],
    servers: list[dict[str, Any]],
    states: dict[str, str],
    host_views: dict[str, list[dict[str, Any]]],
    tasks: list[dict[str, Any]] = (),  # type: ignore[assignment]
) -> list[str]:
    """``servers`` includes deleted ones; ``states``: host -> up/down; ``host_views``: each
    live host's own device records; ``tasks``: every task the hosts were given."""
    out: list[str] = []
    by_uuid = {s["uuid"]: s for s in servers}
    per_host: dict[str, list[dict[str, Any]]] = {h: [] for h in config.cluster.hosts}
    for d in devices:
        per_host.setdefault(d["host"], []).append(d)

    for s in servers:  # 1. every active server has exactly N bound on its current host
        if s["deleted"] or s["vm_state"] != VmState.ACTIVE:
            continue
        n = sum(d["instance_uuid"] == s["uuid"] for d in per_host.get(s["host"], []))
        if n != s["pci_count"]:
            out.append(
                f"active server has its devices: {s['name']} on {s['host']} has {n} "
                f"bound, requested {s['pci_count']}"
            )

    for d in devices:  # 2. nothing bound to a deleted server or off the server's host
        if d["status"] not in BOUND or states.get(d["host"]) == HostState.DOWN:
            continue  # a down host may hold stale bindings until it returns
        s = by_uuid.get(d["instance_uuid"])
        name = s["name"] if s else d["instance_uuid"]
        if s is None or s["deleted"]:
            out.append(
                f"no device bound to a deleted server: {name} on {d['host']} holds {d['address']}"
            )
        elif s["host"] != d["host"] and not _moving_here(s, d["host"]):
            out.append(
                f"no device bound off the server's host: {name} (on {s['host']}) holds "
                f"{d['address']} on {d['host']}"
            )

    for host, devs in per_host.items():  # 3. available + bound = total, states consistent
        total = config.devices.count(host)
        free = sum(d["status"] == DeviceStatus.AVAILABLE and not d["instance_uuid"] for d in devs)
        bound = sum(d["status"] in BOUND and bool(d["instance_uuid"]) for d in devs)
        if devs and free + bound != total:
            bad = [
                d["address"]
                for d in devs
                if (d["status"] == DeviceStatus.AVAILABLE) == bool(d["instance_uuid"])
            ]
            out.append(
                f"available + bound = total: on {host} {free} + {bound} != {total}"
                + (f" (inconsistent: {', '.join(bad)})" if bad else "")
            )

    for host, view in host_views.items():  # 4. the orchestrator's view equals the host's
        mine = {d["address"]: (d["status"], d["instance_uuid"]) for d in per_host.get(host, [])}
        theirs = {d["address"]: (d["status"], d["instance_uuid"]) for d in view}
        for address in sorted(set(mine) | set(theirs)):
            if mine.get(address) != theirs.get(address):
                out.append(
                    f"orchestrator's view equals the host's: {host} {address} is "
                    f"{_fmt(mine.get(address))} here, {_fmt(theirs.get(address))} on host"
                )
    for t in tasks:  # 5. no host operation crashed (Nova's audit raising: bug 1849165)
        if t.get("crashed"):
            out.append(
                f"no host operation crashed: {t['op']} on {t['host']} raised ({t['error']}); "
                f"what it was to do on {t['host']} was not done"
            )
    return out


def _moving_here(server: dict[str, Any], host: str) -> bool:
    """A move in progress: its destination holds the claim, its source what it had (a resize
    awaiting confirm or revert, a live migration not yet cleaned up on the source)."""
    ctx = server.get("migration_context")
    return bool(ctx and host in (ctx.get("dest"), ctx.get("source")))


def _fmt(entry: tuple[str, str | None] | None) -> str:
    if entry is None:
        return "missing"
    return entry[0] + (f" by {entry[1]}" if entry[1] else "")
