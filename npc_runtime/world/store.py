"""World state and the event log in SQLite (the runtime's shared :class:`Database`, WAL mode).

The engine does no I/O; this store is what the runtime injects. Every applied event is written in
*one* transaction together with the state rows it changed, so an event the runtime acknowledged
survives ``kill -9``. The log is split into *epochs*: epoch 1 starts from the world's initial
state, and every load of a save (or reconciliation with a changed world file) starts a new epoch
whose snapshot is stored, so any epoch replays deterministically: snapshot + its events.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

import msgpack

from ..errors import StorageError
from ..storage import Database
from .engine import Changes, Engine, WorldEvent
from .state import WorldState

NAMESPACE = "world"
MIGRATIONS = [
    """
    CREATE TABLE world_meta (key TEXT PRIMARY KEY, value BLOB);
    CREATE TABLE world_vars (name TEXT PRIMARY KEY, value BLOB NOT NULL);
    CREATE TABLE world_quests (quest TEXT PRIMARY KEY, state TEXT NOT NULL);
    CREATE TABLE world_relations (src TEXT NOT NULL, type TEXT NOT NULL, dst TEXT NOT NULL,
                                  PRIMARY KEY (src, type, dst));
    CREATE TABLE world_knowledge (npc TEXT NOT NULL, fact TEXT NOT NULL, since REAL NOT NULL,
                                  source TEXT NOT NULL, PRIMARY KEY (npc, fact));
    CREATE TABLE world_event_facts (fact TEXT PRIMARY KEY, text TEXT NOT NULL);
    CREATE TABLE world_epochs (epoch INTEGER PRIMARY KEY, reason TEXT NOT NULL, world_hash TEXT NOT NULL,
                               snapshot BLOB NOT NULL);
    CREATE TABLE world_events (epoch INTEGER NOT NULL, seq INTEGER NOT NULL, game_time REAL NOT NULL,
                               event BLOB NOT NULL, PRIMARY KEY (epoch, seq));
    """,
    # 2: rumours waiting to spread get rows of their own (one NPC passes one fact on once)
    """
    CREATE TABLE world_pending (npc TEXT NOT NULL, fact TEXT NOT NULL, due REAL NOT NULL,
                                PRIMARY KEY (npc, fact));
    DELETE FROM world_meta WHERE key = 'pending';
    """,
]


def _pack(value: Any) -> bytes:
    return msgpack.packb(value, use_bin_type=True)


def _unpack(data: bytes) -> Any:
    return msgpack.unpackb(data, raw=False, strict_map_key=False)


@dataclass
class Stored:
    """What the database holds: a state document (``WorldState.to_dict`` layout) and its world."""

    doc: dict[str, Any]
    world_hash: str
    epoch: int
    world_id: str | None = None  # None in databases written before it was recorded


class StaleReplica(StorageError):
    """The replica an event was computed against is behind the log (another worker appended
    first); nothing was written. Only a shared store (PostgreSQL) raises it."""

    def __init__(self, epoch: int, seq: int, held: tuple[int, int]) -> None:
        self.epoch, self.seq = epoch, seq
        super().__init__(
            f"world replica at epoch {held[0]} seq {held[1]}, the log is at epoch {epoch} seq {seq}"
        )


class AlreadyLogged(StorageError):
    """The event's ``request`` is already in the log (an input replayed after a failover)."""

    def __init__(self, request: str, seq: int) -> None:
        self.request, self.seq = request, seq
        super().__init__(f"request '{request}' is already logged as event {seq}")


class _Located(Protocol):
    @property
    def path(self) -> str: ...


class WorldLog(Protocol):
    """What :class:`~.service.WorldService` needs of a store: SQLite (:class:`WorldStore`, one
    process) or PostgreSQL (:class:`~.pgstore.PgWorldStore`, shared by a cluster's workers)."""

    @property
    def db(self) -> _Located: ...

    def load(self) -> Stored | None: ...

    def events(self, epoch: int | None = None) -> list[WorldEvent]: ...

    def events_since(self, epoch: int, seq: int) -> list[tuple[int, WorldEvent]]: ...

    def head(self) -> tuple[int, int]: ...

    def logged(self, request: str) -> int | None: ...

    def exclusive(self) -> AbstractContextManager[None]: ...

    def snapshot(self, epoch: int) -> tuple[dict[str, Any], str]: ...

    def epoch(self) -> int: ...

    def reset(
        self, state: WorldState, world_hash: str, reason: str, conn: Any = None, world_id: str | None = None
    ) -> int: ...

    def create(self, state: WorldState, world_hash: str, world_id: str) -> int | None: ...

    def commit(self, event: WorldEvent, changes: Changes, state: WorldState) -> None: ...


