"""Every number a client sends is finite, in range and of the right type, or refused with a typed
``invalid_fields`` error naming the field; nothing reaches the world clock, memory or relationships."""

from __future__ import annotations

import math
from typing import Any

import msgpack
import pytest

from npc_runtime.protocol import codec
from npc_runtime.protocol.errors import ErrorCode, ProtocolError
from npc_runtime.protocol.messages import Error
from npc_runtime.protocol.messages.world import (
    WorldEventApplied,
    WorldEventMsg,
    WorldStateQuery,
    WorldStateReply,
)
from npc_runtime.runtime.app import Runtime
from npc_runtime.transport.client import AsyncClient

NAN, INF = float("nan"), float("inf")

BAD: list[tuple[dict[str, Any], str]] = [
    ({"type": "game_time", "hours": INF}, "hours"),
    ({"type": "game_time", "hours": NAN}, "hours"),
    ({"type": "game_time", "hours": -1}, "hours"),
    ({"type": "game_time", "hours": False}, "hours"),
    ({"type": "game_time", "hours": 1e300}, "hours"),
    ({"type": "ping", "t": NAN}, "t"),
    ({"type": "hello", "protocol": True}, "protocol"),
    ({"type": "world_event", "kind": "location_entered", "location": "inn", "game_time": -INF}, "game_time"),
    ({"type": "world_event", "kind": "enemy_killed", "enemy": "wolf", "count": True}, "count"),
    ({"type": "world_event", "kind": "custom", "name": "x", "payload": {"n": NAN}}, "payload"),
    ({"type": "world_event", "kind": "custom", "name": "x", "payload": {"n": [[2**64 - 1]]}}, "payload"),
    ({"type": "world_tell", "npc_id": "mira", "fact": "f", "game_time": INF}, "game_time"),
    ({"type": "memory_add", "npc_id": "mira", "text": "t", "game_time": -5}, "game_time"),
    ({"type": "memory_add", "npc_id": "mira", "text": "t", "importance": NAN}, "importance"),
    ({"type": "memory_add", "npc_id": "mira", "text": "t", "importance": True}, "importance"),
    ({"type": "memory_query", "npc_id": "mira", "limit": True}, "limit"),
    (
        {"type": "relationship_adjust", "npc_id": "m", "player_id": "p", "changes": {"trust": NAN}},
        "changes.trust",
    ),
    (
        {"type": "relationship_adjust", "npc_id": "m", "player_id": "p", "changes": {"trust": True}},
        "changes.trust",
    ),
    (
        {"type": "relationship_set", "npc_id": "m", "player_id": "p", "values": {"trust": -INF}},
        "values.trust",
    ),
    ({"type": "audio_start", "conversation_id": "c", "sample_rate": 16000.5}, "sample_rate"),
    ({"type": "audio_start", "conversation_id": "c", "sample_rate": True}, "sample_rate"),
    ({"type": "audio_chunk", "conversation_id": "c", "seq": -1, "pcm": b""}, "seq"),
    ({"type": "playback_report", "conversation_id": "c", "turn_id": 1, "played_ms": INF}, "played_ms"),
    ({"type": "playback_report", "conversation_id": "c", "turn_id": 2**63, "played_ms": 1}, "turn_id"),
    ({"type": "playback_report", "conversation_id": "c", "turn_id": 1, "finished": 1}, "finished"),
]


@pytest.mark.parametrize(("doc", "field"), BAD, ids=[f"{d['type']}.{f}" for d, f in BAD])
def test_bad_numbers_are_refused_naming_the_field(doc: dict[str, Any], field: str) -> None:
    with pytest.raises(ProtocolError) as err:
        codec.decode_client(msgpack.packb({**doc, "id": 5}))
    assert err.value.code == ErrorCode.INVALID_FIELDS
    assert err.value.field == field
    assert err.value.ref == 5
    assert field in err.value.message


def test_ints_still_stand_for_floats() -> None:
    msg = codec.decode_client(msgpack.packb({"type": "game_time", "hours": 3}))
    assert msg.hours == 3.0  # type: ignore[attr-defined]
    msg = codec.decode_client(
        msgpack.packb(
            {"type": "relationship_adjust", "npc_id": "m", "player_id": "p", "changes": {"trust": 0}}
        )
    )
    assert msg.changes == {"trust": 0}  # type: ignore[attr-defined]


async def test_an_infinite_game_time_cannot_move_the_world_clock(
    runtime_server: Runtime, client: AsyncClient
) -> None:
    for doc in (
        {"type": "game_time", "hours": INF},
        {"type": "world_event", "kind": "location_entered", "location": "inn", "game_time": NAN},
        {"type": "world_tell", "npc_id": "mira", "fact": "wolves_in_forest", "game_time": INF},
        {"type": "memory_add", "npc_id": "mira", "text": "a dragon flew by", "game_time": INF},
    ):
        ident = client.next_id()
        await client.send_raw(msgpack.packb({**doc, "id": ident}))
        err = await client.next_event(types=("error",), timeout=10)
        assert isinstance(err, Error)
        assert (err.code, err.ref) == ("invalid_fields", ident)
    reply = await client.request(WorldStateQuery())
    assert isinstance(reply, WorldStateReply)
    assert math.isfinite(reply.game_time) and reply.game_time == 0.0
    # the runtime still works after all that
    applied = await client.request(WorldEventMsg(kind="location_entered", location="inn", game_time=2))
    assert isinstance(applied, WorldEventApplied) and applied.game_time == 2.0
