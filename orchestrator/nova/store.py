"""The nova system's state: the cluster's generic store (services, tasks: ``state.sqlite``)
and beside it, in the same run directory, a SQLite file with Nova's main-database schema
(``nova.sqlite``), with Nova configured in the orchestrator's process to use it.

Two files, not one: Nova's schema has a ``services`` table of its own, which the generic
store's would clash with. The schema is made from Nova's SQLAlchemy models
(``nova.db.main.models.BASE.metadata.create_all``), not by running its migrations
(``nova.db.migration.db_sync``): the models are what Nova's code reads and writes, they make
the 30 tables the conductor's object methods use in a fraction of the time (0.05-0.3 s against
0.5-0.7 s here), and a run's file is new every time, so there is no schema history to upgrade.
Shadow and legacy tables are left out.

The database is reached through a context manager made for this file
(``nova.db.main.api.create_context_manager``) and carried by each request context
(``context.db_connection``), as Nova does for a cell: two clusters in one process keep their
own files, and nothing reaches a database by accident. Every access holds the store's lock (the
conductor's thread and the API's callers share the file), and every object write notifies
``changed`` and tells ``on_write`` what it changed.
"""

from __future__ import annotations

import functools
import logging
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import nova.conf
import nova.config
import sqlalchemy
from nova import context as nova_context
from nova import objects
from nova.db.main import api as db_api
from nova.db.main import models

from orchestrator.cluster.state import State
from orchestrator.nova import footprint
from testbed.config import Config
from testbed.systems.nova import nova_conf

if TYPE_CHECKING:
    from orchestrator.cluster.accesses import Watch

CONF = nova.conf.CONF


_COPYING = threading.Lock()


@functools.cache
def _schema() -> sqlite3.Connection:
    """Nova's main-database tables, made from Nova's models once per process, in memory:
    made in a file for each cluster, they took a second or two of every run's start."""
    engine = sqlalchemy.create_engine(
        "sqlite://",
        poolclass=sqlalchemy.pool.StaticPool,
        connect_args={"check_same_thread": False},  # copied from any cluster's thread
    )
    models.BASE.metadata.create_all(engine)
    return engine.raw_connection().driver_connection


def create_schema(path: Path) -> None:
    """Nova's main-database tables in a new SQLite file at ``path`` (a copy of ``_schema``)."""
    target = sqlite3.connect(path)
    try:
        with _COPYING:
            _schema().backup(target)
    finally:
        target.close()


def configure(config: Config, store: NovaStore) -> None:
    """Configure Nova in this process as nova-conductor and nova-api are (again for each
    cluster: the configuration is the process's). ``[database] connection`` names the run's
    file only because Nova's name filters ask it which database type they query; every
    request context carries its own database."""
    workdir = store.nova_path.parent
    path = workdir / "nova-orchestrator.conf"
    path.write_text(nova_conf(config, lock_path=str(workdir)))
    CONF.clear()
    root = logging.getLogger()
    before = list(root.handlers)
    nova.config.parse_args(["nova-conductor", "--config-file", str(path)], configure_db=False)
    for handler in [h for h in root.handlers if h not in before]:
        # parsing puts a console handler on the root logger: the run's log is testbed's own,
        # on the console only with -v, as with the model
        root.removeHandler(handler)
    CONF.set_override("connection", f"sqlite:///{store.nova_path}", group="database")
    objects.register_all()


class Kept(sqlite3.Connection):
    """A connection of Nova's engine whose closing gives it back (``NovaStore.watch``)."""

    kept: list[Kept]

    def close(self) -> None:
        self.rollback()  # as a new one: no transaction left open
        self.kept.append(self)


class NovaStore(State):
    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.nova_path = Path(path).with_name("nova.sqlite")
        create_schema(self.nova_path)
        self.manager = db_api.create_context_manager(f"sqlite:///{self.nova_path}")
        # a run's own file, as state.sqlite: no fsync at each commit (the run ends with it)
        self.manager.configure(sqlite_synchronous=False)
        self.kept: list[Kept] = []  # Nova's connections not in use, while watched
        self.unwatch: Callable[[], None] = lambda: None
        self._guard = threading.Lock()

    def context(self, ctx: Any = None, deleted: bool = False) -> Any:
        """``ctx`` (default: a new admin context) on this database; ``deleted`` reads deleted
        rows too."""
        ctx = nova_context.get_admin_context("yes" if deleted else "no") if ctx is None else ctx
        ctx.db_connection = self.manager
        return ctx

    def watch(self, watch: Watch) -> None:
        """Footprints checked on Nova's database too (``cluster.check_footprints``). Nova's
        engine opens a connection for each transaction and closes it after (oslo.db's pool for
        a SQLite file); watching one is costly (a trigger on each of Nova's tables), so while
        watched the engine's connections are kept: each is watched once, when it is made, and
        closing one gives it back for the next transaction (``Kept``)."""
        super().watch(watch)
        engine = self.manager.writer.get_engine()  # the reader's too: there is no other

        def connect(_dialect: Any, _record: Any, cargs: Any, cparams: Any) -> sqlite3.Connection:
            with self._guard:
                if self.kept:
                    return self.kept.pop()
            # shared by the conductor's and the API's threads, one at a time (the store's lock)
            db = sqlite3.connect(*cargs, **(cparams | {"check_same_thread": False}), factory=Kept)
            db.kept = self.kept
            watch.attach(db, self.lock)
            return db

        sqlalchemy.event.listen(engine, "do_connect", connect)
        self.unwatch = lambda: sqlalchemy.event.remove(engine, "do_connect", connect)

    def written(self, body: dict[str, Any]) -> None:
        """After an object call: wake the waiters; tell the history what a write changed."""
        with self.lock:
            self.wake()
            change = footprint.changes(body) if self.on_write else None
            if change:
                self._note(change[0], change[1], {}, change[2])

    def close(self) -> None:
        super().close()
        self.manager.dispose_pool()  # the file stays for inspection; no connection does
        self.unwatch()  # the engine may outlive the run: it must not keep the watch alive
        with self._guard:
            for db in self.kept:
                sqlite3.Connection.close(db)
            self.kept.clear()