class WorldStore:
    def __init__(self, db: Database) -> None:
        self.db = db
        db.migrate(NAMESPACE, MIGRATIONS)

    # reading -------------------------------------------------------------------------------------
    def load(self) -> Stored | None:
        """The stored state, or None when this database holds no world yet."""
        with self.db.transaction() as conn:
            meta = {k: _unpack(v) for k, v in conn.execute("SELECT key, value FROM world_meta")}
            if "world_hash" not in meta:
                return None
            doc = {
                "vars": {n: _unpack(v) for n, v in conn.execute("SELECT name, value FROM world_vars")},
                "quests": dict(conn.execute("SELECT quest, state FROM world_quests").fetchall()),
                "relations": [list(r) for r in conn.execute("SELECT src, type, dst FROM world_relations")],
                "knowledge": {},
                "event_facts": dict(conn.execute("SELECT fact, text FROM world_event_facts").fetchall()),
                "pending": [
                    [due, npc, fact]
                    for npc, fact, due in conn.execute(
                        "SELECT npc, fact, due FROM world_pending ORDER BY due, npc, fact"
                    )
                ],
                "seq": meta.get("seq", 0),
                "game_time": meta.get("game_time", 0.0),
            }
            for npc, fact, since, source in conn.execute(
                "SELECT npc, fact, since, source FROM world_knowledge"
            ):
                doc["knowledge"].setdefault(npc, {})[fact] = [since, source]
            world_id = meta.get("world_id")
            return Stored(doc, str(meta["world_hash"]), int(meta.get("epoch", 1)), world_id)

    def events(self, epoch: int | None = None) -> list[WorldEvent]:
        """The events of an epoch (default: the current one), in order."""
        with self.db.transaction() as conn:
            if epoch is None:
                epoch = self._epoch(conn)
            rows = conn.execute(
                "SELECT event FROM world_events WHERE epoch=? ORDER BY seq", (epoch,)
            ).fetchall()
        return [WorldEvent.from_dict(_unpack(r[0])) for r in rows]

    def events_since(self, epoch: int, seq: int) -> list[tuple[int, WorldEvent]]:
        """The logged events of ``epoch`` after ``seq``, in order, as (seq, event)."""
        rows = self.db.execute(
            "SELECT seq, event FROM world_events WHERE epoch=? AND seq>? ORDER BY seq", (epoch, seq)
        ).fetchall()
        return [(int(s), WorldEvent.from_dict(_unpack(e))) for s, e in rows]

    def head(self) -> tuple[int, int]:
        """(epoch, seq) of the log's end; (0, 0) with no world yet."""
        with self.db.transaction() as conn:
            meta = {k: _unpack(v) for k, v in conn.execute("SELECT key, value FROM world_meta")}
        return int(meta.get("epoch", 0)), int(meta.get("seq", 0))

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold the world's write lock (one SQLite transaction: this process is the only writer)."""
        with self.db.transaction():
            yield

    def logged(self, request: str) -> int | None:
        """The sequence number of the event logged for ``request``; embedded mode has one writer
        and no failover, so it does not look (always None)."""
        return None

    def snapshot(self, epoch: int) -> tuple[dict[str, Any], str]:
        row = self.db.execute(
            "SELECT snapshot, world_hash FROM world_epochs WHERE epoch=?", (epoch,)
        ).fetchone()
        if row is None:
            raise KeyError(f"no epoch {epoch} in the world log")
        return _unpack(row[0]), str(row[1])

    def epoch(self) -> int:
        with self.db.transaction() as conn:
            return self._epoch(conn)

    @staticmethod
    def _epoch(conn: sqlite3.Connection) -> int:
        row = conn.execute("SELECT value FROM world_meta WHERE key='epoch'").fetchone()
        return int(_unpack(row[0])) if row else 0

    # writing -------------------------------------------------------------------------------------
    def reset(
        self,
        state: WorldState,
        world_hash: str,
        reason: str,
        conn: Any = None,
        world_id: str | None = None,
    ) -> int:
        """Replace the whole stored state and start a new epoch; returns its number.

        Pass ``conn`` to write inside a transaction that the caller owns (the runtime's load)."""
        if conn is not None:
            return write_state(conn, state, world_hash, reason, world_id)
        with self.db.transaction() as c:
            return write_state(c, state, world_hash, reason, world_id)

    def create(self, state: WorldState, world_hash: str, world_id: str) -> int | None:
        """Store a new game's first epoch; None (nothing written) when a world is stored already."""
        with self.db.transaction() as c:
            if self._epoch(c):
                return None
            return write_state(c, state, world_hash, "new game", world_id)

    def commit(self, event: WorldEvent, changes: Changes, state: WorldState) -> None:
        """Persist one applied event and what it changed, in one transaction."""
        with self.db.transaction() as conn:
            epoch = self._epoch(conn)
            conn.execute(
                "INSERT INTO world_events(epoch, seq, game_time, event) VALUES(?, ?, ?, ?)",
                (epoch, state.seq, state.game_time, _pack(event.to_dict())),
            )
            if changes.vars:
                conn.executemany(
                    "INSERT OR REPLACE INTO world_vars(name, value) VALUES(?, ?)",
                    [(n, _pack(v[1])) for n, v in changes.vars.items()],
                )
            if changes.quests:
                conn.executemany(
                    "INSERT OR REPLACE INTO world_quests(quest, state) VALUES(?, ?)",
                    [(q, v[1]) for q, v in changes.quests.items()],
                )
            conn.executemany("INSERT OR IGNORE INTO world_relations VALUES(?, ?, ?)", changes.relations_added)
            conn.executemany(
                "DELETE FROM world_relations WHERE src=? AND type=? AND dst=?", changes.relations_removed
            )
            if changes.event_facts:
                conn.executemany(
                    "INSERT OR REPLACE INTO world_event_facts VALUES(?, ?)", changes.event_facts.items()
                )
            for npc, fact, _ in changes.learned:
                k = state.knowledge[npc][fact]
                conn.execute(
                    "INSERT OR REPLACE INTO world_knowledge VALUES(?, ?, ?, ?)",
                    (npc, fact, k.since, k.source),
                )
            if changes.pending_removed:
                conn.executemany(
                    "DELETE FROM world_pending WHERE npc=? AND fact=?",
                    [(n, f) for _, n, f in changes.pending_removed],
                )
            if changes.pending_added:
                conn.executemany(
                    "INSERT OR REPLACE INTO world_pending(npc, fact, due) VALUES(?, ?, ?)",
                    [(n, f, d) for d, n, f in changes.pending_added],
                )
            meta: list[tuple[str, Any]] = [("seq", state.seq), ("game_time", state.game_time)]
            conn.executemany(
                "INSERT OR REPLACE INTO world_meta VALUES(?, ?)", [(k, _pack(v)) for k, v in meta]
            )


