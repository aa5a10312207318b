"""A load in cluster mode is one PostgreSQL transaction: the world and memory parts land together
or not at all (a real server; the runtime in-process with its state in PostgreSQL)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from npc_runtime.memory.snapshot import pack, unpack
from npc_runtime.protocol.messages import Load, Loaded, Save, SaveData
from npc_runtime.protocol.messages.memory import MemoryAdd
from npc_runtime.protocol.messages.world import WorldEventMsg, WorldStateQuery, WorldStateReply
from npc_runtime.runtime.app import Runtime
from npc_runtime.settings import Settings
from npc_runtime.storage.saves import decode_save, encode_save
from npc_runtime.storage.shared import SharedDatabase
from npc_runtime.transport.client import AsyncClient, RuntimeErrorReply

pytest.importorskip("psycopg", reason="the cluster extra (psycopg) is not installed")


@pytest.fixture
async def shared_runtime(make_settings: Callable[..., Settings], pg_dsn: str) -> AsyncIterator[Runtime]:
    runtime = Runtime(make_settings(world={"shared_db": pg_dsn}))
    await runtime.start()
    try:
        yield runtime
    finally:
        await runtime.stop()


async def quests(client: AsyncClient) -> dict[str, str]:
    reply = await client.request(WorldStateQuery())
    assert isinstance(reply, WorldStateReply)
    return dict(reply.quests)


async def test_a_load_whose_memory_part_fails_leaves_the_world_unchanged(shared_runtime: Runtime) -> None:
    assert isinstance(shared_runtime.db, SharedDatabase)  # world and memory share one connection
    async with AsyncClient(shared_runtime.endpoint, name="game") as client:
        saved = await client.request(Save())
        assert isinstance(saved, SaveData) and {"world", "memory"} <= set(saved.parts)
        await client.request(WorldEventMsg(kind="custom", name="bribe_offered", payload={"amount": 10}))
        await client.request(MemoryAdd(npc_id="mira", text="The gate was bribed open."))
        after = await quests(client)
        assert after["gate"] == "bribed"
        # the same save with a memory part that fails inside the load (evidence of no memory)
        blob = decode_save(saved.blob)
        memory = unpack(blob.parts["memory"])
        memory["evidence"] = [[1, 999_999]]
        blob.parts["memory"] = pack(memory)
        with pytest.raises(RuntimeErrorReply) as info:
            await client.request(Load(blob=encode_save(blob)))
        assert info.value.code == "save_invalid"
        assert await quests(client) == after  # the world part was rolled back with it
        db = shared_runtime.db
        assert db.execute("SELECT state FROM world_quests WHERE quest='gate'").fetchone() == ("bribed",)
        texts = [r[0] for r in db.execute("SELECT text FROM memory_items WHERE npc_id='mira'").fetchall()]
        assert "The gate was bribed open." in texts
        # the world still takes events, and the good save loads both parts
        loaded = await client.request(Load(blob=saved.blob))
        assert isinstance(loaded, Loaded) and {"world", "memory"} <= set(loaded.parts)
        assert (await quests(client))["gate"] == "closed"
        texts = [r[0] for r in db.execute("SELECT text FROM memory_items WHERE npc_id='mira'").fetchall()]
        assert "The gate was bribed open." not in texts
