"""A turn ended at a pause and the player goes on (``voice.rejoin_ms``): the reply to the first
half stops at once and the sentence is answered whole. A real runtime over ZeroMQ, the player's
audio in real time; the fixed 300 ms silence policy makes the cut (any policy can make one)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import numpy as np

from npc_runtime.dialogue.base import DialogueChunk, DialogueProvider, SourceTag, TextPiece
from npc_runtime.dialogue.context import DialogueContext
from npc_runtime.runtime.app import Runtime
from npc_runtime.settings import Settings
from npc_runtime.transport.client import AsyncClient

from .conftest import VOICE_TEST_SETTINGS, Mic, collect, of_type, player_line, silence


async def _talk(
    make_settings: Callable[..., Settings],
    db: str,
    rejoin_ms: float,
    provider: DialogueProvider | None = None,
    until: Callable[[Any], bool] | None = None,
    **extra: Any,
) -> list[Any]:
    first, second = player_line("Do you have a room,"), player_line("for the night?")
    voice = {**VOICE_TEST_SETTINGS, "turn": {"policy": "silence"}, "rejoin_ms": rejoin_ms}
    runtime = Runtime(make_settings(db=db, voice=voice, **extra), provider=provider)
    await runtime.start()
    client = AsyncClient(runtime.endpoint, name="rejoin")
    try:
        await client.connect()
        conv = await client.start_conversation("mira", mode="hands_free", greet=False)
        mic = Mic(client, conv.conversation_id, chunk_ms=40)
        await mic.open()
        await mic.play(np.concatenate([silence(0.3), first, silence(0.9)]), realtime=True)
        await mic.play(np.concatenate([second, silence(1.5)]), realtime=True)
        return await collect(
            client,
            mic.cid,
            until or (lambda m: m.type == "transcript" and m.final and "night" in m.text.lower()),
            timeout=120,
        )
    finally:
        await client.close()
        await runtime.stop()


async def test_a_player_who_goes_on_after_a_cut_is_answered_on_the_whole_sentence(
    make_settings: Callable[..., Settings], tmp_path: Any
) -> None:
    joined = await _talk(make_settings, str(tmp_path / "a.sqlite3"), 1500)
    finals = [m.text.lower() for m in of_type(joined, "transcript") if m.final]
    # the 300 ms silence answered the first half; the second is recognised with it
    assert len(finals) == 2 and "room" in finals[0] and "room" in finals[1] and "night" in finals[1], finals
    # the reply to the cut-off half (Mira's authored room line) was stopped before the joined turn
    kinds = [(m.type, getattr(m, "final", None)) for m in joined]
    stop = kinds.index(("stop_playback", None))
    assert of_type(joined, "stop_playback")[0].reason == "barge_in"
    assert stop < len(kinds) - 1 and kinds[-1] == ("transcript", True), kinds

    apart = await _talk(make_settings, str(tmp_path / "b.sqlite3"), 0)
    finals = [m.text.lower() for m in of_type(apart, "transcript") if m.final]
    assert "night" in finals[-1] and "room" not in finals[-1], finals


class Thinking(DialogueProvider):
    """A language model that takes 3 s over its first reply (still thinking when the player goes
    on) and answers at once after that; it keeps the player's lines it was asked about."""

    name = "thinking"

    def __init__(self) -> None:
        super().__init__()
        self.asked: list[str] = []

    async def _stream(self, ctx: DialogueContext) -> AsyncIterator[DialogueChunk]:
        self.asked.append(ctx.player_text)
        yield SourceTag("llm")
        if len(self.asked) == 1:
            await asyncio.sleep(3.0)
        yield TextPiece("Aye, a room it is.")


async def test_a_reply_still_being_thought_of_is_dropped_for_the_whole_sentence(
    make_settings: Callable[..., Settings], tmp_path: Any
) -> None:
    # no audio yet when the player goes on: the reply in the making is stopped by the barge-in
    # rules as a spoken one would be (no stop_playback: nothing was sent), and the sentence is
    # answered whole; the first half's reply is never said after it
    model = Thinking()
    msgs = await _talk(
        make_settings,
        str(tmp_path / "c.sqlite3"),
        1500,
        model,
        until=lambda m: m.type == "npc_text_final" and "aye" in m.text.lower(),
        prefer_authored=1.01,
    )
    finals = [m.text.lower() for m in of_type(msgs, "transcript") if m.final]
    assert len(finals) == 2 and "room" in finals[1] and "night" in finals[1], finals
    assert len(model.asked) == 2 and "night" in model.asked[1].lower() and "room" in model.asked[1].lower()
    turns = {m.turn_id for m in of_type(msgs, "npc_audio")}
    finals_npc = of_type(msgs, "npc_text_final")
    assert len(turns) <= 1 and turns <= {finals_npc[-1].turn_id}, (
        turns,
        finals_npc,
    )  # only the joined turn spoke
