"""The model's state: compute nodes, PCI devices, instances and migrations, in the run's SQLite
file beside the cluster's generic tables (``orchestrator.cluster.state``).

Like the generic store it stores and answers: it must not decide anything about the race (the
hosts and the API do), and every write must notify ``changed`` and tell ``on_write`` what it
changed."""

from __future__ import annotations

import json
import os
from typing import Any

from orchestrator.cluster.state import State
from testbed.vocabulary import (
    MIGRATION_FINISHED,
    MigrationStatus,
    MigrationType,
    TaskState,
    VmState,
)

SCHEMA = """
CREATE TABLE compute_nodes (host TEXT PRIMARY KEY, node TEXT, pci_total INTEGER);
CREATE TABLE pci_devices (host TEXT, address TEXT, vendor_id TEXT, product_id TEXT,
                          status TEXT, instance_uuid TEXT, PRIMARY KEY (host, address));
CREATE TABLE instances (uuid TEXT PRIMARY KEY, name TEXT, host TEXT, node TEXT,
                        vm_state TEXT, task_state TEXT, pci_count INTEGER,
                        migration_context TEXT, deleted INTEGER DEFAULT 0);
CREATE TABLE migrations (id INTEGER PRIMARY KEY AUTOINCREMENT, instance_uuid TEXT,
                         source TEXT, dest TEXT, type TEXT, status TEXT);
"""
INSTANCE_FIELDS = {"host", "node", "vm_state", "task_state", "migration_context", "deleted"}


def _uuid4() -> str:
    """A random (version 4) UUID, as Nova names instances; the uuid module costs a start-up
    import of its own (platform) for what is sixteen random bytes."""
    b = bytearray(os.urandom(16))
    b[6], b[8] = (b[6] & 0x0F) | 0x40, (b[8] & 0x3F) | 0x80
    h = b.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


