"""Persistence: SQLite store, restart, kill -9 durability, saves, branches, changed world files."""

from __future__ import annotations

import copy
import os
import re
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import msgpack
import pytest

from npc_runtime.errors import SaveFormatError, StorageError
from npc_runtime.storage import Database, SaveBlob, decode_save, encode_save
from npc_runtime.world.compiled import World, compile_world
from npc_runtime.world.engine import WorldEvent
from npc_runtime.world.model import WorldFile
from npc_runtime.world.saves import PART_FORMAT
from npc_runtime.world.service import WorldService
from npc_runtime.world.store import WorldStore

VILLAGE = Path(__file__).resolve().parents[2] / "personas" / "village.world.yaml"


def bribe(amount: int) -> WorldEvent:
    return WorldEvent("custom", {"name": "bribe_offered", "payload": {"amount": amount}}, ["elda"], 1.0)


def persuade() -> WorldEvent:
    return WorldEvent("custom", {"name": "persuasion_attempt", "payload": {"success": True}})


def variant(village: World, change: Any) -> World:
    doc = copy.deepcopy(village.file.model_dump(by_alias=True))
    change(doc)
    return compile_world(WorldFile.model_validate(doc))


def test_state_survives_a_restart(village: World, tmp_path: Path) -> None:
    path = tmp_path / "w.sqlite3"
    db = Database(path)
    svc = WorldService(village, WorldStore(db))
    svc.apply(bribe(10))
    svc.apply(WorldEvent("time", game_time=4.0))
    live = svc.state.to_dict()
    db.close()
    db = Database(path)
    again = WorldService(village, WorldStore(db))
    assert again.state.to_dict() == live
    assert again.replayed().to_dict() == live  # snapshot + logged events = live state
    db.close()


def test_a_database_of_another_world_is_refused(village: World, service: WorldService, db: Database) -> None:
    other = variant(village, lambda d: d.__setitem__("world", "castle"))
    with pytest.raises(
        StorageError, match="holds the state of world 'village', but this runtime runs world 'castle'"
    ):
        WorldService(other, WorldStore(db))


def test_rejected_events_are_not_logged(service: WorldService) -> None:
    with pytest.raises(Exception, match="below the minimum 0"):
        service.apply(bribe(99))
    assert service.store.events() == []
    assert service.store.load().doc["vars"]["player.gold"] == 15  # type: ignore[union-attr]


def test_a_failing_store_rolls_the_event_back(service: WorldService) -> None:
    before = service.state.to_dict()
    service.store.db.execute("DROP TABLE world_events")  # the next commit fails inside SQLite
    with pytest.raises(Exception, match="no such table"):
        service.apply(bribe(5))
    assert service.state.to_dict() == before  # memory never runs ahead of storage


KILLER = textwrap.dedent(
    """
    import sys
    from npc_runtime.storage import Database
    from npc_runtime.world.compiled import load_world
    from npc_runtime.world.engine import WorldEvent
    from npc_runtime.world.service import WorldService
    from npc_runtime.world.store import WorldStore

    svc = WorldService(load_world(sys.argv[1]), WorldStore(Database(sys.argv[2])))
    while True:
        svc.apply(WorldEvent("enemy_killed", {"enemy": "wolf"}, game_time=float(svc.state.seq)))
        print(svc.state.seq, flush=True)  # the acknowledgement: apply() returned, so it is committed
    """
)


