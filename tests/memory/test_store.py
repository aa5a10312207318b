"""The memory stream on a real SQLite file: recall across restarts, isolation, saves, bad input."""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Callable
from pathlib import Path

import msgpack
import pytest

from npc_runtime.errors import SaveFormatError, StorageError
from npc_runtime.memory import InvalidMemoryError, MemoryService, NewMemory
from npc_runtime.memory.embeddings import HashedNgramEmbedder, StaticEmbedder
from npc_runtime.memory.snapshot import export_state, import_state, pack
from npc_runtime.memory.store import MIGRATIONS
from npc_runtime.storage import Database

MakeService = Callable[..., MemoryService]


def test_memories_are_recalled_after_a_restart(make_service: MakeService, db_path: Path) -> None:
    first = make_service()
    first.remember_turn(
        "mira",
        "hero",
        player_text="My brother went missing near the old mill.",
        heard_text="I'm sorry.",
        game_time=3.0,
    )
    first.observe("mira", "Wolves were howling at the edge of the forest.", importance=6, game_time=4.0)
    first.db.close()

    again = make_service()
    found = again.retrieve("mira", "Have you seen my sibling?", now=5.0, k=1)
    assert found[0].memory.text == "My brother went missing near the old mill."
    assert found[0].memory.kind == "heard" and found[0].memory.player_id == "hero"
    assert [m.kind for m in again.store.recent("mira")] == ["observed", "said", "heard"]


def test_npcs_do_not_share_memories(service: MemoryService) -> None:
    service.remember_turn(
        "mira", "hero", player_text="The password is swordfish.", heard_text="Noted.", game_time=1
    )
    service.remember_turn("bram", "hero", player_text="Nice weather today.", heard_text="Aye.", game_time=1)
    texts = [r.memory.text for r in service.retrieve("bram", "What is the password?", now=2, k=10)]
    assert "The password is swordfish." not in texts
    assert {m.npc_id for m in service.store.recent("bram")} == {"bram"}
    assert service.retrieve("elda", "password", now=2) == []


def test_what_the_npc_said_is_what_the_player_heard(service: MemoryService) -> None:
    service.remember_turn(
        "mira", "hero", player_text="Tell me a secret.", heard_text="Well, the miller", game_time=1
    )
    said = [m for m in service.store.recent("mira") if m.kind == "said"]
    assert [m.text for m in said] == ["Well, the miller"]


def test_seeds_are_written_once(service: MemoryService) -> None:
    seeds = [("A hooded traveller paid in old coin.", 6.0, None, 0.0)]
    assert service.seed("mira", seeds) is True
    assert service.seed("mira", seeds) is False
    assert [m.kind for m in service.store.recent("mira")] == ["seed"]


def test_save_and_load_restore_memories_and_branches_stay_independent(
    make_service: MakeService, tmp_path: Path
) -> None:
    svc = make_service()
    svc.observe("mira", "The bridge collapsed in the storm.", game_time=1)
    svc.adjust_relationship("mira", "hero", {"trust": 0.3}, game_time=1)
    svc.facts.add("mira", "hero", "name", "Aldric", game_time=1)
    with svc.db.transaction() as conn:
        save_a = msgpack.unpackb(msgpack.packb(export_state(conn)), raw=False)
    svc.observe("mira", "A dragon was seen over the hills.", game_time=2)
    svc.adjust_relationship("mira", "hero", {"trust": 0.5}, game_time=2)
    with svc.db.transaction() as conn:
        save_b = pack(export_state(conn))

    with svc.db.transaction() as conn:
        import_state(conn, save_a, svc.store.embedder)
    svc.store.invalidate()
    assert [m.text for m in svc.store.recent("mira")] == ["The bridge collapsed in the storm."]
    assert svc.relationships.get("mira", "hero")["trust"] == pytest.approx(0.3)
    svc.observe("mira", "Branch A: the player burned the granary.", game_time=3)

    with svc.db.transaction() as conn:
        import_state(conn, save_b, svc.store.embedder)
    svc.store.invalidate()
    texts = [m.text for m in svc.store.recent("mira")]
    assert texts == ["A dragon was seen over the hills.", "The bridge collapsed in the storm."]
    assert svc.relationships.get("mira", "hero")["trust"] == pytest.approx(0.8)
    assert svc.facts.describe("mira", "hero") == ["Their name is Aldric."]
    # the restored memories are searchable (embeddings were recomputed on load)
    assert svc.retrieve("mira", "a wyrm in the sky", now=3, k=1)[0].memory.text.startswith("A dragon")


@pytest.mark.parametrize(
    "part",
    [None, {"items": []}, {"version": 99}, {"version": 1, "items": [[1, "mira"]]},
     {"version": 1, "encoding": "msgpack+zlib", "data": b"garbage"},
     {"version": 1, "items": [[1, "mira", "dream", "x", 5, 0, 0, None, None, None]]}],
)  # fmt: skip
def test_a_malformed_save_part_is_refused(service: MemoryService, part: object) -> None:
    service.observe("mira", "Kept when the load is refused.", game_time=1)
    with pytest.raises(SaveFormatError), service.db.transaction() as conn:
        import_state(conn, part, service.store.embedder)
    assert [m.text for m in service.store.recent("mira")] == ["Kept when the load is refused."]


