"""Memory through the real runtime: ZeroMQ on loopback, the shipped personas, a SQLite file."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from npc_runtime.memory.extension import MemoryExtension
from npc_runtime.protocol.messages import GameTime, Load, Loaded, Save, SaveData
from npc_runtime.protocol.messages.memory import (
    MemoryAdd,
    MemoryAdded,
    MemoryQuery,
    MemoryResults,
    PlayerFactAdd,
    Relationship,
    RelationshipAdjust,
    RelationshipChanged,
    RelationshipGet,
    RelationshipSet,
)
from npc_runtime.runtime.app import Runtime
from npc_runtime.settings import Settings
from npc_runtime.transport.client import AsyncClient, RuntimeErrorReply
from testsupport import ClientFactory, wait_for


def _memory(runtime: Runtime) -> MemoryExtension:
    assert runtime.memory is not None
    return runtime.memory


def _texts(runtime: Runtime, npc_id: str) -> list[str]:
    return [m.text for m in _memory(runtime).service.store.recent(npc_id, limit=100)]


async def _query(client: AsyncClient, npc_id: str, query: str | None, **kw: Any) -> MemoryResults:
    reply = await client.request(MemoryQuery(npc_id=npc_id, query=query, **kw))
    assert isinstance(reply, MemoryResults)
    return reply


async def test_npcs_in_separate_conversations_do_not_share_memories(
    runtime_server: Runtime, make_client: ClientFactory
) -> None:
    alice, bob = await make_client("alice"), await make_client("bob")
    c1 = await alice.start_conversation("mira", player_id="alice", greet=False)
    c2 = await bob.start_conversation("bram", player_id="bob", greet=False)
    await alice.say(c1.conversation_id, "My sister Elowen is hiding in the cellar of the chapel.")
    await bob.say(c2.conversation_id, "Is the forge hot today?")
    await wait_for(lambda: "Is the forge hot today?" in _texts(runtime_server, "bram"))
    await wait_for(lambda: any("Elowen" in t for t in _texts(runtime_server, "mira")))

    mira = await _query(alice, "mira", "Where is the girl hiding?")
    assert "Elowen" in mira.memories[0].text and mira.memories[0].kind == "heard"
    assert mira.memories[0].player_id == "alice"
    assert mira.memories[0].relevance is not None and mira.memories[0].score is not None
    bram = await _query(alice, "bram", "Where is the girl hiding?", limit=50)
    assert all("Elowen" not in m.text for m in bram.memories)
    assert any(m.text == "Is the forge hot today?" for m in bram.memories)


async def test_a_bystander_in_a_group_conversation_overhears(
    runtime_server: Runtime, client: AsyncClient
) -> None:
    conv = await client.start_conversation(["mira", "bram"], player_id="hero", greet=False)
    final = await client.say(conv.conversation_id, "Mira, I found the stolen ledger.", to="mira")
    await wait_for(lambda: "Mira, I found the stolen ledger." in _texts(runtime_server, "bram"))
    assert final.npc_id == "mira"
    await wait_for(lambda: final.text in _texts(runtime_server, "bram"))
    assert "Mira, I found the stolen ledger." in _texts(runtime_server, "mira")
    assert all("ledger" not in t for t in _texts(runtime_server, "elda"))


async def test_npc_recalls_a_players_words_after_a_runtime_restart(settings: Settings) -> None:
    runtime = Runtime(settings)
    await runtime.start()
    try:
        async with AsyncClient(runtime.endpoint, name="before") as client:
            await client.send(GameTime(hours=10.0))
            conv = await client.start_conversation("mira", player_id="hero", greet=False)
            await client.say(conv.conversation_id, "My name is Aldric and I am looking for my lost brother.")
            await wait_for(lambda: any("Aldric" in t for t in _texts(runtime, "mira")))
    finally:
        await runtime.stop()

    runtime = Runtime(settings)
    await runtime.start()
    try:
        async with AsyncClient(runtime.endpoint, name="after") as client:
            found = await _query(client, "mira", "Who is searching for a sibling?", limit=1)
            assert found.memories[0].text == "My name is Aldric and I am looking for my lost brother."
            assert found.memories[0].game_time == 10.0
            rel = await client.request(RelationshipGet(npc_id="mira", player_id="hero"))
            assert isinstance(rel, Relationship) and rel.facts == ["Their name is Aldric."]
            # and it reaches the dialogue context of the next turn
            persona = runtime.personas.get("mira")
            assert persona is not None
            ctx = await runtime.context_for(persona, "hero", "Any news of my brother?")
            assert any("Aldric" in m and "brother" in m for m in ctx.memories)
            assert ctx.player_facts == ["Their name is Aldric."]
    finally:
        await runtime.stop()


def test_an_acknowledged_memory_survives_kill_9_of_the_runtime(
    runtime_process: Callable[..., Any],
) -> None:
    import asyncio
    import signal

    async def add(endpoint: str) -> int:
        async with AsyncClient(endpoint, name="game") as c:
            reply = await c.request(
                MemoryAdd(npc_id="elda", text="The player gave me a silver locket.", importance=8)
            )
            assert isinstance(reply, MemoryAdded)
            return reply.memory_id

    async def query(endpoint: str) -> MemoryResults:
        async with AsyncClient(endpoint, name="game") as c:
            return await _query(c, "elda", "Did anyone give you jewellery?", limit=1)

    first = runtime_process()
    mid = asyncio.run(add(first.endpoint))
    first.proc.send_signal(signal.SIGKILL)
    assert first.proc.wait(timeout=30) == -signal.SIGKILL
    second = runtime_process()
    found = asyncio.run(query(second.endpoint))
    assert found.memories[0].id == mid and found.memories[0].text == "The player gave me a silver locket."


async def test_persona_seed_memories_are_recalled(client: AsyncClient) -> None:
    found = await _query(client, "mira", "Who paid with strange money?", limit=1)
    assert found.memories[0].kind == "seed" and "hooded traveller" in found.memories[0].text


async def test_save_load_restores_memories_and_branches_stay_independent(
    runtime_server: Runtime, client: AsyncClient
) -> None:
    await client.request(MemoryAdd(npc_id="tomas", text="The well was poisoned.", importance=7))
    save_a = await client.request(Save())
    assert isinstance(save_a, SaveData) and "memory" in save_a.parts
    await client.request(MemoryAdd(npc_id="tomas", text="The player cured the well.", importance=7))
    save_b = await client.request(Save())
    assert isinstance(save_b, SaveData)

    assert isinstance(await client.request(Load(blob=save_a.blob)), Loaded)
    assert _texts(runtime_server, "tomas") == ["The well was poisoned."]
    found = await _query(client, "tomas", "Is the water safe to drink?", limit=5)
    assert [m.text for m in found.memories] == ["The well was poisoned."]
    await client.request(
        MemoryAdd(npc_id="tomas", text="Branch A: the player fled the village.", importance=7)
    )

    assert isinstance(await client.request(Load(blob=save_b.blob)), Loaded)
    assert _texts(runtime_server, "tomas") == ["The player cured the well.", "The well was poisoned."]


async def test_relationships_over_the_wire(client: AsyncClient) -> None:
    reply = await client.request(
        RelationshipAdjust(
            npc_id="mira", player_id="hero", changes={"trust": 0.25}, reason="returned the ring"
        )
    )
    assert isinstance(reply, Relationship) and reply.values == {"trust": 0.25, "affinity": 0.0}
    event = await client.next_event(types=("relationship_changed",), timeout=5)
    assert isinstance(event, RelationshipChanged)
    assert event.changes == {"trust": 0.25} and event.reason == "returned the ring"

    reply = await client.request(RelationshipSet(npc_id="mira", player_id="hero", values={"affinity": -7}))
    assert isinstance(reply, Relationship) and reply.values["affinity"] == -1.0
    reply = await client.request(
        PlayerFactAdd(npc_id="mira", player_id="hero", kind="deed", text="Slew the wolf.")
    )
    assert isinstance(reply, Relationship) and reply.facts == ["They did this: Slew the wolf."]


@pytest.mark.parametrize(
    ("msg", "code"),
    [
        (MemoryQuery(npc_id="nobody", query="x"), "unknown_npc"),
        (MemoryAdd(npc_id="nobody", text="x"), "unknown_npc"),
        (RelationshipAdjust(npc_id="mira", player_id="hero", changes={"love": 1.0}), "memory_invalid"),
        # Non-finite numbers never reach memory: the codec refuses them (model_construct skips the
        # client-side validation so the runtime's own check is what is tested).
        (
            RelationshipAdjust.model_construct(
                npc_id="mira", player_id="hero", changes={"trust": float("inf")}
            ),
            "invalid_fields",
        ),
        (PlayerFactAdd(npc_id="mira", player_id="hero", kind="fact", text="   "), "memory_invalid"),
        (MemoryAdd.model_construct(npc_id="mira", text="x", game_time=float("nan")), "invalid_fields"),
    ],
)
async def test_bad_memory_requests_get_typed_errors(client: AsyncClient, msg: Any, code: str) -> None:
    with pytest.raises(RuntimeErrorReply) as err:
        await client.request(msg)
    assert err.value.code == code
    assert isinstance(await client.request(RelationshipGet(npc_id="mira", player_id="hero")), Relationship)


async def test_out_of_range_fields_are_invalid_fields(client: AsyncClient) -> None:
    from npc_runtime.protocol import codec

    msg_id = client.next_id()
    await client.send_raw(
        codec.encode_map(
            {"type": "memory_add", "id": msg_id, "npc_id": "mira", "text": "x", "importance": 42}
        )
    )
    event = await client.next_event(types=("error",), timeout=5)
    assert event.code == "invalid_fields" and event.ref == msg_id  # type: ignore[attr-defined]


async def test_the_runtime_reflects_when_enough_happened(make_settings: Callable[..., Settings]) -> None:
    runtime = Runtime(make_settings(memory={"reflection_threshold": 15}))
    await runtime.start()
    try:
        async with AsyncClient(runtime.endpoint, name="game") as client:
            conv = await client.start_conversation("mira", player_id="hero", greet=False)
            for line in (
                "My brother vanished.",
                "I promise I will find my brother.",
                "Have you seen my brother?",
            ):
                await client.say(conv.conversation_id, line)
            store = _memory(runtime).service.store

            def reflections() -> list[Any]:
                return [m for m in store.recent("mira", limit=100) if m.kind == "reflection"]

            await wait_for(lambda: bool(reflections()))
            reflection = store.get(reflections()[0].id)
            assert reflection is not None and reflection.player_id == "hero" and "brother" in reflection.text
            assert len(reflection.evidence) >= 3
    finally:
        await runtime.stop()


def test_bad_memory_settings_stop_the_runtime_with_a_clear_error(
    make_settings: Callable[..., Settings],
) -> None:
    from npc_runtime.errors import ConfigError

    with pytest.raises(ConfigError, match=r"memory\.capacity"):
        Runtime(make_settings(memory={"capacity": 1}))


async def test_persona_conditions_can_test_relationships(
    runtime_server: Runtime, client: AsyncClient
) -> None:
    await client.request(RelationshipSet(npc_id="mira", player_id="hero", values={"trust": 0.6}))
    persona = runtime_server.personas.get("mira")
    assert persona is not None
    ctx = await runtime_server.context_for(persona, "hero", "hello")
    assert ctx.allows("relationship.trust > 0.5")
    assert not ctx.allows("relationship.trust >= 0.7")
    assert ctx.allows("relationship.affinity == 0")


async def test_greetings_are_remembered_as_routine(runtime_server: Runtime, client: AsyncClient) -> None:
    conv = await client.start_conversation("mira", player_id="hero", greet=True)
    greeting = await client.wait_final(conv.conversation_id)
    assert greeting.source == "greeting"
    store = _memory(runtime_server).service.store
    await wait_for(lambda: any(m.kind == "said" for m in store.recent("mira")))
    said = [m for m in store.recent("mira") if m.kind == "said"]
    assert said[0].text == greeting.text and said[0].importance == 1.0


async def test_npcs_remember_what_the_world_says_they_learned(
    runtime_server: Runtime, client: AsyncClient
) -> None:
    from npc_runtime.protocol.messages.world import WorldTell

    assert runtime_server.world is not None and runtime_server.world.active
    await client.request(WorldTell(npc_id="elda", fact="mira_owes_bram", by="tomas", game_time=12.0))
    await wait_for(lambda: "Mira still owes Bram for the new kettle." in _texts(runtime_server, "elda"))
    told = _memory(runtime_server).service.store.recent("elda")[0]
    assert told.kind == "told" and told.game_time == 12.0
    assert all("kettle" not in t for t in _texts(runtime_server, "tomas"))
    found = await _query(client, "elda", "Does Mira have debts?", limit=1)
    assert found.memories[0].text == "Mira still owes Bram for the new kettle."


async def test_seed_memories_added_to_a_persona_later_are_seeded_once(
    runtime_server: Runtime, personas_dir: Path
) -> None:
    store = _memory(runtime_server).service.store
    assert store.recent("tomas") == []
    path = personas_dir / "tomas.persona.yaml"
    path.write_text(
        path.read_text(encoding="utf-8")
        + "memories:\n  - text: The north gate's hinge was oiled last spring.\n    importance: 3\n",
        encoding="utf-8",
    )
    await wait_for(lambda: [m.kind for m in store.recent("tomas")] == ["seed"], timeout=10)
    runtime_server.personas.refresh(force=True)  # reloading again does not seed twice
    assert [m.text for m in store.recent("tomas")] == ["The north gate's hinge was oiled last spring."]
