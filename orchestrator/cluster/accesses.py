"""What a conductor request really touched of the state, checked against its footprint.

With ``cluster.check_footprints`` the conductor records every request it serves and compares
what the request's statements touched with the footprint its operation declares
(``orchestrator.cluster.footprint``); an access outside it is a *violation*, one line naming the
operation, the table, the column and the row. Only the ``Access`` objects and SQLite are
known here: it works on any system's store, whatever its tables.

How the accesses are found, on each watched connection (``Watch.attach``):

- the statements: SQLite's trace hook gives each statement a thread runs, with its bound
  values written in (only the recording thread's are kept);
- tables and columns: after the request, each statement is compiled again (``EXPLAIN``, which
  runs nothing) under SQLite's authorizer, which names every table and column it reads, every
  column an UPDATE sets, and every table an INSERT or DELETE changes;
- rows written: temporary triggers on every table hand each row an INSERT, UPDATE or DELETE
  changes (before and after) to a function of ours, during the write itself;
- rows read: each SELECT is run again with each table it reads replaced by a temporary view
  of the rows the footprint declares; a different result means a row outside them mattered,
  and the rows outside are tried one by one to name it.

Reads inside a write statement (a subquery of an INSERT) are checked by table only. A write
covers reads of the rows it selects. A footprint wider than what was touched is no violation:
the accesses no request of an operation ever used are reported as hints. Nothing is installed
while the check is off.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from orchestrator.cluster.footprint import Access

log = logging.getLogger("testbed.footprints")

PREFIX = "_fp_"  # our triggers, views and function: never a user's
SKIP = ("BEGIN", "COMMIT", "END", "ROLLBACK", "SAVEPOINT", "RELEASE", "PRAGMA", "--")
WRITES = {sqlite3.SQLITE_INSERT: "insert", sqlite3.SQLITE_DELETE: "delete"}
ROW_TRIES = 50  # rows outside a selection tried one by one to name the one that mattered


@dataclass
class Statement:
    db: sqlite3.Connection
    sql: str  # with its bound values written in
    rows: list[tuple[str, str, dict, dict]] = field(default_factory=list)  # table, kind, old, new


@dataclass
class Compiled:
    """What one statement touches by table: columns read, columns set, rows inserted or
    deleted (``WRITES``)."""

    reads: dict[str, set[str]] = field(default_factory=dict)
    sets: dict[str, set[str]] = field(default_factory=dict)
    changes: set[str] = field(default_factory=set)

    @property
    def writes(self) -> bool:
        return bool(self.sets or self.changes)


def selects(access: Access, row: Mapping[str, Any]) -> bool:
    """Does the access's row selection take this row?"""
    return all(c in row and _same(row[c], v) for c, v in access.rows.items())


def _same(a: Any, b: Any) -> bool:
    return a == b or str(a) == str(b)  # a body's "3" names the row whose id is 3


