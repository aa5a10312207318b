"""Memory in PostgreSQL (cluster mode) on a real server: it agrees with SQLite, search stays exact
per NPC across workers, writes are fenced, and a save loads in one transaction."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from npc_runtime.clock import ManualClock
from npc_runtime.memory import MemoryService, MemorySettings, NewMemory
from npc_runtime.memory.embeddings import StaticEmbedder
from npc_runtime.memory.snapshot import export_state, import_state, pack
from npc_runtime.storage import Database
from npc_runtime.storage.postgres import Fence, FencedError, current_fence
from npc_runtime.storage.shared import SharedDatabase, SqlDatabase

pytest.importorskip("psycopg", reason="the cluster extra (psycopg) is not installed")

LINES = [
    "My brother went missing near the old mill.",
    "Wolves were howling at the edge of the forest.",
    "The smith owes me three silver coins.",
    "I promise to bring you the herbs by nightfall.",
    "The bridge to the north gate collapsed in the storm.",
    "A stranger asked about the mayor's daughter.",
    "The harvest festival starts in two days.",
    "Someone stole bread from the bakery again.",
]


@pytest.fixture
def shared(pg_dsn: str) -> Iterator[Callable[[], SharedDatabase]]:
    opened: list[SharedDatabase] = []

    def open_() -> SharedDatabase:
        db = SharedDatabase(pg_dsn, name=f"worker-{len(opened)}")
        opened.append(db)
        return db

    yield open_
    for db in opened:
        db.close()


def service(db: SqlDatabase, embedder: StaticEmbedder, **settings: object) -> MemoryService:
    return MemoryService(db, MemorySettings(**settings), clock=ManualClock(), embedder=embedder)  # type: ignore[arg-type]


def fill(svc: MemoryService) -> None:
    for i, text in enumerate(LINES):
        svc.observe("mira", text, importance=3 + i % 5, game_time=float(i))
    svc.observe("bram", "The password is swordfish.", importance=9, game_time=1.0)
    svc.facts.add("mira", "hero", "name", "Aldric", game_time=1.0)
    svc.adjust_relationship("mira", "hero", {"trust": 0.25}, game_time=1.0)


QUERIES = ["Where is my sibling?", "Who owes money?", "What happened to the bridge?", "festival", "herbs"]


def test_postgres_agrees_with_sqlite(
    shared: Callable[[], SharedDatabase], tmp_path: Path, static_embedder: StaticEmbedder
) -> None:
    lite = service(Database(tmp_path / "m.sqlite3"), static_embedder, lexical_weight=0.0)
    pg = service(shared(), static_embedder, lexical_weight=0.0)
    for svc in (lite, pg):
        fill(svc)
    for q in QUERIES:
        a = [(r.memory.text, round(r.score, 5)) for r in lite.retrieve("mira", q, now=10.0, k=4)]
        b = [(r.memory.text, round(r.score, 5)) for r in pg.retrieve("mira", q, now=10.0, k=4)]
        assert a == b, q
    assert pg.facts.name("mira", "hero") == lite.facts.name("mira", "hero") == "Aldric"
    assert pg.relationships.get("mira", "hero") == lite.relationships.get("mira", "hero")
    assert [m.text for m in pg.store.recent("mira")] == [m.text for m in lite.store.recent("mira")]
    lite.db.close()


def test_lexical_search_finds_the_words_without_an_embedder(shared: Callable[[], SharedDatabase]) -> None:
    pg = MemoryService(shared(), MemorySettings(), clock=ManualClock(), embedder=None)
    fill(pg)
    found = pg.retrieve("mira", "who stole the bread?", now=10.0, k=1)
    assert found[0].memory.text == "Someone stole bread from the bakery again."
    assert all(r.memory.npc_id == "mira" for r in pg.retrieve("mira", "password swordfish", now=10.0, k=10))


def test_search_is_exact_per_npc_and_sees_other_workers_writes(
    shared: Callable[[], SharedDatabase], static_embedder: StaticEmbedder
) -> None:
    a, b = service(shared(), static_embedder), service(shared(), static_embedder)
    fill(a)
    assert len(b.retrieve("mira", "anything at all", now=10.0, k=5)) == 5  # b caches mira's index
    many = [NewMemory("bram", f"note {i} about the mill", game_time=2.0) for i in range(30)]
    a.store.add_many(many)
    # never fewer than k for one NPC, whatever the other NPCs hold
    assert len(b.retrieve("mira", "mill", now=10.0, k=len(LINES))) == len(LINES)
    # a new memory written on worker a is found on worker b, whose cached index is now stale
    a.observe("mira", "The dragon burned the granary at midnight.", importance=9, game_time=11.0)
    top = b.retrieve("mira", "What did the dragon burn?", now=12.0, k=1)
    assert top[0].memory.text == "The dragon burned the granary at midnight."
    assert len(b.retrieve("mira", "x", now=12.0, k=100)) == len(LINES) + 1
    # b's own write keeps its index (no other writer between) and is found at once
    b.observe("mira", "The miller's cat is called Soot.", importance=5, game_time=12.0)
    assert b.retrieve("mira", "What is the cat called?", now=12.0, k=1)[0].memory.text.endswith("Soot.")


def test_every_vector_records_its_model(
    shared: Callable[[], SharedDatabase], static_embedder: StaticEmbedder
) -> None:
    db = shared()
    fill(service(db, static_embedder))
    models = db.execute("SELECT DISTINCT model_id FROM memory_items WHERE embedding IS NOT NULL").fetchall()
    assert models == [(static_embedder.model_id,)]
    assert db.execute("SELECT count(*) FROM memory_items WHERE embedding IS NULL").fetchone() == (0,)


def test_a_write_after_the_conversation_moved_is_fenced(
    shared: Callable[[], SharedDatabase], static_embedder: StaticEmbedder
) -> None:
    db, gateway = shared(), shared()
    svc = service(db, static_embedder)
    epoch = gateway.pg.claim("conv-1", "worker-0")
    token = current_fence.set(Fence("conv-1", epoch))
    try:
        svc.observe("mira", "Acknowledged before the move.", game_time=1.0)
        gateway.pg.claim("conv-1", "worker-9")  # the conversation moves elsewhere
        with pytest.raises(FencedError):
            svc.observe("mira", "Written after the move.", game_time=2.0)
        with pytest.raises(FencedError):
            svc.adjust_relationship("mira", "hero", {"trust": 0.5}, game_time=2.0)
    finally:
        current_fence.reset(token)
    texts = [m.text for m in svc.store.recent("mira")]
    assert texts == ["Acknowledged before the move."]
    assert svc.relationships.get("mira", "hero")["trust"] == 0.0


def test_a_save_round_trips_and_a_bad_one_changes_nothing(
    shared: Callable[[], SharedDatabase], static_embedder: StaticEmbedder
) -> None:
    db = shared()
    svc = service(db, static_embedder)
    fill(svc)
    with db.transaction() as conn:
        saved = pack(export_state(conn))
    other = service(shared(), static_embedder)
    assert len(other.retrieve("mira", "x", now=10.0, k=100)) == len(LINES)  # cached on the other worker
    svc.observe("mira", "After the save.", game_time=20.0)
    with db.transaction() as conn:
        import_state(conn, saved, static_embedder, shared=True)
    svc.store.invalidate()
    assert "After the save." not in [m.text for m in svc.store.recent("mira", limit=100)]
    assert len(other.retrieve("mira", "x", now=10.0, k=100)) == len(LINES)  # saw the load
    new_id = svc.observe("mira", "After the load.", game_time=21.0)
    assert new_id > max(m.id for m in svc.store.recent("mira", limit=100) if m.text != "After the load.")
    bad = export_state_with_dangling_evidence(db)
    before = db.execute("SELECT count(*) FROM memory_items").fetchone()
    with pytest.raises(Exception, match="inconsistent"), db.transaction() as conn:
        import_state(conn, bad, static_embedder, shared=True)
    assert db.execute("SELECT count(*) FROM memory_items").fetchone() == before


def export_state_with_dangling_evidence(db: SharedDatabase) -> dict[str, object]:
    with db.transaction() as conn:
        state = export_state(conn)
    state["evidence"] = [[1, 999_999]]
    return state


def test_a_load_with_the_same_ids_is_not_taken_for_new_memories(
    shared: Callable[[], SharedDatabase], static_embedder: StaticEmbedder
) -> None:
    db = shared()
    fill(service(db, static_embedder))
    other = service(shared(), static_embedder)
    assert len(other.retrieve("mira", "x", now=10.0, k=100)) == len(LINES)  # cached on the other worker
    with db.transaction() as conn:
        state = export_state(conn)
    for row in state["items"]:  # same ids and count, other words
        row[3] = "The lighthouse keeper hid the ledger." if row[1] == "mira" else row[3]
    with db.transaction() as conn:
        import_state(conn, state, static_embedder, shared=True)
    found = other.retrieve("mira", "Who hid the ledger?", now=10.0, k=100)
    assert {r.memory.text for r in found} == {"The lighthouse keeper hid the ledger."}
    assert len(found) == len(LINES)
    # the other worker searched the loaded memories' vectors, not its cached ones
    want = static_embedder.embed_one("The lighthouse keeper hid the ledger.")
    for vec in other.store.vectors("mira", [r.memory.id for r in found]).values():
        assert np.allclose(vec, want, atol=0.01)
