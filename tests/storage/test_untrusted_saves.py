"""Save blobs are untrusted files: an edited blob is refused with the path of the problem before
anything changes, or loaded only when it fits the running world."""

from __future__ import annotations

import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgpack
import pytest

from npc_runtime.errors import SaveFormatError
from npc_runtime.memory.snapshot import import_state
from npc_runtime.memory.store import MemoryStore
from npc_runtime.protocol.messages import Error, Load, Loaded, Save, SaveData
from npc_runtime.protocol.messages.world import WorldEventMsg, WorldStateQuery, WorldStateReply
from npc_runtime.runtime.app import Runtime
from npc_runtime.storage import Database, SaveBlob, decode_save, encode_save
from npc_runtime.transport.client import AsyncClient, RuntimeErrorReply
from npc_runtime.world.compiled import World, load_world
from npc_runtime.world.saves import read_part, save_part
from npc_runtime.world.state import initial_state

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def village() -> World:
    return load_world(REPO / "personas" / "village.world.yaml")


def _part(world: World, edit: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    part = save_part(world, initial_state(world))
    edit(part["state"])
    return part


EDITS: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    (
        "bogus quest state",
        lambda s: s["quests"].update(wolves="bogus"),
        "quests.wolves: 'bogus' is not a state",
    ),
    (
        "gold below minimum",
        lambda s: s["vars"].update({"player.gold": -5}),
        "vars.player.gold: -5 is below the minimum 0",
    ),
    (
        "string in an int",
        lambda s: s["vars"].update({"player.gold": "lots"}),
        "vars.player.gold: 'lots' is not an int",
    ),
    (
        "unknown variable",
        lambda s: s["vars"].update({"player.mana": 3}),
        "vars.player.mana: the world declares no such",
    ),
    ("missing variable", lambda s: s["vars"].pop("weather"), "vars.weather: missing"),
    ("missing quest", lambda s: s["quests"].pop("gate"), "quests.gate: missing"),
    ("enum value", lambda s: s["vars"].update(weather="snow"), "vars.weather: 'snow' is not one of"),
    ("infinite clock", lambda s: s.update(game_time=float("inf")), "game_time: must be a finite number"),
    ("negative clock", lambda s: s.update(game_time=-3), "game_time: must be a finite number"),
    (
        "relation of ints",
        lambda s: s["relations"].append(["mira", 0, "inn"]),
        ": must be [from, type, to] (strings), got ['mira', 0, 'inn']",
    ),
    (
        "relation to nobody",
        lambda s: s["relations"].append(["mira", "knows", "ghost"]),
        "unknown entity 'ghost'",
    ),
    (
        "unknown fact",
        lambda s: s["knowledge"]["mira"].update(dragons=[0.0, "start"]),
        "knowledge.mira.dragons: unknown fact",
    ),
    (
        "knowledge of a stranger",
        lambda s: s["knowledge"].update(ghost={}),
        "knowledge.ghost: not a character",
    ),
    (
        "NaN knowledge time",
        lambda s: s["knowledge"]["mira"].update(mira_owes_bram=[float("nan"), "start"]),
        "knowledge.mira.mira_owes_bram",
    ),
    ("bool seq", lambda s: s.update(seq=True), "seq: must be a whole number"),
    (
        "pending of unknown fact",
        lambda s: s["pending"].append([1.0, "mira", "nope"]),
        "pending.0: unknown fact 'nope'",
    ),
]


@pytest.mark.parametrize(("edit", "path"), [e[1:] for e in EDITS], ids=[e[0] for e in EDITS])
def test_an_edited_world_part_is_refused_with_its_path(
    village: World, edit: Callable[[dict[str, Any]], None], path: str
) -> None:
    with pytest.raises(SaveFormatError) as err:
        read_part(_part(village, edit), village)
    assert "parts.world.state." in str(err.value)
    assert path in str(err.value)


def test_an_unedited_world_part_loads(village: World) -> None:
    state, notes, reconciled = read_part(save_part(village, initial_state(village)), village)
    assert state.quests["wolves"] == "not_started" and notes == [] and not reconciled