class Watch:
    """Records the statements one thread runs on the connections attached, and checks a
    request's against its footprint (``request``)."""

    def __init__(self) -> None:
        self.thread: int | None = None  # the recording thread; None: nothing is recorded
        self.statements: list[Statement] = []
        self.compiled: dict[str, Compiled] = {}
        self.locks: dict[int, Any] = {}  # id(db) -> the lock its owner holds around it
        self.violations: list[str] = []
        self.used: dict[str, list[bool]] = {}  # op -> which of its declared accesses were used
        self.declared: dict[str, list[Access]] = {}  # op -> its footprint, first seen

    # -- recording ----------------------------------------------------------------------
    def attach(self, db: sqlite3.Connection, lock: Any) -> None:
        """Watch a connection (``lock``: what its owner holds around each use of it)."""
        self.locks[id(db)] = lock
        with lock:
            db.execute("PRAGMA recursive_triggers=ON")  # a REPLACE's deleted row is seen too
            db.create_function(f"{PREFIX}row", 4, self._row)
            for (table,) in db.execute(
                "SELECT name FROM main.sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite%'"
            ).fetchall():
                self._triggers(db, table)
            # last: attached inside a request, our own statements are not the request's
            db.set_trace_callback(lambda sql: self._trace(db, sql))

    def _triggers(self, db: sqlite3.Connection, table: str) -> None:
        cols = [r[1] for r in db.execute(f"PRAGMA main.table_info({_q(table)})")]

        def obj(which: str) -> str:  # a row as JSON (which holds no BLOB: those as hex)
            values = (f"{which}.{_q(c)}" for c in cols)
            pairs = (
                f"{_text(c)}, CASE typeof({v}) WHEN 'blob' THEN hex({v}) ELSE {v} END"
                for c, v in zip(cols, values, strict=True)
            )
            return f"json_object({', '.join(pairs)})"

        for kind, old, new in (
            ("insert", "NULL", obj("NEW")),
            ("update", obj("OLD"), obj("NEW")),
            ("delete", obj("OLD"), "NULL"),
        ):
            db.execute(
                f"CREATE TEMP TRIGGER {_q(PREFIX + table + '_' + kind)} AFTER {kind.upper()} "
                f"ON main.{_q(table)} BEGIN SELECT {PREFIX}row({_text(table)}, '{kind}', {old}, "
                f"{new}); END"
            )

    def _trace(self, db: sqlite3.Connection, sql: str) -> None:
        if self.thread == threading.get_ident() and not sql.lstrip().upper().startswith(SKIP):
            self.statements.append(Statement(db, sql))

    def _row(self, table: str, kind: str, old: str | None, new: str | None) -> None:
        if self.thread == threading.get_ident() and self.statements:
            before, after = json.loads(old or "{}"), json.loads(new or "{}")
            self.statements[-1].rows.append((table, kind, before, after))

    @contextmanager
    def request(self, op: str, footprint: Callable[[], list[Access]]) -> Iterator[None]:
        """Record what the body of the ``with`` touches, then check it against ``footprint``
        (computed afterwards: a body the operation refused has none)."""
        self.thread, self.statements = threading.get_ident(), []
        try:
            yield
        finally:
            self.thread, statements = None, self.statements
            self.statements = []
            if statements:
                try:
                    declared = footprint()
                except Exception:  # a body the operation refused: its handler ran nothing
                    declared = None
                if declared is not None:
                    self._check(op, declared, statements)

    # -- checking -----------------------------------------------------------------------
    def _check(self, op: str, declared: list[Access], statements: list[Statement]) -> None:
        used = self.used.setdefault(op, [False] * len(declared))
        self.declared.setdefault(op, declared)
        if len(used) != len(declared):  # a footprint of varying length: count by the widest
            used.extend([False] * (len(declared) - len(used)))
        for st in statements:
            with self.locks[id(st.db)]:
                found = self._statement(op, declared, used, st)
            if found and found not in self.violations:
                log.error("%s", found)
                self.violations.append(found)

    def _statement(
        self, op: str, declared: list[Access], used: list[bool], st: Statement
    ) -> str | None:
        c = self._compile(st)
        for table, kind, old, new in st.rows:
            row = new if kind == "insert" else old
            sets = c.sets.get(table, set()) if kind == "update" else set()
            ok = False
            for i, a in enumerate(declared):
                if a.table == table and a.write and selects(a, row) and _may_set(a, sets):
                    used[i] = ok = True
            if not ok:
                cols = sorted(sets) or ["*"]
                bad = [s for s in cols if not any(_covers(a, table, row, s) for a in declared)]
                return _line(op, "wrote", table, (bad or cols)[0], self._key(st.db, table, row))
        for table, columns in c.reads.items():
            mine = [i for i, a in enumerate(declared) if a.table == table]
            if not mine:
                return _line(op, "read", table, _cols(st.db, table, columns), "any row")
            for i in mine:
                used[i] = True  # counted by table: which rows a read needed is not known
            if c.writes or any(not declared[i].rows for i in mine):
                continue  # reads of a write statement: by table only; or every row declared
            row = self._outside(st, table, [declared[i] for i in mine])
            if row is not None:
                return _line(op, "read", table, _cols(st.db, table, columns), row)
        return None

    def _compile(self, st: Statement) -> Compiled:
        """The tables and columns the statement touches, from SQLite's authorizer."""
        if st.sql in self.compiled:
            return self.compiled[st.sql]
        c = Compiled()

        def authorize(action: int, a: str | None, b: str | None, db: Any, by: Any) -> int:
            if (by or "").startswith(PREFIX) or not a or a.startswith("sqlite_"):
                return sqlite3.SQLITE_OK  # our triggers, or the schema itself
            if action == sqlite3.SQLITE_READ:
                c.reads.setdefault(a, set()).add(b or "")
            elif action == sqlite3.SQLITE_UPDATE:
                c.sets.setdefault(a, set()).add(b or "")
            elif action in WRITES:
                c.changes.add(a)
            return sqlite3.SQLITE_OK

        st.db.set_authorizer(authorize)
        try:
            st.db.execute(f"EXPLAIN {st.sql}").fetchall()
        finally:
            st.db.set_authorizer(None)
        if len(self.compiled) > 4096:  # values are written in: keep only the recent ones
            self.compiled.clear()
        self.compiled[st.sql] = c
        return c

    def _outside(self, st: Statement, table: str, declared: list[Access]) -> str | None:
        """The key of a row outside the declared selections that the SELECT's result depends
        on (``"rows outside ..."`` if no single one does), or None."""
        db = st.db
        where = " OR ".join(
            "(" + " AND ".join(f"{_q(k)} = {_literal(db, v)}" for k, v in a.rows.items()) + ")"
            for a in declared
        )
        try:
            full = _result(db, st.sql)
            inside = self._shadowed(db, table, where, st.sql)
            if inside == full:
                return None
            others = db.execute(
                f"SELECT rowid, * FROM main.{_q(table)} WHERE NOT coalesce({where}, 0) "
                f"LIMIT {ROW_TRIES}"
            )
            for rowid, *_ in others.fetchall():
                if self._shadowed(db, table, f"{where} OR rowid = {rowid}", st.sql) != inside:
                    row = db.execute(f"SELECT * FROM main.{_q(table)} WHERE rowid = {rowid}")
                    names = [d[0] for d in row.description]
                    return self._key(db, table, dict(zip(names, row.fetchone(), strict=True)))
        except sqlite3.Error as exc:  # a statement no view can stand in for: rows unchecked
            log.warning("footprint: rows of '%s' not checked: %s", st.sql, exc)
            return None
        return f"rows outside {where}"

    @staticmethod
    def _shadowed(db: sqlite3.Connection, table: str, where: str, sql: str) -> list[str]:
        """The result of ``sql`` with ``table`` cut down to the rows ``where`` takes (a
        temporary view of the same name is found before the table)."""
        db.execute(f"CREATE TEMP VIEW {_q(table)} AS SELECT * FROM main.{_q(table)} WHERE {where}")
        try:
            return _result(db, sql)
        finally:
            db.execute(f"DROP VIEW temp.{_q(table)}")

    @staticmethod
    def _key(db: sqlite3.Connection, table: str, row: Mapping[str, Any]) -> str:
        """The row named by its primary key (by all its columns if it has none)."""
        info = [r for r in db.execute(f"PRAGMA main.table_info({_q(table)})") if r[5]]
        pk = [r[1] for r in sorted(info, key=lambda r: r[5])] or sorted(row)
        return ",".join(f"{c}={row.get(c)}" for c in pk)

    def hints(self) -> list[str]:
        """Declared accesses no request of their operation used (a wider footprint than
        needed: allowed, but it costs the explorer schedules)."""
        return [
            f"footprint hint: {op} declares {self.declared[op][i]} and never touched it"
            for op, used in sorted(self.used.items())
            for i, u in enumerate(used)
            if not u and i < len(self.declared[op])
        ]


