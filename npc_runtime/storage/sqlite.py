"""One SQLite file per runtime, in WAL mode, shared by the concerns (world, memory, ...).

Each concern owns a *namespace* of tables and registers an ordered list of migrations for it;
the applied version per namespace is kept in ``schema_versions``. The file is stamped with an
``application_id`` so that a foreign SQLite file is refused instead of being written into.

Durability: every write goes through :meth:`Database.transaction`, which commits before it
returns. With WAL and ``synchronous=NORMAL`` a committed transaction survives the process being
killed (``kill -9``); ``synchronous=FULL`` (``durability="full"``) also survives power loss.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

from ..errors import StorageError

# "NPCR" as a 32-bit big-endian integer; stamped into the file header by PRAGMA application_id.
APPLICATION_ID = 0x4E504352


class Database:
    """A SQLite connection with migrations, foreign-file detection and explicit transactions.

    The connection is used from the runtime's event-loop thread; a lock guards it so tools and
    tests may also call it from helper threads.
    """

    dialect: Literal["sqlite"] = "sqlite"
    shared = False  # one process owns the file (cluster mode's is :class:`.shared.SharedDatabase`)

    def __init__(
        self,
        path: str | Path,
        *,
        durability: Literal["normal", "full"] = "normal",
    ) -> None:
        self.path = str(path)
        self._lock = threading.RLock()
        is_memory = self.path == ":memory:"
        if not is_memory:
            p = Path(self.path)
            p.parent.mkdir(parents=True, exist_ok=True)
            existed = p.exists() and p.stat().st_size > 0
        else:
            existed = False
        try:
            self.conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            app_id = self.conn.execute("PRAGMA application_id").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            raise StorageError(
                f"{self.path} is not a readable SQLite database ({exc}); "
                "move it aside or point the runtime at another --db file"
            ) from exc
        if existed and app_id != APPLICATION_ID:
            self.conn.close()
            raise StorageError(
                f"{self.path} is a SQLite file of another application (application_id={app_id:#x}); "
                "refusing to write into it. Use another --db path."
            )
        try:
            check = self.conn.execute("PRAGMA quick_check").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            self.conn.close()
            raise StorageError(f"{self.path} is corrupt ({exc}); restore it from a backup") from exc
        if check != "ok":
            self.conn.close()
            raise StorageError(f"{self.path} failed its integrity check: {check}")
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute(f"PRAGMA synchronous={'FULL' if durability == 'full' else 'NORMAL'}")
        self.conn.execute("PRAGMA foreign_keys=ON")
        self.conn.execute(f"PRAGMA application_id={APPLICATION_ID}")
        self.conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_versions (namespace TEXT PRIMARY KEY, version INTEGER NOT NULL)"
        )

    # -- schema -----------------------------------------------------------------------------
    def migrate(self, namespace: str, migrations: Sequence[str]) -> int:
        """Apply the migrations of ``namespace`` not yet applied; returns the new version.

        A file whose version for the namespace is newer than this code knows is refused.
        """
        with self._lock:
            row = self.conn.execute(
                "SELECT version FROM schema_versions WHERE namespace=?", (namespace,)
            ).fetchone()
            current = row[0] if row else 0
            if current > len(migrations):
                raise StorageError(
                    f"{self.path}: the '{namespace}' tables are at schema version {current}, newer "
                    f"than this runtime knows ({len(migrations)}); upgrade npc-runtime"
                )
            for version in range(current + 1, len(migrations) + 1):
                with self.transaction() as conn:
                    for statement in _split_sql(migrations[version - 1]):
                        conn.execute(statement)
                    conn.execute(
                        "INSERT INTO schema_versions(namespace, version) VALUES(?, ?) "
                        "ON CONFLICT(namespace) DO UPDATE SET version=excluded.version",
                        (namespace, version),
                    )
            return len(migrations)

    # -- transactions -----------------------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT``; rolls back on any exception. Re-entrant."""
        with self._lock:
            if self.conn.in_transaction:
                yield self.conn
                return
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            else:
                self.conn.execute("COMMIT")

    def execute(self, sql: str, params: Sequence[object] = ()) -> sqlite3.Cursor:
        with self._lock:
            return self.conn.execute(sql, params)

    def close(self) -> None:
        with self._lock:
            self.conn.close()


def _split_sql(script: str) -> list[str]:
    """Split a migration script into statements (our migrations hold no ';' inside literals)."""
    parts: list[str] = []
    buf = ""
    for piece in script.split(";"):
        buf += piece
        if sqlite3.complete_statement(buf + ";"):
            if buf.strip():
                parts.append(buf.strip())
            buf = ""
        else:
            buf += ";"
    if buf.strip():
        parts.append(buf.strip())
    return parts