def test_a_save_from_a_changed_world_still_gets_every_check(village: World) -> None:
    part = _part(village, lambda s: s["relations"].append(["mira", 7, "inn"]))
    part["world_hash"] = "0000"  # another version of the world file: the reconcile path
    with pytest.raises(SaveFormatError, match=r"relations\.\d+: must be \[from, type, to\]"):
        read_part(part, village)


def _memory_db(tmp_path: Path) -> Database:
    db = Database(tmp_path / "m.sqlite3")
    MemoryStore(db, embedder=None)  # creates the memory tables
    return db


def test_memory_rows_are_checked_before_anything_is_deleted(tmp_path: Path) -> None:
    db = _memory_db(tmp_path)
    conn = db.conn
    conn.execute("INSERT INTO memory_npc_state(npc_id) VALUES ('keep')")
    bad = {
        "version": 1,
        "relationships": [["mira", "player", "trust", float("nan"), 0.0]],
    }
    with pytest.raises(SaveFormatError, match=r"parts.memory.relationships.0.value"):
        import_state(conn, bad, None)
    out = {"version": 1, "relationships": [["mira", "player", "trust", 7.0, 0.0]]}
    with pytest.raises(SaveFormatError, match=r"7.0 is outside \[-1.0, 1.0\]"):
        import_state(conn, out, None, bounds={"trust": (-1.0, 1.0)})
    dup = {"version": 1, "facts": [[1, "m", "p", "fact", "x", 0.0], [1, "m", "p", "fact", "y", 0.0]]}
    with pytest.raises(SaveFormatError, match="inconsistent"), db.transaction() as txn:
        import_state(txn, dup, None)  # as the runtime loads: in one transaction, rolled back
    assert conn.execute("SELECT npc_id FROM memory_npc_state").fetchall() == [("keep",)]


def test_a_zlib_bomb_in_the_memory_part_is_refused(tmp_path: Path) -> None:
    conn = _memory_db(tmp_path).conn
    bomb = {"version": 1, "encoding": "msgpack+zlib", "data": zlib.compress(b"\0" * (300 << 20), 9)}
    assert len(bomb["data"]) < 400_000  # 300 MiB of zeros in a few hundred kB
    with pytest.raises(SaveFormatError, match="inflates to over"):
        import_state(conn, bomb, None)


def test_the_checksum_tells_an_edited_blob() -> None:
    blob = encode_save(SaveBlob(parts={"world": {"a": 1}}))
    assert decode_save(blob).altered is False
    doc = msgpack.unpackb(blob)
    doc["parts"]["world"]["a"] = 2
    edited = msgpack.packb(doc)
    assert decode_save(edited).altered is True
    with pytest.raises(SaveFormatError, match="altered"):
        decode_save(edited, integrity="refuse")
    del doc["checksum"]
    assert decode_save(msgpack.packb(doc)).altered is None
    with pytest.raises(SaveFormatError, match="no checksum"):
        decode_save(msgpack.packb(doc), integrity="refuse")


async def test_an_edited_save_is_refused_over_the_wire_and_nothing_breaks(
    runtime_server: Runtime, client: AsyncClient
) -> None:
    await client.request(WorldEventMsg(kind="location_entered", location="inn", game_time=1))
    saved = await client.request(Save())
    assert isinstance(saved, SaveData)
    doc = msgpack.unpackb(saved.blob, raw=False)
    for edit in (
        lambda s: s["quests"].update(wolves="bogus"),
        lambda s: s["vars"].update({"player.gold": -50}),
        lambda s: s["vars"].update({"player.gold": "many"}),
    ):
        edited = msgpack.unpackb(saved.blob, raw=False)
        edit(edited["parts"]["world"]["state"])
        with pytest.raises(RuntimeErrorReply) as err:
            await client.request(Load(blob=msgpack.packb(edited, use_bin_type=True)))
        assert isinstance(err.value.error, Error)
        assert err.value.error.code == "save_invalid"
        assert "parts.world.state." in err.value.error.message
    state = await client.request(WorldStateQuery())
    assert isinstance(state, WorldStateReply)
    assert state.quests["wolves"] == doc["parts"]["world"]["state"]["quests"]["wolves"]
    assert isinstance(await client.request(Load(blob=saved.blob)), Loaded)