def _may_set(a: Access, sets: set[str]) -> bool:
    """May the access set these columns? Its named ones, or all but those it selects by."""
    return sets <= a.columns if a.columns else not sets & set(a.rows)


def _covers(a: Access, table: str, row: Mapping[str, Any], column: str) -> bool:
    return a.table == table and a.write and selects(a, row) and _may_set(a, {column} - {"*"})


def _cols(db: sqlite3.Connection, table: str, columns: set[str]) -> str:
    every = {r[1] for r in db.execute(f"PRAGMA main.table_info({_q(table)})")}
    named = sorted(columns - {""})
    return "*" if not named or set(named) >= every else ",".join(named)


def _line(op: str, verb: str, table: str, column: str, row: str) -> str:
    return f"footprint: {op} {verb} {table}.{column} of {row} not declared"


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _text(name: str) -> str:
    return "'" + name.replace("'", "''") + "'"


def _literal(db: sqlite3.Connection, value: Any) -> str:
    """A value as an SQL literal (a view takes no bound parameters)."""
    return db.execute("SELECT quote(?)", (value,)).fetchone()[0]


def _result(db: sqlite3.Connection, sql: str) -> list[str]:
    # as a multiset: a view keeps no order
    return sorted(repr(tuple(r)) for r in db.execute(sql).fetchall())
