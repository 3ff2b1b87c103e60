"""The checks' reading of the nova system: allocations, invariants and ``testbed status``, all
from Nova's own rows (``pci_devices``, ``instances``, ``migrations``, ``compute_nodes``) read
with Nova's objects. A device is bound when its row says ``claimed`` or ``allocated``; its host
is its compute node's. Pure reading: nothing here writes."""

from __future__ import annotations

from typing import Any

from nova import objects

from orchestrator.cluster.api import API
from testbed.systems.nova import ALIAS
from testbed.vocabulary import HostState, VmState

BOUND = ("claimed", "allocated")


def pci_count(instance: objects.Instance) -> int:
    """The devices the server's flavor asks for through the alias."""
    spec = (instance.flavor.extra_specs or {}).get("pci_passthrough:alias", "")
    name, _, count = spec.partition(":")
    return int(count) if name == ALIAS and count.isdigit() else 0


class Views(API):
    def record(self, i: objects.Instance) -> dict[str, Any]:
        """A server as plain data, in the fields the model's records have."""
        mc = i.migration_context if i.obj_attr_is_set("migration_context") else None
        move = {}
        if mc is not None:  # the move's hosts are its migration's
            move = next((m for m in self.migrations() if m["id"] == mc.migration_id), {})
        return {
            "uuid": i.uuid, "name": i.display_name, "host": i.host, "node": i.node,
            "vm_state": i.vm_state, "task_state": i.task_state, "pci_count": pci_count(i),
            "deleted": bool(i.deleted),
            "migration_context": None if mc is None else {
                "migration_id": mc.migration_id, "source": move.get("source_compute"),
                "dest": move.get("dest_compute")},
        }  # fmt: skip

    def servers(self, deleted: bool = False) -> list[dict[str, Any]]:
        with self.state.lock:
            ctx = self.state.context(deleted=deleted)
            found = objects.InstanceList.get_by_filters(
                ctx, {} if deleted else {"deleted": False},
                expected_attrs=["flavor", "migration_context"],
            )  # fmt: skip
            return sorted((self.record(i) for i in found), key=lambda r: r["name"])

    def devices(self) -> list[dict[str, Any]]:
        """Every ``pci_devices`` row, with its host (its compute node's)."""
        out = []
        with self.state.lock:
            ctx = self.state.context()
            for node in objects.ComputeNodeList.get_all(ctx):
                for d in objects.PciDeviceList.get_by_compute_node(ctx, node.id):
                    out.append({"host": node.host, "address": d.address, "status": d.status,
                                "instance_uuid": d.instance_uuid})  # fmt: skip
        return sorted(out, key=lambda d: (d["host"], d["address"]))

    def migrations(self) -> list[dict[str, Any]]:
        with self.state.lock:
            found = objects.MigrationList.get_by_filters(self.state.context(), {})
            keys = ("id", "instance_uuid", "source_compute", "dest_compute", "migration_type",
                    "status")  # fmt: skip
            return [{k: getattr(m, k) for k in keys} for m in found]

    def free_devices(self) -> dict[str, int]:
        free = {h: 0 for h in self.hosts}
        for d in self.devices():
            if d["status"] == "available":
                free[d["host"]] = free.get(d["host"], 0) + 1
        return free

    # -- what the checks read ---------------------------------------------------------------
    def allocations(self) -> dict[str, dict[str, int]]:
        """Devices bound (claimed or allocated) per host, per server name."""
        names = {s["uuid"]: s["name"] for s in self.servers(deleted=True)}
        out: dict[str, dict[str, int]] = {h: {} for h in self.hosts}
        for d in self.devices():
            if d["status"] in BOUND and d["instance_uuid"]:
                server = names.get(d["instance_uuid"], d["instance_uuid"])
                row = out.setdefault(d["host"], {})
                row[server] = row.get(server, 0) + 1
        return out

    def invariant_violations(self) -> list[str]:
        states = self.host_states()
        devices, servers = self.devices(), self.servers(deleted=True)
        by_uuid = {s["uuid"]: s for s in servers}
        out = []
        for s in servers:  # every active server has exactly what it asked for on its host
            if s["deleted"] or s["vm_state"] != VmState.ACTIVE:
                continue
            n = sum(d["host"] == s["host"] and d["instance_uuid"] == s["uuid"]
                    and d["status"] in BOUND for d in devices)  # fmt: skip
            if n != s["pci_count"]:
                out.append(f"active server has its devices: {s['name']} on {s['host']} has "
                           f"{n} bound, requested {s['pci_count']}")  # fmt: skip
        for d in devices:  # nothing bound to a deleted server, or off its host
            if d["status"] not in BOUND or states.get(d["host"]) != HostState.UP:
                continue  # a down host may hold stale bindings until it returns
            s = by_uuid.get(d["instance_uuid"])
            mc = (s or {}).get("migration_context") or {}
            if s is None or s["deleted"]:
                name = s["name"] if s else d["instance_uuid"]
                out.append(f"no device bound to a deleted server: {name} on {d['host']} "
                           f"holds {d['address']}")  # fmt: skip
            elif s["host"] != d["host"] and d["host"] not in (mc.get("source"), mc.get("dest")):
                out.append(f"no device bound off the server's host: {s['name']} (on "
                           f"{s['host']}) holds {d['address']} on {d['host']}")  # fmt: skip
        for t in self.state.tasks():  # no host operation crashed
            if t.get("crashed"):
                out.append(f"no host operation crashed: {t['op']} on {t['host']} raised "
                           f"({t['error']})")  # fmt: skip
        return out

    def status(self) -> dict[str, Any]:
        out = super().status()
        devices, bound = self.devices(), self.allocations()
        for host, row in out["hosts"].items():
            devs = [d for d in devices if d["host"] == host]
            row |= {
                "devices": len(devs),
                "free": sum(d["status"] == "available" for d in devs),
                "bound": sum(bound.get(host, {}).values()),
                "servers": sorted(bound.get(host, {})),
            }
        return out | {"servers": self.servers(), "migrations": self.migrations()}
