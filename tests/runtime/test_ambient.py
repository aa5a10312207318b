"""NPCs talking among themselves (conversation_start with ``ambient``), over the real protocol."""

from __future__ import annotations

import pytest

from npc_runtime.protocol import codec
from npc_runtime.protocol.messages import (
    ConversationStart,
    ConversationStarted,
    Error,
    NpcTextFinal,
    PlayerText,
)
from npc_runtime.protocol.messages.memory import MemoryQuery, MemoryResults
from npc_runtime.transport.client import AsyncClient


async def _finals(client: AsyncClient, conv: str, n: int) -> list[NpcTextFinal]:
    out: list[NpcTextFinal] = []
    while len(out) < n:
        msg = await client.next_event(
            types=("npc_text_final",),
            where=lambda m: m.conversation_id == conv,
            timeout=20,  # type: ignore[attr-defined]
        )
        assert isinstance(msg, NpcTextFinal)
        out.append(msg)
    return out


async def _start(client: AsyncClient, **ambient: object) -> str:
    reply = await client.request(
        ConversationStart(npc_ids=["bram", "tomas"], player_id="hero", ambient=ambient)  # type: ignore[arg-type]
    )
    assert isinstance(reply, ConversationStarted)
    return reply.conversation_id


async def test_npcs_talk_in_turn_and_remember_each_other(client: AsyncClient) -> None:
    conv = await _start(client, seed_line="The wolves took another sheep last night.", turns=4)
    lines = await _finals(client, conv, 4)
    assert [f.npc_id for f in lines] == ["bram", "tomas", "bram", "tomas"]
    assert all(f.ambient for f in lines)
    assert lines[0].text == "The wolves took another sheep last night."
    # Tomas was there when Bram spoke: he remembers it, as something he overheard from Bram.
    found = await client.request(MemoryQuery(npc_id="tomas", query="wolves took a sheep", limit=3))
    assert isinstance(found, MemoryResults)
    assert any(m.text == lines[0].text for m in found.memories)


async def test_the_player_takes_priority(client: AsyncClient) -> None:
    conv = await _start(client, topic="the wolves", turns=20)
    first = (await _finals(client, conv, 1))[0]
    assert first.npc_id == "bram" and first.ambient
    await client.send(PlayerText(conversation_id=conv, text="Tomas, is the north gate shut?", to="tomas"))
    # At most the line already in flight ends (cut short); then the NPC answers the player.
    while True:
        reply = (await _finals(client, conv, 1))[0]
        if not reply.ambient:
            break
    assert reply.npc_id == "tomas"
    said = await client.request(MemoryQuery(npc_id="tomas", query="is the north gate shut", limit=5))
    assert isinstance(said, MemoryResults)
    assert any(m.kind == "heard" and "north gate" in m.text for m in said.memories)


@pytest.mark.parametrize(
    "npc_ids, ambient, words",
    [
        (["bram"], {"topic": "wolves"}, "at least two"),
        (["bram", "tomas"], {"turns": 4}, "topic or a seed_line"),
    ],
)
async def test_an_ambient_start_is_checked(
    client: AsyncClient, npc_ids: list[str], ambient: dict[str, object], words: str
) -> None:
    frame = {"type": "conversation_start", "id": 77, "npc_ids": npc_ids, "ambient": ambient}
    await client.send_raw(codec.encode_map(frame))
    err = await client.next_event(types=("error",))
    assert isinstance(err, Error) and err.ref == 77
    assert err.code == "invalid_fields" and words in err.message
