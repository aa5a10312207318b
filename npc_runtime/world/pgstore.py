"""World state and the event log in PostgreSQL (cluster mode): a replicated state machine.

The same tables as the SQLite store (:mod:`.store`), keyed by *world instance*, plus one row per
instance in ``world_instances`` that every write locks. Each worker holds a replica (an
:class:`~.engine.Engine` on its own state); an event is computed against the replica and then
committed by :meth:`PgWorldStore.commit`, which locks the instance row, checks that the replica
was current (same epoch, the log ends at the event's ``seq - 1``), checks the conversation's
fence, and writes the event with the next sequence number and the state rows it changed in one
transaction. A stale replica gets :class:`StaleReplica` (nothing written); the service catches
up from the log and computes the event again. An event with a ``request`` key already in the log
gets :class:`AlreadyLogged` (an input replayed after a failover is applied once).

Workers follow the log in sequence order (:meth:`PgWorldStore.events_since`); a commit sends a
NOTIFY on :data:`CHANNEL` as a doorbell only. A new epoch (a load, a new game, a changed world
file) makes followers reload the whole state.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import msgpack

from ..errors import StorageError
from ..storage.postgres import PgDatabase, current_fence, fence_check
from .engine import Changes, WorldEvent
from .state import WorldState
from .store import AlreadyLogged, StaleReplica, Stored

NAMESPACE = "world"
CHANNEL = "npc_world_log"
MIGRATIONS = [
    """
    CREATE TABLE world_instances (instance TEXT PRIMARY KEY, world_id TEXT NOT NULL,
                                  world_hash TEXT NOT NULL, epoch INTEGER NOT NULL, seq BIGINT NOT NULL,
                                  game_time DOUBLE PRECISION NOT NULL);
    CREATE TABLE world_vars (instance TEXT NOT NULL, name TEXT NOT NULL, value BYTEA NOT NULL,
                             PRIMARY KEY (instance, name));
    CREATE TABLE world_quests (instance TEXT NOT NULL, quest TEXT NOT NULL, state TEXT NOT NULL,
                               PRIMARY KEY (instance, quest));
    CREATE TABLE world_relations (instance TEXT NOT NULL, src TEXT NOT NULL, type TEXT NOT NULL,
                                  dst TEXT NOT NULL, PRIMARY KEY (instance, src, type, dst));
    CREATE TABLE world_knowledge (instance TEXT NOT NULL, npc TEXT NOT NULL, fact TEXT NOT NULL,
                                  since DOUBLE PRECISION NOT NULL, source TEXT NOT NULL,
                                  PRIMARY KEY (instance, npc, fact));
    CREATE TABLE world_event_facts (instance TEXT NOT NULL, fact TEXT NOT NULL, text TEXT NOT NULL,
                                    PRIMARY KEY (instance, fact));
    CREATE TABLE world_pending (instance TEXT NOT NULL, npc TEXT NOT NULL, fact TEXT NOT NULL,
                                due DOUBLE PRECISION NOT NULL, PRIMARY KEY (instance, npc, fact));
    CREATE TABLE world_epochs (instance TEXT NOT NULL, epoch INTEGER NOT NULL, reason TEXT NOT NULL,
                               world_hash TEXT NOT NULL, snapshot BYTEA NOT NULL,
                               PRIMARY KEY (instance, epoch));
    CREATE TABLE world_events (instance TEXT NOT NULL, epoch INTEGER NOT NULL, seq BIGINT NOT NULL,
                               game_time DOUBLE PRECISION NOT NULL, event BYTEA NOT NULL,
                               request TEXT, PRIMARY KEY (instance, epoch, seq));
    CREATE UNIQUE INDEX world_events_request ON world_events (instance, request) WHERE request IS NOT NULL;
    """,
    # 2: an append is one statement (one round trip, its own transaction in autocommit): the
    # checks and the writes run in the server. Returns (status, a, b): ('ok', 0, 0),
    # ('stale', epoch, seq) of the log's head, ('fenced', epoch or NULL, 0), ('logged', seq, 0);
    # on anything but 'ok' nothing was written.
    """
    CREATE FUNCTION npc_world_append(
        p_instance TEXT, p_epoch INTEGER, p_seq BIGINT, p_game_time DOUBLE PRECISION, p_event BYTEA,
        p_request TEXT, p_fence_key TEXT, p_fence_epoch BIGINT,
        var_names TEXT[], var_values BYTEA[], quest_names TEXT[], quest_states TEXT[],
        radd_src TEXT[], radd_type TEXT[], radd_dst TEXT[], rdel_src TEXT[], rdel_type TEXT[], rdel_dst TEXT[],
        fact_ids TEXT[], fact_texts TEXT[],
        k_npc TEXT[], k_fact TEXT[], k_since DOUBLE PRECISION[], k_source TEXT[],
        pdel_npc TEXT[], pdel_fact TEXT[], padd_npc TEXT[], padd_fact TEXT[], padd_due DOUBLE PRECISION[],
        OUT status TEXT, OUT a BIGINT, OUT b BIGINT
    ) LANGUAGE plpgsql AS $fn$
    DECLARE
        cur_epoch INTEGER;
        cur_seq BIGINT;
        owner_epoch BIGINT;
        logged_seq BIGINT;
    BEGIN
        IF p_fence_key IS NOT NULL THEN
            SELECT epoch INTO owner_epoch FROM cluster_owners WHERE key = p_fence_key FOR SHARE;
            IF owner_epoch IS DISTINCT FROM p_fence_epoch THEN
                status := 'fenced'; a := owner_epoch; b := 0; RETURN;
            END IF;
        END IF;
        SELECT epoch, seq INTO cur_epoch, cur_seq FROM world_instances WHERE instance = p_instance FOR UPDATE;
        IF p_request IS NOT NULL THEN
            SELECT seq INTO logged_seq FROM world_events WHERE instance = p_instance AND request = p_request;
            IF FOUND THEN
                status := 'logged'; a := logged_seq; b := 0; RETURN;
            END IF;
        END IF;
        IF cur_epoch IS DISTINCT FROM p_epoch OR cur_seq IS DISTINCT FROM p_seq - 1 THEN
            status := 'stale'; a := COALESCE(cur_epoch, 0); b := COALESCE(cur_seq, 0); RETURN;
        END IF;
        UPDATE world_instances SET seq = p_seq, game_time = p_game_time WHERE instance = p_instance;
        INSERT INTO world_events VALUES (p_instance, p_epoch, p_seq, p_game_time, p_event, p_request);
        INSERT INTO world_vars SELECT p_instance, n, v FROM unnest(var_names, var_values) AS t(n, v)
            ON CONFLICT (instance, name) DO UPDATE SET value = excluded.value;
        INSERT INTO world_quests SELECT p_instance, q, st FROM unnest(quest_names, quest_states) AS t(q, st)
            ON CONFLICT (instance, quest) DO UPDATE SET state = excluded.state;
        INSERT INTO world_relations SELECT p_instance, x, y, z FROM unnest(radd_src, radd_type, radd_dst) AS t(x, y, z)
            ON CONFLICT DO NOTHING;
        DELETE FROM world_relations r USING unnest(rdel_src, rdel_type, rdel_dst) AS t(x, y, z)
            WHERE r.instance = p_instance AND r.src = t.x AND r.type = t.y AND r.dst = t.z;
        INSERT INTO world_event_facts SELECT p_instance, f, tx FROM unnest(fact_ids, fact_texts) AS t(f, tx)
            ON CONFLICT (instance, fact) DO UPDATE SET text = excluded.text;
        INSERT INTO world_knowledge SELECT p_instance, n, f, si, so FROM unnest(k_npc, k_fact, k_since, k_source) AS t(n, f, si, so)
            ON CONFLICT (instance, npc, fact) DO UPDATE SET since = excluded.since, source = excluded.source;
        DELETE FROM world_pending w USING unnest(pdel_npc, pdel_fact) AS t(n, f)
            WHERE w.instance = p_instance AND w.npc = t.n AND w.fact = t.f;
        INSERT INTO world_pending(instance, npc, fact, due) SELECT p_instance, n, f, d FROM unnest(padd_npc, padd_fact, padd_due) AS t(n, f, d)
            ON CONFLICT (instance, npc, fact) DO UPDATE SET due = excluded.due;
        PERFORM pg_notify('npc_world_log', p_instance || ' ' || p_epoch || ' ' || p_seq);
        status := 'ok'; a := 0; b := 0;
    END
    $fn$;
    """,
]
APPEND_SQL = "SELECT status, a, b FROM npc_world_append(" + ", ".join(["%s"] * 29) + ")"
STATE_TABLES = (
    "world_vars", "world_quests", "world_relations", "world_knowledge", "world_event_facts", "world_pending",
)  # fmt: skip


def _pack(value: Any) -> bytes:
    return msgpack.packb(value, use_bin_type=True)


def _unpack(data: bytes) -> Any:
    return msgpack.unpackb(data, raw=False, strict_map_key=False)


class PgWorldStore:
    """The :class:`~.store.WorldStore` interface on PostgreSQL for one world ``instance``."""

    def __init__(self, db: PgDatabase, instance: str = "default") -> None:
        self.db = db
        self.instance = instance
        self.held_epoch = 0  # the epoch of the state this worker's replica was built from
        db.migrate(NAMESPACE, MIGRATIONS)

    # reading -------------------------------------------------------------------------------------
    def load(self) -> Stored | None:
        i = (self.instance,)
        fresh = self.db.conn.info.transaction_status == 0  # not inside exclusive()
        with self.db.transaction(fenced=False) as cur:
            if fresh:  # one consistent picture (inside exclusive() the row lock gives it)
                cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            cur.execute(
                "SELECT world_id, world_hash, epoch, seq, game_time FROM world_instances WHERE instance=%s", i
            )
            head = cur.fetchone()
            if head is None:
                return None
            world_id, world_hash, epoch, seq, game_time = head
            cur.execute("SELECT name, value FROM world_vars WHERE instance=%s", i)
            vars_ = {n: _unpack(v) for n, v in cur.fetchall()}
            cur.execute("SELECT quest, state FROM world_quests WHERE instance=%s", i)
            quests = dict(cur.fetchall())
            cur.execute("SELECT src, type, dst FROM world_relations WHERE instance=%s", i)
            relations = [list(r) for r in cur.fetchall()]
            cur.execute("SELECT fact, text FROM world_event_facts WHERE instance=%s", i)
            event_facts = dict(cur.fetchall())
            cur.execute(
                "SELECT npc, fact, due FROM world_pending WHERE instance=%s ORDER BY due, npc, fact", i
            )
            pending = [[due, npc, fact] for npc, fact, due in cur.fetchall()]
            cur.execute("SELECT npc, fact, since, source FROM world_knowledge WHERE instance=%s", i)
            knowledge: dict[str, dict[str, list[Any]]] = {}
            for npc, fact, since, source in cur.fetchall():
                knowledge.setdefault(npc, {})[fact] = [since, source]
        doc = {
            "vars": vars_, "quests": quests, "relations": relations, "knowledge": knowledge,
            "event_facts": event_facts, "pending": pending, "seq": int(seq), "game_time": float(game_time),
        }  # fmt: skip
        self.held_epoch = int(epoch)
        return Stored(doc, str(world_hash), int(epoch), str(world_id))

    def events(self, epoch: int | None = None) -> list[WorldEvent]:
        epoch = self.epoch() if epoch is None else epoch
        return [ev for _, ev in self.events_since(epoch, -1)]

    def events_since(self, epoch: int, seq: int) -> list[tuple[int, WorldEvent]]:
        """The logged events of ``epoch`` after ``seq``, in order, as (seq, event)."""
        rows = self.db.execute(
            "SELECT seq, event FROM world_events WHERE instance=%s AND epoch=%s AND seq>%s ORDER BY seq",
            (self.instance, epoch, seq),
        )
        return [(int(s), WorldEvent.from_dict(_unpack(e))) for s, e in rows]

    def head(self) -> tuple[int, int]:
        """(epoch, seq) of the log's end; (0, 0) with no world yet."""
        rows = self.db.execute("SELECT epoch, seq FROM world_instances WHERE instance=%s", (self.instance,))
        return (int(rows[0][0]), int(rows[0][1])) if rows else (0, 0)

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """A transaction holding the world instance's row lock: reads inside it see the whole log,
        and no other worker can append until it ends (the commit inside joins it)."""
        with self.db.transaction(fenced=False) as cur:
            cur.execute("SELECT seq FROM world_instances WHERE instance=%s FOR UPDATE", (self.instance,))
            yield

    def logged(self, request: str) -> int | None:
        """The sequence number of the event logged for ``request`` (in any epoch), or None."""
        rows = self.db.execute(
            "SELECT seq FROM world_events WHERE instance=%s AND request=%s", (self.instance, request)
        )
        return int(rows[0][0]) if rows else None

    def snapshot(self, epoch: int) -> tuple[dict[str, Any], str]:
        rows = self.db.execute(
            "SELECT snapshot, world_hash FROM world_epochs WHERE instance=%s AND epoch=%s",
            (self.instance, epoch),
        )
        if not rows:
            raise KeyError(f"no epoch {epoch} in the log of world instance '{self.instance}'")
        return _unpack(rows[0][0]), str(rows[0][1])

    def epoch(self) -> int:
        return self.head()[0]

    # writing -------------------------------------------------------------------------------------
    def reset(
        self, state: WorldState, world_hash: str, reason: str, conn: Any = None, world_id: str | None = None
    ) -> int:
        """Replace the instance's whole state and start a new epoch (fenced, under the row lock)."""
        epoch = self._reset(state, world_hash, reason, world_id, only_new=False)
        assert epoch is not None
        return epoch

    def create(self, state: WorldState, world_hash: str, world_id: str) -> int | None:
        """Store a new game's first epoch; None (nothing written) when the instance exists already:
        workers creating a fresh world at once take turns (an advisory lock on the instance, since
        there is no row to lock yet), and all but the first find it created."""
        return self._reset(state, world_hash, "new game", world_id, only_new=True)

    def _reset(
        self, state: WorldState, world_hash: str, reason: str, world_id: str | None, *, only_new: bool
    ) -> int | None:
        i = self.instance
        with self.db.transaction() as cur:
            # Resets of one instance take turns even when its row does not exist yet.
            cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"npc_world_instance:{i}",))
            cur.execute("SELECT world_id FROM world_instances WHERE instance=%s FOR UPDATE", (i,))
            row = cur.fetchone()
            if row is not None and only_new:
                return None
            if row is not None and world_id is not None and row[0] != world_id:
                raise StorageError(
                    f"world instance '{i}' in {self.db.path} holds world '{row[0]}', not '{world_id}'"
                )
            for table in STATE_TABLES:
                cur.execute(f"DELETE FROM {table} WHERE instance=%s".encode(), (i,))
            cur.executemany(
                "INSERT INTO world_vars VALUES(%s, %s, %s)", [(i, n, _pack(v)) for n, v in state.vars.items()]
            )
            cur.executemany(
                "INSERT INTO world_quests VALUES(%s, %s, %s)", [(i, *q) for q in state.quests.items()]
            )
            cur.executemany(
                "INSERT INTO world_relations VALUES(%s, %s, %s, %s)", [(i, *r) for r in state.relations()]
            )
            cur.executemany(
                "INSERT INTO world_knowledge VALUES(%s, %s, %s, %s, %s)",
                [
                    (i, n, f, k.since, k.source)
                    for n, facts in state.knowledge.items()
                    for f, k in facts.items()
                ],
            )
            cur.executemany(
                "INSERT INTO world_event_facts VALUES(%s, %s, %s)",
                [(i, *e) for e in state.event_facts.items()],
            )
            cur.executemany(
                "INSERT INTO world_pending(instance, npc, fact, due) VALUES(%s, %s, %s, %s)",
                [(i, n, f, d) for d, n, f in state.pending],
            )
            cur.execute("SELECT COALESCE(MAX(epoch), 0) + 1 FROM world_epochs WHERE instance=%s", (i,))
            got = cur.fetchone()
            assert got is not None
            epoch = int(got[0])
            cur.execute(
                "INSERT INTO world_epochs VALUES(%s, %s, %s, %s, %s)",
                (i, epoch, reason, world_hash, _pack(state.to_dict())),
            )
            cur.execute(
                "INSERT INTO world_instances VALUES(%s, %s, %s, %s, %s, %s) ON CONFLICT(instance) DO UPDATE SET "
                "world_id=excluded.world_id, world_hash=excluded.world_hash, epoch=excluded.epoch, "
                "seq=excluded.seq, game_time=excluded.game_time",
                (i, world_id if world_id is not None else (row[0] if row else ""), world_hash, epoch,
                 state.seq, state.game_time),
            )  # fmt: skip
            cur.execute("SELECT pg_notify(%s, %s)", (CHANNEL, f"{i} {epoch} {state.seq}"))
        self.held_epoch = epoch
        return epoch

    def commit(self, event: WorldEvent, changes: Changes, state: WorldState) -> None:
        """Append one event computed against the replica, with what it changed, in one fenced
        transaction; raises :class:`StaleReplica` when another worker appended first and
        :class:`AlreadyLogged` when the event's request is in the log.

        One statement, one round trip: the server function ``npc_world_append`` checks the
        conversation's fence, locks the instance row, checks that the log ends where the replica
        does and that the request is new, then writes the event, the state rows and the NOTIFY.
        Outside a transaction it is its own (autocommit); inside :meth:`exclusive` it joins it."""
        i = self.instance
        fence = current_fence.get()
        rels_add, rels_del = changes.relations_added, changes.relations_removed
        learned = [(n, f, state.knowledge[n][f]) for n, f, _ in changes.learned]
        params = (
            i, self.held_epoch, state.seq, state.game_time, _pack(event.to_dict()), event.request,
            fence.key if fence is not None else None, fence.epoch if fence is not None else None,
            list(changes.vars), [_pack(v[1]) for v in changes.vars.values()],
            list(changes.quests), [v[1] for v in changes.quests.values()],
            [r[0] for r in rels_add], [r[1] for r in rels_add], [r[2] for r in rels_add],
            [r[0] for r in rels_del], [r[1] for r in rels_del], [r[2] for r in rels_del],
            list(changes.event_facts), list(changes.event_facts.values()),
            [n for n, _, _ in learned], [f for _, f, _ in learned],
            [k.since for _, _, k in learned], [k.source for _, _, k in learned],
            [n for _, n, _ in changes.pending_removed], [f for _, _, f in changes.pending_removed],
            [n for _, n, _ in changes.pending_added], [f for _, _, f in changes.pending_added],
            [d for d, _, _ in changes.pending_added],
        )  # fmt: skip
        status, a, b = self.db.call(APPEND_SQL, params)
        if status == "ok":
            return
        if status == "fenced":
            assert fence is not None
            fence_check(fence, None if a is None else int(a))
        if status == "logged":
            assert event.request is not None
            raise AlreadyLogged(event.request, int(a))
        if status == "stale":
            raise StaleReplica(int(a), int(b), (self.held_epoch, state.seq - 1))
        raise StorageError(f"event {state.seq} of world instance '{i}': unexpected append status {status}")
