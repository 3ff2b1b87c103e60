"""The cluster's state in one SQLite file per run: services, compute nodes, PCI devices,
instances, migrations, tasks. Shared by the conductor thread and API callers behind one lock;
``changed`` is notified on every write so that waits wake up instead of polling blindly.

``on_write``, when set (the run's history), hears what each write changed, before -> after.
It stores and answers: it must not decide anything about the race (the hosts and the API do),
and every write must notify ``changed``. Heartbeats are the one thing kept in memory: they are
most of the conductor's traffic, change nothing but a time, and wake no waiter; ``close``
writes each host's last one to the file."""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from testbed.vocabulary import (
    MIGRATION_FINISHED,
    MigrationStatus,
    MigrationType,
    TaskState,
    TaskStatus,
    VmState,
)

SCHEMA = """
CREATE TABLE services (host TEXT PRIMARY KEY, pid INTEGER, forced_down INTEGER DEFAULT 0,
                       last_seen REAL, registered REAL);
CREATE TABLE compute_nodes (host TEXT PRIMARY KEY, node TEXT, pci_total INTEGER);
CREATE TABLE pci_devices (host TEXT, address TEXT, vendor_id TEXT, product_id TEXT,
                          status TEXT, instance_uuid TEXT, PRIMARY KEY (host, address));
CREATE TABLE instances (uuid TEXT PRIMARY KEY, name TEXT, host TEXT, node TEXT,
                        vm_state TEXT, task_state TEXT, pci_count INTEGER,
                        migration_context TEXT, deleted INTEGER DEFAULT 0);
CREATE TABLE migrations (id INTEGER PRIMARY KEY AUTOINCREMENT, instance_uuid TEXT,
                         source TEXT, dest TEXT, type TEXT, status TEXT);
CREATE TABLE tasks (id TEXT PRIMARY KEY, host TEXT, op TEXT, state TEXT, error TEXT,
                    crashed INTEGER DEFAULT 0);
"""
INSTANCE_FIELDS = {"host", "node", "vm_state", "task_state", "migration_context", "deleted"}
# (table, row key, {column: [before, after]}); before is None for a new row
OnWrite = Callable[[str, str, dict[str, list[Any]]], None]


def _uuid4() -> str:
    """A random (version 4) UUID, as Nova names instances; the uuid module costs a start-up
    import of its own (platform) for what is sixteen random bytes."""
    b = bytearray(os.urandom(16))
    b[6], b[8] = (b[6] & 0x0F) | 0x40, (b[8] & 0x3F) | 0x80
    h = b.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


class State:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.db.row_factory = sqlite3.Row
        # A run's file outlives the run for inspection, not an OS crash: no fsync per commit.
        self.db.execute("PRAGMA synchronous=OFF")
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.executescript(f"BEGIN;{SCHEMA}COMMIT;")  # one commit for the whole schema
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.on_write: OnWrite | None = None
        self.seen: dict[str, tuple[int, float]] = {}  # host -> (registered pid, last heartbeat)

    def _note(self, table: str, key: Any, before: dict[str, Any], after: dict[str, Any]) -> None:
        """Tell ``on_write`` which columns changed, after the write."""
        if self.on_write is not None:
            diff = {k: [before.get(k), v] for k, v in after.items() if before.get(k) != v}
            if diff:
                self.on_write(table, str(key), diff)

    def close(self) -> None:
        with self.lock:
            for host, (pid, last) in self.seen.items():
                self.db.execute(
                    "UPDATE services SET last_seen=? WHERE host=? AND pid=?", (last, host, pid)
                )
            self.db.close()

    def _rows(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(r) for r in self.db.execute(sql, args)]

    def _write(self, sql: str, *args: Any) -> int:
        with self.lock:
            cur = self.db.execute(sql, args)
            self.changed.notify_all()
            return cur.lastrowid

    # -- services -------------------------------------------------------------------------
    def register(self, host: str, pid: int) -> None:
        now = time.time()
        with self.lock:
            self.seen[host] = (pid, now)
        self._write(
            "INSERT INTO services (host, pid, last_seen, registered) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(host) DO UPDATE SET pid=excluded.pid, last_seen=excluded.last_seen, "
            "registered=excluded.registered",
            host,
            pid,
            now,
            now,
        )
        self._note("services", host, {}, {"pid": pid})

    def heartbeat(self, host: str, pid: int) -> None:
        # Only the registered incarnation counts: a stale process must not keep a host up.
        with self.lock:
            if self.seen.get(host, (None,))[0] == pid:
                self.seen[host] = (pid, time.time())

    def services(self) -> dict[str, dict[str, Any]]:
        with self.lock:
            rows = self._rows("SELECT * FROM services")
            for r in rows:
                pid, last = self.seen.get(r["host"], (None, None))
                r["last_seen"] = last if pid == r["pid"] else None
            return {r["host"]: r for r in rows}

    def set_forced_down(self, host: str, down: bool) -> None:
        self._write("UPDATE services SET forced_down=? WHERE host=?", int(down), host)
        self._note("services", host, {}, {"forced_down": down})

    def forget_service(self, host: str) -> None:
        """A host about to be (re)started is not up until it registers again."""
        with self.lock:
            self.seen.pop(host, None)
        self._write("UPDATE services SET last_seen=NULL, registered=NULL WHERE host=?", host)

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
            self.changed.notify_all()
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

    # -- tasks ----------------------------------------------------------------------------
    def task_create(self, host: str, op: str) -> str:
        task = os.urandom(16).hex()
        self._write(
            "INSERT INTO tasks (id, host, op, state) VALUES (?, ?, ?, ?)",
            task,
            host,
            op,
            TaskStatus.RUNNING,
        )
        self._note("tasks", task, {}, {"host": host, "op": op, "state": TaskStatus.RUNNING})
        return task

    def task_done(
        self, task: str, ok: bool, error: str | None = None, crashed: bool = False
    ) -> None:
        """``crashed``: the host's code raised what it does not expect (a bug of the system
        under test, not a refusal, a lost host or a hold that gave up)."""
        state = TaskStatus.DONE if ok else TaskStatus.FAILED
        self._write(
            "UPDATE tasks SET state=?, error=?, crashed=? WHERE id=?", state, error, crashed, task
        )
        extra = ({"error": error} if error else {}) | ({"crashed": True} if crashed else {})
        self._note("tasks", task, {}, {"state": state} | extra)

    def task_get(self, task: str) -> dict[str, Any]:
        rows = self._rows("SELECT * FROM tasks WHERE id=?", task)
        if not rows:
            raise LookupError(f"no task {task}")
        return rows[0]

    def tasks(self, host: str | None = None) -> list[dict[str, Any]]:
        """Every task of ``host`` (of every host when None), in the order they were made."""
        if host is None:
            return self._rows("SELECT * FROM tasks ORDER BY rowid")
        return self._rows("SELECT * FROM tasks WHERE host=? ORDER BY rowid", host)

    def tasks_running(self, host: str | None = None) -> list[dict[str, Any]]:
        if host is None:
            return self._rows("SELECT * FROM tasks WHERE state=?", TaskStatus.RUNNING)
        return self._rows("SELECT * FROM tasks WHERE state=? AND host=?", TaskStatus.RUNNING, host)
