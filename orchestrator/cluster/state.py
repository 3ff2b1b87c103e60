"""The cluster's state in one SQLite file per run: the generic tables (services, tasks) here,
and the system under test's own tables beside them, in a subclass its orchestrator side opens
(``testbed.system.OrchestratorSystem.open_store``; the model's: ``orchestrator.model.store``).
Shared by the conductor thread and API callers behind one lock; ``changed`` is notified on
every write so that waits wake up instead of polling blindly.

``on_write``, when set (the run's history), hears what each write changed, before -> after.
It stores and answers: it must not decide anything about the race (the hosts and the API do),
and every write must notify ``changed``. Heartbeats are the one thing kept in memory: they are
most of the conductor's traffic, change nothing but a time, and wake no waiter; ``close``
writes each host's last one to the file."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from testbed.vocabulary import TaskStatus

if TYPE_CHECKING:
    from orchestrator.cluster.accesses import Watch

SCHEMA = """
CREATE TABLE services (host TEXT PRIMARY KEY, pid INTEGER, forced_down INTEGER DEFAULT 0,
                       last_seen REAL, registered REAL);
CREATE TABLE tasks (id TEXT PRIMARY KEY, host TEXT, op TEXT, state TEXT, error TEXT,
                    crashed INTEGER DEFAULT 0);
"""
# (table, row key, {column: [before, after]}); before is None for a new row
OnWrite = Callable[[str, str, dict[str, list[Any]]], None]


class State:
    SCHEMA = SCHEMA  # a system's subclass adds its own tables

    def __init__(self, path: Path) -> None:
        self.path = path
        self.db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.db.row_factory = sqlite3.Row
        # A run's file outlives the run for inspection, not an OS crash: no fsync per commit.
        self.db.execute("PRAGMA synchronous=OFF")
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.executescript(f"BEGIN;{self.SCHEMA}COMMIT;")  # one commit for the whole schema
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.on_write: OnWrite | None = None
        self.seen: dict[str, tuple[int, float]] = {}  # host -> (registered pid, last heartbeat)
        self._tasks: list[dict[str, Any]] | None = None  # the tasks table, as last read
        self._quiet = threading.local()

    def wake(self) -> None:
        """Wake every wait on the state (a write changed it); inside ``quiet``, once it ends."""
        if getattr(self._quiet, "on", False):
            self._quiet.dirty = True
            return
        with self.lock:
            self.changed.notify_all()

    @contextlib.contextmanager
    def quiet(self) -> Iterator[None]:
        """The waits are woken once at the end of the ``with`` (if a write changed the state),
        not after each write: the conductor serves a request and sends its reply first, and a
        wait sees the request's writes all at once."""
        self._quiet.on, self._quiet.dirty = True, False
        try:
            yield
        finally:
            self._quiet.on = False
            if self._quiet.dirty:
                self.wake()

    def watch(self, watch: Watch) -> None:
        """Let ``watch`` see what each statement touches (``cluster.check_footprints``); a
        store with connections of its own attaches them too."""
        watch.attach(self.db, self.lock)

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
            self.wake()
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

    # -- tasks ----------------------------------------------------------------------------
    def task_create(self, host: str, op: str) -> str:
        task = os.urandom(16).hex()
        with self.lock:  # the table as last read is stale from this write on
            self._write(
                "INSERT INTO tasks (id, host, op, state) VALUES (?, ?, ?, ?)",
                task,
                host,
                op,
                TaskStatus.RUNNING,
            )
            self._tasks = None
        self._note("tasks", task, {}, {"host": host, "op": op, "state": TaskStatus.RUNNING})
        return task

    def task_done(
        self, task: str, ok: bool, error: str | None = None, crashed: bool = False
    ) -> None:
        """``crashed``: the host's code raised what it does not expect (a bug of the system
        under test, not a refusal, a lost host or a hold that gave up)."""
        state = TaskStatus.DONE if ok else TaskStatus.FAILED
        with self.lock:
            self._write(
                "UPDATE tasks SET state=?, error=?, crashed=? WHERE id=?",
                state,
                error,
                crashed,
                task,
            )
            self._tasks = None
        extra = ({"error": error} if error else {}) | ({"crashed": True} if crashed else {})
        self._note("tasks", task, {}, {"state": state} | extra)

    def task_get(self, task: str) -> dict[str, Any]:
        rows = [t for t in self._all_tasks() if t["id"] == task]
        if not rows:
            raise LookupError(f"no task {task}")
        return dict(rows[0])

    def tasks(self, host: str | None = None) -> list[dict[str, Any]]:
        """Every task of ``host`` (of every host when None), in the order they were made."""
        return [dict(t) for t in self._all_tasks() if host is None or t["host"] == host]

    def tasks_running(self, host: str | None = None) -> list[dict[str, Any]]:
        return [t for t in self.tasks(host) if t["state"] == TaskStatus.RUNNING]

    def _all_tasks(self) -> list[dict[str, Any]]:
        """The tasks table, read again only after a task was made or ended (it is read many
        times between two of its writes: every wait looks at it)."""
        with self.lock:
            if self._tasks is None:
                self._tasks = self._rows("SELECT * FROM tasks ORDER BY rowid")
            return self._tasks
