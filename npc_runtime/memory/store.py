"""The memory stream: one table of memories per runtime database (namespace ``memory``).

Writes commit before they return, so a memory whose id was returned survives ``kill -9`` (WAL).
Relevance search keeps, per NPC, the unit-length embeddings in a numpy matrix that is loaded from
SQLite the first time that NPC is searched and appended to on every later write; SQLite FTS5
(bm25) gives the lexical part of relevance and is the whole of it without an embedder.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from ..clock import Clock
from ..storage.shared import SharedDatabase, SqlDatabase
from ..text import STOPWORDS
from ..text import words as text_words
from . import scoring
from .embeddings import Embedder
from .pgschema import PG_CLAIM_NPC as _PG_CLAIM_NPC
from .pgschema import PG_MIGRATIONS, pg_add
from .search import NpcIndex, rank
from .settings import MemorySettings
from .types import InvalidMemoryError, Memory, NewMemory, Retrieved, check_id

NAMESPACE = "memory"

MIGRATIONS = [
    """
    CREATE TABLE memory_items (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        npc_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        text TEXT NOT NULL,
        importance REAL NOT NULL,
        game_time REAL NOT NULL,
        wall_time REAL NOT NULL,
        player_id TEXT,
        speaker TEXT,
        conversation_id TEXT,
        embedding BLOB,
        model_id TEXT
    );
    CREATE INDEX memory_items_npc ON memory_items(npc_id, id);
    CREATE VIRTUAL TABLE memory_fts USING fts5(
        text, content='memory_items', content_rowid='id', tokenize='porter unicode61'
    );
    CREATE TRIGGER memory_items_ai AFTER INSERT ON memory_items BEGIN
        INSERT INTO memory_fts(rowid, text) VALUES (new.id, new.text);
    END;
    CREATE TRIGGER memory_items_ad AFTER DELETE ON memory_items BEGIN
        INSERT INTO memory_fts(memory_fts, rowid, text) VALUES ('delete', old.id, old.text);
    END;
    CREATE TABLE memory_evidence (
        reflection_id INTEGER NOT NULL REFERENCES memory_items(id) ON DELETE CASCADE,
        memory_id INTEGER NOT NULL REFERENCES memory_items(id) ON DELETE CASCADE,
        PRIMARY KEY (reflection_id, memory_id)
    );
    CREATE INDEX memory_evidence_memory ON memory_evidence(memory_id);
    CREATE TABLE memory_npc_state (
        npc_id TEXT PRIMARY KEY,
        seeded INTEGER NOT NULL DEFAULT 0,
        pending_importance REAL NOT NULL DEFAULT 0,
        reflected_upto INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE memory_relationships (
        npc_id TEXT NOT NULL,
        player_id TEXT NOT NULL,
        dimension TEXT NOT NULL,
        value REAL NOT NULL,
        game_time REAL NOT NULL,
        PRIMARY KEY (npc_id, player_id, dimension)
    );
    CREATE TABLE memory_player_facts (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        npc_id TEXT NOT NULL,
        player_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        text TEXT NOT NULL,
        game_time REAL NOT NULL,
        UNIQUE (npc_id, player_id, kind, text)
    );
    """,
    # 2: the NPC id is indexed in FTS5 too, so a lexical search reads one NPC's postings only.
    """
    DROP TRIGGER memory_items_ai;
    DROP TRIGGER memory_items_ad;
    DROP TABLE memory_fts;
    CREATE VIRTUAL TABLE memory_fts USING fts5(
        text, npc_id, content='memory_items', content_rowid='id', tokenize='porter unicode61'
    );
    CREATE TRIGGER memory_items_ai AFTER INSERT ON memory_items BEGIN
        INSERT INTO memory_fts(rowid, text, npc_id) VALUES (new.id, new.text, new.npc_id);
    END;
    CREATE TRIGGER memory_items_ad AFTER DELETE ON memory_items BEGIN
        INSERT INTO memory_fts(memory_fts, rowid, text, npc_id) VALUES ('delete', old.id, old.text, old.npc_id);
    END;
    INSERT INTO memory_fts(memory_fts) VALUES ('rebuild');
    """,
]

_COLUMNS = "id, npc_id, kind, text, importance, game_time, wall_time, player_id, speaker, conversation_id"
_LEXICAL_HITS = 100


def _row(r: Sequence[object]) -> Memory:
    return Memory(
        id=int(r[0]),  # type: ignore[call-overload]
        npc_id=str(r[1]),
        kind=str(r[2]),
        text=str(r[3]),
        importance=float(r[4]),  # type: ignore[arg-type]
        game_time=float(r[5]),  # type: ignore[arg-type]
        wall_time=float(r[6]),  # type: ignore[arg-type]
        player_id=r[7] if r[7] is None else str(r[7]),
        speaker=r[8] if r[8] is None else str(r[8]),
        conversation_id=r[9] if r[9] is None else str(r[9]),
    )


def fts_query(text: str) -> str | None:
    """An FTS5 OR-query of the content words in ``text`` (None when there are none)."""
    words = [w for w in text_words(text) if len(w) > 1 and w not in STOPWORDS]
    if not words:
        return None
    return " OR ".join(f'"{w}"' for w in dict.fromkeys(words))


class MemoryStore:
    """Memories of every NPC in one runtime database."""

    def __init__(
        self,
        db: SqlDatabase,
        embedder: Embedder | None,
        settings: MemorySettings | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.db = db
        self.embedder = embedder
        self.settings = settings or MemorySettings()
        self._wall = clock.wall if clock is not None else time.time
        self._indexes: OrderedDict[str, NpcIndex] = OrderedDict()  # least recently used first
        self._generation = 0  # bumped by invalidate(): an index built before is stale
        self.shared = db.shared  # other workers write too: check an index's version before use
        db.migrate(NAMESPACE, PG_MIGRATIONS if db.dialect == "postgres" else MIGRATIONS)

    # -- writing ---------------------------------------------------------------------------
    def add(self, memory: NewMemory) -> int:
        """Write one memory; returns its id after the commit (the memory is then durable)."""
        return self.add_many([memory])[0]

    def add_many(self, memories: Sequence[NewMemory], *, request: str | None = None) -> list[int]:
        """Write memories in one transaction; returns their ids after the commit.

        ``request`` (shared database, memories without evidence): the key of the input they come
        from; an NPC that already has memories of that request gets none (a turn run again after a
        failover), and the ids of the ones written before are returned. On PostgreSQL this is one
        round trip (:func:`~.pgschema.pg_add`)."""
        if not memories:
            return []
        for m in memories:
            m.validate()
        vecs = self._embed([m.text for m in memories])
        blobs = [None if vecs is None else vecs[i].astype(np.float16).tobytes() for i in range(len(memories))]
        model_id = self.embedder.model_id if self.embedder is not None else None
        wall = self._wall()
        if isinstance(self.db, SharedDatabase) and not any(m.evidence for m in memories):
            return self._add_pg(self.db, memories, vecs, blobs, model_id, wall, request)
        versions: dict[str, tuple[int, int]] = {}
        with self.db.transaction() as conn:
            if self.shared:  # one writer per NPC: its row first, then ids in commit order
                for npc_id in sorted({m.npc_id for m in memories}):
                    prev, new = conn.execute(_PG_CLAIM_NPC, (npc_id,)).fetchone()
                    versions[npc_id] = (int(prev), int(new))
            ids = [
                int(
                    conn.execute(
                        "INSERT INTO memory_items(npc_id, kind, text, importance, game_time, wall_time, player_id, "
                        "speaker, conversation_id, embedding, model_id) VALUES (?,?,?,?,?,?,?,?,?,?,?) RETURNING id",
                        (
                            m.npc_id, m.kind, m.text, float(m.importance), float(m.game_time), wall,
                            m.player_id, m.speaker, m.conversation_id, blob, model_id,
                        ),
                    ).fetchone()[0]
                )
                for m, blob in zip(memories, blobs, strict=True)
            ]  # fmt: skip
            for m, mid in zip(memories, ids, strict=True):
                if m.evidence:
                    conn.executemany(
                        "INSERT INTO memory_evidence(reflection_id, memory_id) "
                        "SELECT ?, id FROM memory_items WHERE id=? AND npc_id=? ON CONFLICT DO NOTHING",
                        [(mid, e, m.npc_id) for e in m.evidence],
                    )
            pending: dict[str, float] = {}
            for m in memories:
                if m.kind not in ("reflection", "seed"):
                    pending[m.npc_id] = pending.get(m.npc_id, 0.0) + float(m.importance)
            for npc_id, imp in pending.items():
                conn.execute(
                    "INSERT INTO memory_npc_state(npc_id, pending_importance) VALUES (?, ?) "
                    "ON CONFLICT(npc_id) DO UPDATE SET "
                    "pending_importance = memory_npc_state.pending_importance + excluded.pending_importance",
                    (npc_id, imp),
                )
        self._written(versions, memories, ids, vecs)
        return ids

    def _add_pg(
        self,
        db: SharedDatabase,
        memories: Sequence[NewMemory],
        vecs: np.ndarray | None,
        blobs: list[bytes | None],
        model_id: str | None,
        wall: float,
        request: str | None,
    ) -> list[int]:
        """:meth:`add_many` on PostgreSQL in one round trip (the server function npc_memory_add)."""
        added = pg_add(db.pg, memories, blobs, model_id, wall, request)
        keep = [i for i, m in enumerate(memories) if m.npc_id not in added.skipped]
        written = [memories[i] for i in keep]
        self._written(added.versions, written, added.ids, None if vecs is None else vecs[keep])
        return added.done_ids + added.ids

    def _written(
        self,
        versions: dict[str, tuple[int, int]],
        memories: Sequence[NewMemory],
        ids: list[int],
        vecs: np.ndarray | None,
    ) -> None:
        """After a commit: the cached indexes take the new rows (or are dropped when another
        worker wrote to the NPC meanwhile)."""
        for npc_id, (prev, new) in versions.items():
            idx = self._indexes.get(npc_id)
            if idx is not None and idx.version != prev:  # another worker wrote meanwhile
                self.invalidate(npc_id)
            elif idx is not None:
                idx.version = new
        for i, (m, mid) in enumerate(zip(memories, ids, strict=True)):
            idx = self._indexes.get(m.npc_id)
            if idx is not None:
                idx.append(
                    mid,
                    float(m.importance),
                    float(m.game_time),
                    m.player_id,
                    None if vecs is None else vecs[i],
                )

    def seed(self, npc_id: str, memories: Sequence[NewMemory]) -> bool:
        """Write a persona's seed memories once per NPC; False when it was seeded before."""
        check_id(npc_id, "npc_id")
        with self.db.transaction() as conn:
            lock = ""
            if self.shared:  # two workers seeding one NPC: the second waits, then sees it seeded
                conn.execute(
                    "INSERT INTO memory_npc_state(npc_id) VALUES (?) ON CONFLICT DO NOTHING", (npc_id,)
                )
                lock = " FOR UPDATE"
            row = conn.execute(
                f"SELECT seeded FROM memory_npc_state WHERE npc_id=?{lock}", (npc_id,)
            ).fetchone()
            if row and row[0]:
                return False
            if memories:
                self.add_many(memories)
            conn.execute(
                "INSERT INTO memory_npc_state(npc_id, seeded) VALUES (?, 1) "
                "ON CONFLICT(npc_id) DO UPDATE SET seeded = 1",
                (npc_id,),
            )
        return True

    def _embed(self, texts: list[str]) -> np.ndarray | None:
        return None if self.embedder is None else self.embedder.embed(texts)

    # -- reading ---------------------------------------------------------------------------
    def get(self, memory_id: int) -> Memory | None:
        r = self.db.execute(f"SELECT {_COLUMNS} FROM memory_items WHERE id=?", (memory_id,)).fetchone()
        if r is None:
            return None
        ev = self.db.execute(
            "SELECT memory_id FROM memory_evidence WHERE reflection_id=? ORDER BY memory_id", (memory_id,)
        ).fetchall()
        m = _row(r)
        return Memory(**{**m.__dict__, "evidence": tuple(int(e[0]) for e in ev)})

    def recent(
        self, npc_id: str, *, limit: int = 20, player_id: str | None = None, after_id: int = 0
    ) -> list[Memory]:
        """Newest first."""
        sql = f"SELECT {_COLUMNS} FROM memory_items WHERE npc_id=? AND id>?"
        params: list[object] = [npc_id, after_id]
        if player_id is not None:
            sql += " AND player_id=?"
            params.append(player_id)
        sql += " ORDER BY id DESC LIMIT ?"
        params.append(limit)
        return [_row(r) for r in self.db.execute(sql, params).fetchall()]

    def count(self, npc_id: str) -> int:
        return int(
            self.db.execute("SELECT count(*) FROM memory_items WHERE npc_id=?", (npc_id,)).fetchone()[0]
        )

    def npc_ids(self) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT DISTINCT npc_id FROM memory_items ORDER BY npc_id")]

    # -- retrieval -------------------------------------------------------------------------
    def retrieve(
        self,
        npc_id: str,
        query: str | None,
        now: float,
        *,
        k: int = 10,
        player_id: str | None = None,
        about: str | None = None,
    ) -> list[Retrieved]:
        """The ``k`` best memories for ``query`` at game time ``now`` (hours), with their scores.

        ``player_id``: only memories about that player; ``about``: favour them (``weights.player``)."""
        check_id(npc_id, "npc_id")
        if query is not None and len(query) > 4000:
            raise InvalidMemoryError("query is longer than 4000 characters")
        idx = self._index(npc_id)
        if idx.n == 0:
            return []
        query_vec, lexical = self._query(npc_id, idx, query) if query and query.strip() else (None, None)
        r = rank(
            idx, now, self.settings, k, query_vec=query_vec, lexical=lexical, player_id=player_id, about=about
        )
        rows = [int(idx.ids[p]) for p in r.positions]
        by_id = self._fetch(rows)
        return [
            Retrieved(
                memory=by_id[mid],
                score=float(r.total[i]),
                recency=float(r.recency[i]),
                importance=float(r.importance[i]),
                relevance=float(r.relevance[i]),
            )
            for i, mid in enumerate(rows)
            if mid in by_id
        ]

    def _query(self, npc_id: str, idx: NpcIndex, query: str) -> tuple[np.ndarray | None, np.ndarray | None]:
        """The query's unit embedding (None without an embedder, or when no token of the query is
        known to it) and bm25 normalised to 0..1 per index position (None when not used)."""
        q = None
        if self.embedder is not None and idx.mat is not None:
            q = self.embedder.embed_one(query)
            if not q.any():
                q = None
        if q is not None and self.settings.lexical_weight == 0.0:
            return q, None
        hits = self.lexical(npc_id, query)
        if not hits:
            return q, (None if q is not None else np.zeros(idx.n, dtype=np.float32))
        lex = np.zeros(idx.n, dtype=np.float32)
        hit_ids = np.fromiter(hits.keys(), dtype=np.int64, count=len(hits))
        scores = np.fromiter(hits.values(), dtype=np.float32, count=len(hits))
        pos, ok = idx.positions_of(hit_ids)
        lex[pos] = scores[ok] / float(scores.max())
        return q, lex

    def lexical(self, npc_id: str, query: str) -> dict[int, float]:
        """FTS5 bm25 hits (id -> positive score, higher is better) among one NPC's memories."""
        match = fts_query(query)
        if match is None:
            return {}
        if self.db.dialect == "postgres":  # ts_rank_cd over the stored tsvector, one NPC's rows
            terms = " or ".join(w.strip('"') for w in match.split(" OR "))
            rows = self.db.execute(
                "SELECT id, ts_rank_cd(tsv, q) FROM memory_items, websearch_to_tsquery('english', ?) q "
                "WHERE npc_id=? AND tsv @@ q ORDER BY 2 DESC, id LIMIT ?",
                (terms, npc_id, _LEXICAL_HITS),
            ).fetchall()
            return {int(r[0]): max(float(r[1]), 1e-6) for r in rows}
        npc = npc_id.replace('"', '""')
        rows = self.db.execute(
            "SELECT m.id, -bm25(memory_fts, 1.0, 0.0) FROM memory_fts JOIN memory_items m ON m.id = memory_fts.rowid "
            "WHERE memory_fts MATCH ? AND m.npc_id = ? ORDER BY bm25(memory_fts, 1.0, 0.0) LIMIT ?",
            (f'npc_id : "{npc}" AND text : ({match})', npc_id, _LEXICAL_HITS),
        ).fetchall()
        return {int(r[0]): max(float(r[1]), 1e-6) for r in rows}

    def _fetch(self, ids: list[int]) -> dict[int, Memory]:
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        rows = self.db.execute(f"SELECT {_COLUMNS} FROM memory_items WHERE id IN ({marks})", ids).fetchall()
        return {int(r[0]): _row(r) for r in rows}

    def has_index(self, npc_id: str) -> bool:
        return npc_id in self._indexes

    def build_index(self, npc_id: str) -> tuple[int, NpcIndex]:
        """Load an NPC's index without installing it (safe in a worker thread); pass the result
        to :meth:`install_index` on the thread that writes."""
        return self._generation, self._load_index(npc_id)

    def install_index(self, npc_id: str, built: tuple[int, NpcIndex]) -> None:
        """Install an index from :meth:`build_index`, with the memories written meanwhile."""
        generation, idx = built
        if generation != self._generation or npc_id in self._indexes:
            return  # invalidated (load, prune) or already loaded while it was being built
        last = int(idx.ids[idx.n - 1]) if idx.n else 0
        rows = self.db.execute(
            "SELECT id, importance, game_time, player_id, text FROM memory_items WHERE npc_id=? AND id>? ORDER BY id",
            (npc_id, last),
        ).fetchall()
        vecs = self._embed([r[4] for r in rows]) if rows else None
        for i, r in enumerate(rows):
            idx.append(int(r[0]), float(r[1]), float(r[2]), r[3], None if vecs is None else vecs[i])
        self._keep(npc_id, idx)

    def _version(self, npc_id: str) -> int:
        """The NPC's memory version in the shared database (0 before its first write)."""
        row = self.db.execute("SELECT version FROM memory_npc_state WHERE npc_id=?", (npc_id,)).fetchone()
        return int(row[0]) if row else 0

    def _index(self, npc_id: str) -> NpcIndex:
        idx = self._indexes.get(npc_id)
        stale = idx is not None and self.shared and idx.version != self._version(npc_id)
        if idx is not None and stale and not self._catch_up(npc_id, idx):
            self._indexes.pop(npc_id)  # another worker forgot memories or loaded a save: reload
            idx = None
        if idx is None:
            idx = self._load_index(npc_id)
            self._keep(npc_id, idx)
        else:
            self._indexes.move_to_end(npc_id)
        return idx

    def _catch_up(self, npc_id: str, idx: NpcIndex) -> bool:
        """Append the memories other workers wrote for this NPC since ``idx`` was current (cluster
        mode). Writes take the NPC's row before their ids are drawn, so one NPC's ids grow in
        commit order and the new rows are exactly those after the index's last id. After a prune
        or a load (``reset_version``), or when the count does not add up, returns False: reload."""
        last = int(idx.ids[idx.n - 1]) if idx.n else 0
        with self.db.transaction() as conn:
            head = conn.execute(
                "SELECT version, (SELECT count(*) FROM memory_items WHERE npc_id=?), reset_version "
                "FROM memory_npc_state WHERE npc_id=? FOR SHARE",
                (npc_id, npc_id),
            ).fetchone()
            rows = conn.execute(
                "SELECT id, importance, game_time, player_id, embedding, model_id, text FROM memory_items "
                "WHERE npc_id=? AND id>? ORDER BY id",
                (npc_id, last),
            ).fetchall()
        if head is None or int(head[2]) > idx.version or idx.n + len(rows) != int(head[1]):
            return False
        model_id = self.embedder.model_id if self.embedder is not None else None
        if idx.mat is not None and self.embedder is not None:
            dim = self.embedder.dim
            stale = [r[6] for r in rows if r[5] != model_id or r[4] is None]
            embedded = self._embed(stale) if stale else None
            fresh_vecs = iter(list(embedded) if embedded is not None else [])
        for r in rows:
            vec = None
            if idx.mat is not None and self.embedder is not None:
                if r[5] == model_id and r[4] is not None:
                    vec = np.frombuffer(r[4], dtype=np.float16).astype(np.float32).reshape(dim)
                else:
                    vec = next(fresh_vecs)
            idx.append(int(r[0]), float(r[1]), float(r[2]), r[3], vec)
        idx.version = int(head[0])
        return True

    def _keep(self, npc_id: str, idx: NpcIndex) -> None:
        """Cache an index; beyond ``index_cache_npcs`` the least recently searched NPC's is dropped
        (it is loaded again on its next search)."""
        self._indexes[npc_id] = idx
        self._indexes.move_to_end(npc_id)
        while len(self._indexes) > self.settings.index_cache_npcs:
            self._indexes.popitem(last=False)

    def _load_index(self, npc_id: str) -> NpcIndex:
        sql = (
            "SELECT id, importance, game_time, player_id, embedding, model_id, text FROM memory_items "
            "WHERE npc_id=? ORDER BY id"
        )
        version = 0
        if self.shared:  # the rows and their version in one picture (writers take the row first)
            with self.db.transaction() as conn:
                got = conn.execute("SELECT version FROM memory_npc_state WHERE npc_id=? FOR SHARE", (npc_id,))
                row = got.fetchone()
                version = int(row[0]) if row else 0
                rows = conn.execute(sql, (npc_id,)).fetchall()
        else:
            rows = self.db.execute(sql, (npc_id,)).fetchall()
        n = len(rows)
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=n)
        imp = np.fromiter((r[1] for r in rows), dtype=np.float32, count=n)
        times = np.fromiter((r[2] for r in rows), dtype=np.float64, count=n)
        players: list[str | None] = [r[3] for r in rows]
        vecs = None
        if self.embedder is not None:
            dim, model_id = self.embedder.dim, self.embedder.model_id
            vecs = np.zeros((n, dim), dtype=np.float32)
            stale = [i for i, r in enumerate(rows) if r[5] != model_id or r[4] is None]
            fresh = np.array(
                [i for i, r in enumerate(rows) if r[5] == model_id and r[4] is not None], dtype=np.int64
            )
            if fresh.size:
                buf = b"".join(rows[i][4] for i in fresh)
                vecs[fresh] = np.frombuffer(buf, dtype=np.float16).reshape(-1, dim)
            if stale:
                self._reembed(rows, stale, vecs, model_id)
        idx = NpcIndex.build(ids, imp, times, players, vecs, self.settings.coarse_dims)
        idx.version = version
        return idx

    def _reembed(self, rows: list[Any], stale: list[int], vecs: np.ndarray, model_id: str) -> None:
        """Vectors written by another model (or none): compute and store them once."""
        new = self._embed([rows[i][6] for i in stale])
        assert new is not None
        vecs[stale] = new
        with self.db.transaction() as conn:
            conn.executemany(
                "UPDATE memory_items SET embedding=?, model_id=? WHERE id=?",
                [(new[j].astype(np.float16).tobytes(), model_id, rows[i][0]) for j, i in enumerate(stale)],
            )

    def invalidate(self, npc_id: str | None = None) -> None:
        """Forget cached indexes (after a save was loaded or rows were deleted)."""
        self._generation += 1
        if npc_id is None:
            self._indexes.clear()
        else:
            self._indexes.pop(npc_id, None)

    # -- forgetting ------------------------------------------------------------------------
    def prune(self, npc_id: str, now: float, *, force: bool = False) -> int:
        """Forget memories past capacity (least important and oldest first) and, when
        ``forget_after_hours`` is set, unimportant ones older than that. Seeds are kept."""
        s = self.settings
        deleted = 0
        with self.db.transaction() as conn:
            if self.shared:  # other workers' indexes of this NPC must reload, not catch up
                conn.execute(_PG_CLAIM_NPC, (npc_id,))
                conn.execute("UPDATE memory_npc_state SET reset_version = version WHERE npc_id=?", (npc_id,))
            if s.forget_after_hours is not None:
                cur = conn.execute(
                    "DELETE FROM memory_items WHERE npc_id=? AND kind NOT IN ('seed') AND importance < ? "
                    "AND game_time < ?",
                    (npc_id, s.forget_below_importance, now - s.forget_after_hours),
                )
                deleted += cur.rowcount
            total = int(
                conn.execute("SELECT count(*) FROM memory_items WHERE npc_id=?", (npc_id,)).fetchone()[0]
            )
            limit = s.capacity if force else int(s.capacity * (1.0 + s.prune_slack))
            if total > limit:
                rows = conn.execute(
                    "SELECT id, importance, game_time FROM memory_items WHERE npc_id=? AND kind != 'seed'",
                    (npc_id,),
                ).fetchall()
                ids = np.array([r[0] for r in rows], dtype=np.int64)
                imp = np.array([r[1] for r in rows], dtype=np.float32)
                t = np.array([r[2] for r in rows], dtype=np.float64)
                retention = (imp - 1.0) / 9.0 + scoring.recency(now, t, s.recency_half_life_hours)
                drop = ids[np.argsort(retention, kind="stable")[: total - s.capacity]]
                conn.executemany("DELETE FROM memory_items WHERE id=?", [(int(i),) for i in drop])
                deleted += len(drop)
        if deleted:
            self.invalidate(npc_id)
        return deleted

    def over_capacity(self, npc_id: str) -> bool:
        idx = self._indexes.get(npc_id)
        n = idx.n if idx is not None else self.count(npc_id)
        return n > int(self.settings.capacity * (1.0 + self.settings.prune_slack))

    # -- reflection bookkeeping ------------------------------------------------------------
    def pending_importance(self, npc_id: str) -> tuple[float, int]:
        """(summed importance since the last reflection, id of the last memory reflected on)."""
        r = self.db.execute(
            "SELECT pending_importance, reflected_upto FROM memory_npc_state WHERE npc_id=?", (npc_id,)
        ).fetchone()
        return (float(r[0]), int(r[1])) if r else (0.0, 0)

    def mark_reflected(self, npc_id: str, upto_id: int) -> None:
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT INTO memory_npc_state(npc_id, pending_importance, reflected_upto) VALUES (?, 0, ?) "
                "ON CONFLICT(npc_id) DO UPDATE SET pending_importance = 0, reflected_upto = excluded.reflected_upto",
                (npc_id, upto_id),
            )

    def vectors(self, npc_id: str, ids: Iterable[int]) -> dict[int, np.ndarray]:
        """Cached embeddings of some of an NPC's memories (empty without an embedder)."""
        idx = self._index(npc_id)
        if idx.mat is None:
            return {}
        want = np.fromiter(ids, dtype=np.int64)
        pos, ok = idx.positions_of(want)
        return {int(mid): idx.vector(int(p)) for mid, p in zip(want[ok], pos, strict=True)}
