"""The runtime's database in PostgreSQL (cluster mode), with the small SQLite-like surface the
concerns use: ``execute(sql, params)`` returning rows, ``transaction()`` yielding something with
``execute``/``executemany``, ``migrate(namespace, migrations)``.

SQL is written once with ``?`` placeholders where it is portable; this adapter turns them into
psycopg's ``%s``. Where the dialects differ (full-text search, identity columns), the concern
branches on :attr:`SharedDatabase.dialect`. Every transaction checks the conversation's fence
(:data:`.postgres.current_fence`) first, like the world store's writes.

One connection serves the world store and the memory store, so a ``load`` writes both in one
PostgreSQL transaction.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Literal

from .postgres import PgDatabase, is_postgres_url, psycopg_module
from .sqlite import Database


def _pg_sql(sql: str) -> bytes:
    """``?`` placeholders to ``%s`` (the runtime's SQL holds no ``?`` or ``%`` in literals)."""
    return sql.replace("%", "%%").replace("?", "%s").encode()


class Rows:
    """The rows a statement returned, read like a :class:`sqlite3.Cursor`."""

    def __init__(self, rows: list[tuple[Any, ...]], rowcount: int) -> None:
        self.rows, self.rowcount = rows, rowcount
        self._at = 0

    def fetchone(self) -> Any:
        if self._at >= len(self.rows):
            return None
        self._at += 1
        return self.rows[self._at - 1]

    def fetchall(self) -> list[Any]:
        out, self._at = self.rows[self._at :], len(self.rows)
        return out

    def __iter__(self) -> Iterator[Any]:
        return iter(self.fetchall())


class PgConn:
    """A transaction's cursor with sqlite3's ``execute``/``executemany``. A unique or foreign-key
    violation is raised as :class:`sqlite3.IntegrityError`, so callers catch one type."""

    def __init__(self, cur: Any) -> None:
        self.cur = cur

    def execute(self, sql: str, params: Sequence[object] = ()) -> Rows:
        pg = psycopg_module()
        try:
            self.cur.execute(_pg_sql(sql), params)
        except pg.errors.IntegrityError as exc:
            raise sqlite3.IntegrityError(str(exc)) from exc
        return Rows(self.cur.fetchall() if self.cur.description else [], self.cur.rowcount)

    def executemany(self, sql: str, seq: Sequence[Sequence[object]]) -> Rows:
        pg = psycopg_module()
        seq = list(seq)
        if not seq:
            return Rows([], 0)
        try:
            self.cur.executemany(_pg_sql(sql), seq)
        except pg.errors.IntegrityError as exc:
            raise sqlite3.IntegrityError(str(exc)) from exc
        return Rows([], self.cur.rowcount)


class SharedDatabase:
    """The runtime's durable state in PostgreSQL (``dialect == "postgres"``)."""

    dialect: Literal["postgres"] = "postgres"
    shared = True

    def __init__(self, dsn: str, name: str = "npc-runtime") -> None:
        self.pg = PgDatabase(dsn, name)
        self.path = self.pg.path

    def migrate(self, namespace: str, migrations: Sequence[str]) -> int:
        return self.pg.migrate(namespace, migrations)

    @contextmanager
    def transaction(self) -> Iterator[PgConn]:
        """One fenced transaction (re-entrant: inside another, it joins it)."""
        with self.pg.transaction() as cur:
            yield PgConn(cur)

    def execute(self, sql: str, params: Sequence[object] = ()) -> Rows:
        """One statement in its own implicit transaction (reads: one round trip, no BEGIN/COMMIT)."""
        rows, rowcount = self.pg.query(_pg_sql(sql).decode(), params)
        return Rows(rows, rowcount)

    def close(self) -> None:
        self.pg.close()


SqlDatabase = Database | SharedDatabase
SqlConnection = sqlite3.Connection | PgConn  # what a load transaction hands to ``load_part``


def shared_dsn(db: str, world: dict[str, Any] | None) -> str | None:
    """The PostgreSQL URL the runtime keeps its state in: ``db`` itself when it is one, else the
    world's ``shared_db`` (cluster mode puts memory next to the shared world); None for SQLite."""
    if is_postgres_url(db):
        return db
    dsn = (world or {}).get("shared_db")
    return str(dsn) if dsn else None


def open_database(
    db: str, world: dict[str, Any] | None, durability: Literal["normal", "full"]
) -> SqlDatabase:
    dsn = shared_dsn(db, world)
    if dsn is None:
        return Database(db, durability=durability)
    # named by a cluster worker's id, so moving a conversation can end a stuck owner's sessions
    return SharedDatabase(dsn, name=str((world or {}).get("owner") or "npc-runtime"))
