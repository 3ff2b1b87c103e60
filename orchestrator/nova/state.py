"""The state of the nova system: a SQLite file with Nova's main-database schema, and Nova
configured in the orchestrator's process to use it.

The schema is made from Nova's SQLAlchemy models (``nova.db.main.models.BASE.metadata.
create_all``), not by running its migrations (``nova.db.migration.db_sync``): the models are
what Nova's code reads and writes, they make the 30 tables the conductor's object methods use
in a fraction of the time (0.05-0.3 s against 0.5-0.7 s here), and a run's file is new every
time, so there is no schema history to upgrade. Shadow and legacy tables are left out.
"""

from __future__ import annotations

import os
from typing import Any

import nova.conf
import nova.config
import sqlalchemy
from nova import context as nova_context
from nova import objects
from nova.db.main import api as db_api
from nova.db.main import models

from testbed.config import Config
from testbed.nova_conf import nova_conf

CONF = nova.conf.CONF


def create_schema(path: str) -> None:
    """Nova's main-database tables in a new SQLite file at ``path``."""
    engine = sqlalchemy.create_engine(f"sqlite:///{path}")
    try:
        models.BASE.metadata.create_all(engine)
    finally:
        engine.dispose()


class Database:
    """A run's database: its file, and Nova's context manager for it.

    The context manager is one Nova makes for a cell's database
    (``nova.db.main.api.create_context_manager``), carried by each request context
    (``context.db_connection``), not the process's global one: two clusters in one process
    (a test session) each keep their own file, and nothing reaches a database by accident."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.manager = db_api.create_context_manager(f"sqlite:///{path}")

    def context(self, ctx: Any = None) -> Any:
        """``ctx`` (default: a new admin context) on this database."""
        ctx = nova_context.get_admin_context() if ctx is None else ctx
        ctx.db_connection = self.manager
        return ctx


def configure(config: Config, workdir: str) -> Database:
    """Configure Nova in this process as nova-conductor and nova-api are, on a new database
    file in ``workdir``."""
    database = os.path.join(workdir, "nova.sqlite")
    create_schema(database)
    path = os.path.join(workdir, "nova-orchestrator.conf")
    with open(path, "w") as fh:
        fh.write(nova_conf(config, lock_path=workdir))
    CONF.clear()  # a second cluster in this process parses again
    nova.config.parse_args(["nova-conductor", "--config-file", path], configure_db=False)
    objects.register_all()
    return Database(database)