def write_state(
    conn: sqlite3.Connection, state: WorldState, world_hash: str, reason: str, world_id: str | None = None
) -> int:
    """Write a whole state as a new epoch with ``conn`` (inside the caller's transaction)."""
    for table in (
        "world_vars",
        "world_quests",
        "world_relations",
        "world_knowledge",
        "world_event_facts",
        "world_pending",
    ):
        conn.execute(f"DELETE FROM {table}")
    conn.executemany("INSERT INTO world_vars VALUES(?, ?)", [(n, _pack(v)) for n, v in state.vars.items()])
    conn.executemany("INSERT INTO world_quests VALUES(?, ?)", state.quests.items())
    conn.executemany("INSERT INTO world_relations VALUES(?, ?, ?)", state.relations())
    conn.executemany(
        "INSERT INTO world_knowledge VALUES(?, ?, ?, ?)",
        [(n, f, k.since, k.source) for n, facts in state.knowledge.items() for f, k in facts.items()],
    )
    conn.executemany("INSERT INTO world_event_facts VALUES(?, ?)", state.event_facts.items())
    conn.executemany(
        "INSERT INTO world_pending(npc, fact, due) VALUES(?, ?, ?)", [(n, f, d) for d, n, f in state.pending]
    )
    row = conn.execute("SELECT MAX(epoch) FROM world_epochs").fetchone()
    epoch = (row[0] or 0) + 1
    conn.execute(
        "INSERT INTO world_epochs(epoch, reason, world_hash, snapshot) VALUES(?, ?, ?, ?)",
        (epoch, reason, world_hash, _pack(state.to_dict())),
    )
    meta: dict[str, Any] = {
        "world_hash": world_hash,
        "epoch": epoch,
        "seq": state.seq,
        "game_time": state.game_time,
    }
    if world_id is not None:
        meta["world_id"] = world_id
    conn.executemany(
        "INSERT OR REPLACE INTO world_meta VALUES(?, ?)", [(k, _pack(v)) for k, v in meta.items()]
    )
    return epoch


def replay(engine: Engine, events: list[WorldEvent]) -> None:
    """Apply logged events in order to ``engine`` (built on the epoch's snapshot)."""
    for ev in events:
        engine.apply(ev)
