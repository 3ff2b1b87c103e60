"""The model's API: the orchestrator's part of each user action on the model's tables (a new
server, a migration, the server's task state, a local delete), the host commands it sends
(``hosts.model``'s), and the checks' reading of allocations and invariants. It extends the
cluster's generic API (waits, hosts, tasks) and implements ``testbed.system.SystemAPI``.

Like Nova's API it writes only what an API writes and asks hosts for the rest; it must not do
a host's work in its place, nor wait without a bound.
"""

from __future__ import annotations

from typing import Any

from orchestrator.cluster.api import API
from orchestrator.model.api_moves import MovesAPI
from orchestrator.model.invariants import violations
from orchestrator.model.scheduler import pick_host
from orchestrator.model.store import ModelStore
from testbed.errors import ApiError
from testbed.vocabulary import (
    DeviceStatus,
    HostState,
    MigrationStatus,
    TaskState,
    Until,
    VmState,
)


class ModelAPI(MovesAPI, API):
    state: ModelStore

    # -- servers --------------------------------------------------------------------------
    def server(self, name: str) -> dict[str, Any]:
        try:
            return self.state.instance_by_name(name)
        except LookupError as exc:
            raise ApiError(str(exc)) from None

    def free_devices(self) -> dict[str, int]:
        free = {h: 0 for h in self.hosts}
        for d in self.state.devices():
            if d["status"] == DeviceStatus.AVAILABLE:
                free[d["host"]] = free.get(d["host"], 0) + 1
        return free

    def _pick(self, count: int, exclude: str | None = None) -> str:
        up = [h for h, s in self.host_states().items() if s == HostState.UP]
        return pick_host(self.free_devices(), up, count, exclude)

    def create_server(
        self, name: str, host: str | None = None, pci: int | None = None, wait: bool = True
    ) -> dict[str, Any]:
        """Build a server with ``pci`` devices (default ``devices.per_server``)."""
        pci = self.config.devices.per_server if pci is None else pci
        if any(i["name"] == name for i in self.state.instances()):
            raise ApiError(f"a server named '{name}' exists already")
        host = self.known(host) if host else self._pick(pci)
        uuid = self.state.instance_create(name, host, pci)
        task = self._task(host, "build", uuid=uuid)
        if wait:
            self.wait_task(task)
        return self.state.instance_get(uuid)

    def evacuate(
        self, name: str, target: str | None = None, until: str = Until.DONE
    ) -> dict[str, Any]:
        """Nova's evacuate: only off a host that is down. ``until``: return once the migration
        is accepted, the destination has made its move claim, or the evacuation is done."""
        inst = self.server(name)
        source = inst["host"]
        self.check_evacuation(name, source, target, until)
        target = target or self._pick(inst["pci_count"], exclude=source)
        migration = self.state.migration_create(inst["uuid"], source, target)
        self.state.instance_save(inst["uuid"], {"task_state": TaskState.REBUILDING})
        task = self._task(target, "evacuate", uuid=inst["uuid"], migration=migration)
        if until == Until.CLAIMED:
            self.wait_for(
                f"the move claim of {name} on {target}",
                lambda: self.state.migration_get(migration)["status"] != MigrationStatus.ACCEPTED,
            )
        elif until == Until.DONE:
            self.wait_task(task)
        return {"migration": migration, "task": task, "source": source, "dest": target}

    def delete(self, name: str) -> None:
        """On a live host the host frees the devices; on a down host the server is deleted
        here (Nova's local delete) and the host frees them when it returns."""
        inst = self.server(name)
        if self.is_up(inst["host"]):
            self.wait_task(self._task(inst["host"], "delete", uuid=inst["uuid"]))
        else:
            self.state.instance_save(
                inst["uuid"], {"deleted": True, "vm_state": VmState.DELETED, "task_state": None}
            )

    def rebuild(self, name: str) -> None:
        inst = self.server(name)
        self.state.instance_save(inst["uuid"], {"task_state": TaskState.REBUILDING})
        self.wait_task(self._task(inst["host"], "rebuild", uuid=inst["uuid"]))

    # -- views ----------------------------------------------------------------------------
    def allocations(self) -> dict[str, dict[str, int]]:
        """Devices bound (claimed or allocated) per host, per server name."""
        names = {i["uuid"]: i["name"] for i in self.state.instances(include_deleted=True)}
        out: dict[str, dict[str, int]] = {h: {} for h in self.hosts}
        for d in self.state.devices():
            if d["instance_uuid"]:
                server = names.get(d["instance_uuid"], d["instance_uuid"])
                out.setdefault(d["host"], {})[server] = out[d["host"]].get(server, 0) + 1
        return out

    def invariant_violations(self) -> list[str]:
        states = self.host_states()
        views = {h: self.host_view(h) for h, s in states.items() if s == HostState.UP}
        return violations(
            self.config,
            self.state.devices(),
            self.state.instances(include_deleted=True),
            states,
            views,
            self.state.tasks(),
        )

    def status(self) -> dict[str, Any]:
        """Hosts (pid, up/down, heartbeat, devices free and bound, servers bound), servers
        and migrations: what ``testbed status`` shows, as plain data."""
        out = super().status()
        devices = self.state.devices()  # once, not once per host
        bound = self.allocations()
        for host, row in out["hosts"].items():
            devs = [d for d in devices if d["host"] == host]
            row |= {
                "devices": len(devs),
                "free": sum(d["status"] == DeviceStatus.AVAILABLE for d in devs),
                "bound": sum(bound.get(host, {}).values()),
                "servers": sorted(bound.get(host, {})),
            }
        return out | {
            "servers": self.state.instances(),
            "migrations": self.state.migration_query(),
        }