@pytest.mark.parametrize(
    ("memory", "message"),
    [
        (NewMemory("mira", ""), "non-empty"),
        (NewMemory("mira", "x" * 4001), "limit is 4000"),
        (NewMemory("mira", "ok", importance=11), "1 to 10"),
        (NewMemory("mira", "ok", importance=math.nan), "1 to 10"),
        (NewMemory("mira", "ok", game_time=math.inf), "finite"),
        (NewMemory("mira", "ok", kind="dream"), "unknown memory kind"),
        (NewMemory("", "ok"), "npc_id"),
        (NewMemory("mira", "ok", player_id=""), "player_id"),
    ],
)
def test_bad_input_is_refused_with_a_clear_error(
    service: MemoryService, memory: NewMemory, message: str
) -> None:
    with pytest.raises(InvalidMemoryError, match=message):
        service.store.add(memory)
    assert service.store.count("mira") == 0


def test_a_batch_with_one_bad_memory_writes_nothing(service: MemoryService) -> None:
    with pytest.raises(InvalidMemoryError):
        service.store.add_many([NewMemory("mira", "fine"), NewMemory("mira", "bad", importance=0)])
    assert service.store.count("mira") == 0


def test_a_corrupt_database_file_is_a_storage_error(make_service: MakeService, tmp_path: Path) -> None:
    bad = tmp_path / "corrupt.sqlite3"
    bad.write_bytes(b"SQLite format 3\x00" + bytes(range(256)) * 64)
    with pytest.raises(StorageError, match=r"corrupt|not a readable"):
        make_service(bad)


def test_a_truncated_database_file_is_a_storage_error(make_service: MakeService, tmp_path: Path) -> None:
    path = tmp_path / "cut.sqlite3"
    svc = make_service(path)
    svc.store.add_many([NewMemory("mira", f"memory number {i} " * 20) for i in range(300)])
    svc.db.close()
    for extra in ("-wal", "-shm"):
        Path(str(path) + extra).unlink(missing_ok=True)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(StorageError):
        make_service(path).retrieve("mira", "memory", now=0)


def test_a_foreign_sqlite_file_is_a_storage_error(make_service: MakeService, tmp_path: Path) -> None:
    foreign = tmp_path / "other.sqlite3"
    conn = sqlite3.connect(foreign)
    conn.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
    conn.commit()
    conn.close()
    with pytest.raises(StorageError, match="another application"):
        make_service(foreign)
    conn = sqlite3.connect(foreign)
    assert [r[0] for r in conn.execute("SELECT name FROM sqlite_master")] == ["customers"]
    conn.close()


def test_vectors_of_another_model_are_recomputed(make_service: MakeService, db_path: Path) -> None:
    old = make_service(embedder=HashedNgramEmbedder())
    old.observe("mira", "The traveller's brother vanished on the northern road.", game_time=0)
    old.observe("mira", "The roof of the stable leaks when it rains.", game_time=0)
    old.db.close()
    new = make_service(embedder=StaticEmbedder())
    assert new.retrieve("mira", "What happened to the man's sibling?", now=0, k=1)[0].memory.text.startswith(
        "The traveller's"
    )
    models = {r[0] for r in new.db.execute("SELECT model_id FROM memory_items")}
    assert models == {new.store.embedder.model_id}  # type: ignore[union-attr]


def test_without_an_embedder_fts5_gives_relevance(make_service: MakeService) -> None:
    svc = make_service(embedder=None, embeddings="none")
    svc.observe("mira", "Wolves killed three sheep at the Harlow farm.", game_time=0)
    svc.observe("mira", "The mayor raised taxes again.", game_time=0)
    found = svc.retrieve("mira", "Were any sheep killed?", now=0, k=2)
    assert found[0].memory.text.startswith("Wolves") and found[0].relevance == 1.0
    assert found[1].relevance == 0.0


def test_storage_is_shared_with_other_namespaces(db_path: Path, make_service: MakeService) -> None:
    db = Database(db_path)
    db.migrate("world", ["CREATE TABLE world_vars (k TEXT PRIMARY KEY, v TEXT)"])
    db.close()
    svc = make_service()
    svc.observe("mira", "hello", game_time=0)
    versions = dict(svc.db.execute("SELECT namespace, version FROM schema_versions").fetchall())
    assert versions == {"world": 1, "memory": len(MIGRATIONS)}


def test_a_version_1_database_is_migrated_and_keeps_its_memories(
    db_path: Path, make_service: MakeService
) -> None:
    db = Database(db_path)
    db.migrate("memory", MIGRATIONS[:1])
    with db.transaction() as conn:
        conn.execute(
            "INSERT INTO memory_items(npc_id, kind, text, importance, game_time, wall_time) "
            "VALUES ('mira', 'observed', 'Wolves killed three sheep.', 5, 0, 0), "
            "('mira', 'observed', 'The mayor raised taxes.', 5, 0, 0)"
        )
    db.close()
    svc = make_service(embedder=None, embeddings="none")
    found = svc.retrieve("mira", "sheep", now=0)
    assert [r.memory.text for r in found] == ["Wolves killed three sheep.", "The mayor raised taxes."]
    assert [r.relevance for r in found] == [1.0, 0.0]