def test_no_acknowledged_event_is_lost_after_kill_9(village: World, tmp_path: Path) -> None:
    db_path = tmp_path / "killed.sqlite3"
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLER, str(VILLAGE), str(db_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    acked = 0
    try:
        while acked < 300:
            line = proc.stdout.readline()
            assert line, f"writer died: {proc.stderr.read() if proc.stderr else ''}"
            acked = int(line)
        os.kill(proc.pid, signal.SIGKILL)  # in the middle of writing more events
    finally:
        proc.wait(timeout=30)
        proc.stdout.close()
        if proc.stderr:
            proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    db = Database(db_path)
    svc = WorldService(village, WorldStore(db))
    seq = svc.state.seq
    assert seq >= acked
    assert svc.state.vars["wolves.killed"] == seq  # state rows and the log agree
    assert len(svc.store.events()) == seq
    assert svc.replayed().to_dict() == svc.state.to_dict()
    db.close()


def blob_of(service: WorldService) -> bytes:
    return encode_save(SaveBlob(parts={"world": service.save_part()}))


def load_blob(service: WorldService, blob: bytes) -> list[str]:
    return service.load(decode_save(blob).parts["world"])


def test_branching_save_path_a_load_path_b(village: World, service: WorldService, tmp_path: Path) -> None:
    service.apply(WorldEvent("location_entered", {"location": "north_gate"}))
    at_gate = blob_of(service)
    # path A: the bribe
    service.apply(bribe(10))
    assert service.state.quests["gate"] == "bribed"
    path_a = blob_of(service)
    # back to the gate, path B: persuasion
    assert load_blob(service, at_gate) == []
    assert service.state.quests["gate"] == "closed" and service.state.vars["player.gold"] == 15
    for _ in range(3):
        service.apply(persuade())
    b = service.state
    assert b.quests == {"wolves": "not_started", "gate": "persuaded", "remedy": "gathering"}
    assert b.vars["player.gold"] == 15 and b.vars["gate.bribe"] == 0
    assert not b.knows("tomas", "tomas_took_bribe") and not b.knows("elda", "seen.2")
    assert b.knows("tomas", "gate_opened_honestly")
    assert ("player", "located_in", "north_gate") in b.relations()
    path_b = b.to_dict()
    # path A is still intact in its blob
    load_blob(service, path_a)
    a = service.state
    assert (
        a.quests["gate"] == "bribed" and a.vars["player.gold"] == 5 and a.knows("tomas", "tomas_took_bribe")
    )
    assert a.event_facts == {"seen.2": "The traveller slipped Tomas 10 gold."}
    # every load starts an epoch whose snapshot + events replay exactly
    assert service.replayed().to_dict() == a.to_dict()
    service.apply(WorldEvent("time", game_time=3.0))
    assert service.replayed().to_dict() == service.state.to_dict()
    # and the database holds the loaded branch after a restart
    db2 = Database(service.store.db.path)
    assert WorldService(village, WorldStore(db2)).state.to_dict() == service.state.to_dict()
    db2.close()
    assert path_b != a.to_dict()


def test_a_save_from_a_changed_world_is_reconciled_with_notes(
    village: World, service: WorldService, db: Database
) -> None:
    service.apply(bribe(10))
    part = service.save_part()

    def change(doc: dict[str, Any]) -> None:
        doc["variables"]["mira.mood"] = {"type": "enum", "values": ["calm", "cross"]}
        del doc["variables"]["weather"]
        doc["quests"]["herbs"] = {"initial": "a", "states": {"a": {"final": True}}}
        del doc["facts"]["mira_owes_bram"]

    newer = variant(village, change)
    svc = WorldService(newer, WorldStore(db))  # the stored state is reconciled on start too
    assert "variable 'weather' is no longer declared: dropped" in svc.notes
    notes = svc.load(part)
    assert "variable 'mira.mood' is new: starts at 'calm'" in notes
    assert "quest 'herbs' is new: starts in 'a'" in notes
    assert "fact 'mira_owes_bram' is no longer declared: mira forgets it" in notes
    assert svc.state.quests["gate"] == "bribed" and svc.state.vars["player.gold"] == 5
    assert svc.state.vars["mira.mood"] == "calm" and "weather" not in svc.state.vars


def test_a_save_that_cannot_be_reconciled_is_refused_with_every_conflict(
    village: World, service: WorldService, db: Database
) -> None:
    service.apply(bribe(10))
    part = service.save_part()

    def change(doc: dict[str, Any]) -> None:
        del doc["quests"]["gate"]["states"]["bribed"]
        doc["quests"]["gate"]["transitions"] = [
            t for t in doc["quests"]["gate"]["transitions"] if t["to"] != "bribed" and t["from"] != "bribed"
        ]
        doc["variables"]["player.gold"]["min"] = 10

    newer = variant(village, change)
    svc = WorldService(newer, WorldStore(Database(":memory:")))
    before = svc.state.to_dict()
    with pytest.raises(SaveFormatError) as info:
        svc.load(part)
    msg = str(info.value)
    assert f"content hash {village.hash}, now {newer.hash}" in msg
    assert "quest 'gate' is in state 'bribed', which the world file no longer declares" in msg
    assert "variable 'player.gold': the saved value 5 is below the minimum 10" in msg
    assert svc.state.to_dict() == before


def test_refuse_policy_and_foreign_or_damaged_parts(village: World, service: WorldService) -> None:
    part = service.save_part()
    newer = variant(village, lambda d: d["variables"].__setitem__("extra", {"type": "bool"}))
    strict = WorldService(newer, WorldStore(Database(":memory:")), policy="refuse")
    with pytest.raises(SaveFormatError, match=re.escape("world.reconcile is 'refuse'")):
        strict.load(part)
    other = variant(village, lambda d: d.__setitem__("world", "castle"))
    with pytest.raises(
        SaveFormatError, match="the save is from world 'village', but this runtime runs world 'castle'"
    ):
        WorldService(other, WorldStore(Database(":memory:"))).load(part)
    with pytest.raises(SaveFormatError, match="needs reader format 2; this runtime reads 1: upgrade"):
        service.load({**part, "format": PART_FORMAT + 1, "min_reader": PART_FORMAT + 1})
    with pytest.raises(SaveFormatError, match="damaged"):
        service.load({"format": 1, "state": {"vars": {}}, "world": "village", "world_hash": village.hash})
    with pytest.raises(SaveFormatError, match="not an npc-runtime save blob"):
        decode_save(msgpack.packb({"hello": 1}))