class ModelStore(State):
    SCHEMA = State.SCHEMA + SCHEMA

    # -- devices --------------------------------------------------------------------------
    def pci_get(self, host: str) -> list[dict[str, Any]]:
        return self._rows(
            "SELECT address, vendor_id, product_id, status, instance_uuid FROM pci_devices "
            "WHERE host=? ORDER BY address",
            host,
        )

    def pci_save(self, host: str, devices: list[dict[str, Any]]) -> None:
        with self.lock:
            before = {d["address"]: d for d in self.pci_get(host)} if self.on_write else {}
            self.db.execute("BEGIN")
            for d in devices:
                self.db.execute(
                    "INSERT INTO pci_devices VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(host, address) "
                    "DO UPDATE SET status=excluded.status, instance_uuid=excluded.instance_uuid",
                    (
                        host,
                        d["address"],
                        d["vendor_id"],
                        d["product_id"],
                        d["status"],
                        d["instance_uuid"],
                    ),
                )
            self.db.execute(
                "INSERT OR REPLACE INTO compute_nodes VALUES (?, ?, "
                "(SELECT COUNT(*) FROM pci_devices WHERE host=?))",
                (host, host, host),
            )
            self.db.execute("COMMIT")
            self.wake()
            for d in devices if self.on_write else ():
                was = before.get(d["address"], {})
                now = {"status": d["status"], "instance_uuid": d["instance_uuid"]}
                self._note("pci_devices", f"{host}/{d['address']}", was, now)

    def devices(self) -> list[dict[str, Any]]:
        return self._rows("SELECT * FROM pci_devices ORDER BY host, address")

    # -- instances ------------------------------------------------------------------------
    def instance_create(self, name: str, host: str, pci_count: int) -> str:
        uuid = _uuid4()
        self._write(
            "INSERT INTO instances (uuid, name, host, node, vm_state, task_state, "
            "pci_count) VALUES (?, ?, ?, ?, ?, ?, ?)",
            uuid,
            name,
            host,
            host,
            VmState.BUILDING,
            TaskState.SPAWNING,
            pci_count,
        )
        self._note("instances", uuid, {}, {"name": name, "host": host, "vm_state": "building"})
        return uuid

    @staticmethod
    def _instance(row: dict[str, Any]) -> dict[str, Any]:
        ctx = row["migration_context"]
        return row | {
            "migration_context": json.loads(ctx) if ctx else None,
            "deleted": bool(row["deleted"]),
        }

    def instance_get(self, uuid: str) -> dict[str, Any]:
        rows = self._rows("SELECT * FROM instances WHERE uuid=?", uuid)
        if not rows:
            raise LookupError(f"no server with uuid {uuid}")
        return self._instance(rows[0])

    def instance_by_name(self, name: str) -> dict[str, Any]:
        rows = self._rows("SELECT * FROM instances WHERE name=? AND deleted=0", name)
        if not rows:
            raise LookupError(f"no server named '{name}'")
        return self._instance(rows[0])

    def instances(self, include_deleted: bool = False) -> list[dict[str, Any]]:
        sql = "SELECT * FROM instances" + ("" if include_deleted else " WHERE deleted=0")
        return [self._instance(r) for r in self._rows(sql + " ORDER BY name")]

    def instance_list_by_host(self, host: str) -> list[dict[str, Any]]:
        rows = self._rows("SELECT * FROM instances WHERE host=? AND deleted=0", host)
        return [self._instance(r) for r in rows]

    def instance_save(self, uuid: str, updates: dict[str, Any]) -> None:
        bad = set(updates) - INSTANCE_FIELDS
        if bad:
            raise ValueError(f"instance field '{sorted(bad)[0]}' cannot be saved")
        values = {
            k: (json.dumps(v) if k == "migration_context" and v is not None else v)
            for k, v in updates.items()
        }
        values = {k: (int(v) if k == "deleted" else v) for k, v in values.items()}
        cols = ", ".join(f"{k}=?" for k in values)
        with self.lock:  # before and after of one write
            before = self.instance_get(uuid)
            self._write(f"UPDATE instances SET {cols} WHERE uuid=?", *values.values(), uuid)
            self._note("instances", uuid, before, updates)

    # -- migrations -----------------------------------------------------------------------
    def migration_create(
        self, uuid: str, source: str, dest: str, type: str = MigrationType.EVACUATION
    ) -> int:
        mid = self._write(
            "INSERT INTO migrations (instance_uuid, source, dest, type, status) "
            "VALUES (?, ?, ?, ?, ?)",
            uuid,
            source,
            dest,
            type,
            MigrationStatus.ACCEPTED,
        )
        new = {"instance_uuid": uuid, "source": source, "dest": dest, "type": type}
        new["status"] = MigrationStatus.ACCEPTED
        self._note("migrations", mid, {}, new)
        return mid

    def migration_get(self, migration_id: int) -> dict[str, Any]:
        rows = self._rows("SELECT * FROM migrations WHERE id=?", migration_id)
        if not rows:
            raise LookupError(f"no migration {migration_id}")
        return rows[0]

    def migration_query(
        self,
        host: str | None = None,
        source: str | None = None,
        dest: str | None = None,
        statuses: list[str] | None = None,
        in_progress: bool = False,
    ) -> list[dict[str, Any]]:
        sql, args = "SELECT * FROM migrations WHERE 1=1", []
        if host is not None:
            sql, args = sql + " AND (source=? OR dest=?)", args + [host, host]
        for col, value in (("source", source), ("dest", dest)):
            if value is not None:
                sql, args = sql + f" AND {col}=?", args + [value]
        if statuses is not None:
            sql += f" AND status IN ({','.join('?' * len(statuses))})"
            args += list(statuses)
        if in_progress:  # Nova's MigrationList.get_in_progress_and_error (simplified)
            sql += f" AND status NOT IN ({','.join('?' * len(MIGRATION_FINISHED))})"
            args += list(MIGRATION_FINISHED)
        return self._rows(sql + " ORDER BY id", *args)

    def migration_save(self, migration_id: int, status: str) -> None:
        if status not in list(MigrationStatus):
            raise ValueError(f"unknown migration status '{status}'")
        with self.lock:
            before = self.migration_get(migration_id)
            self._write("UPDATE migrations SET status=? WHERE id=?", status, migration_id)
            self._note("migrations", migration_id, before, {"status": status})
