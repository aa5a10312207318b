"""Barge-in while the dialogue is still streaming (as an LLM does): the reply stream and the
synthesis are cancelled, and history keeps only the words heard."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import numpy as np

from npc_runtime.dialogue.base import DialogueChunk, DialogueProvider, SourceTag, TextPiece
from npc_runtime.dialogue.context import DialogueContext
from npc_runtime.protocol.messages import Interrupt, PlayerText
from npc_runtime.protocol.messages.voice import PlaybackReport, PlaybackStarted
from npc_runtime.runtime.app import Runtime
from npc_runtime.settings import Settings
from npc_runtime.transport.client import AsyncClient

from .conftest import VOICE_TEST_SETTINGS, Mic, collect, of_type, player_line, silence

STORY = (
    "Long ago, before the wall was built, the wolves came down from the hills every winter. "
    "My grandfather told me how the whole village hid in the mill for three days. "
    "Nobody sleeps well when the snow comes early. That is why Bram makes traps, and why I keep "
    "a lamp in the window all night long."
)


FIRST_SENTENCE = STORY.split(". ")[0] + "."


class Storyteller(DialogueProvider):
    """Streams the first sentence word by word (about 12 words a second, like a small local LLM),
    then keeps the stream open without a word more until it is cancelled: the reply is still
    streaming when the player barges in, however slow the machine (no race with the story's end)."""

    name = "storyteller"

    def __init__(self) -> None:
        # The story waits for the barge-in as long as the machine needs (the provider's own
        # time-outs, a 10 s pause at most by default, are not what these tests are about).
        super().__init__(first_chunk_timeout=600.0, total_timeout=600.0)

    async def _stream(self, ctx: DialogueContext) -> AsyncIterator[DialogueChunk]:
        yield SourceTag("llm")
        for word in FIRST_SENTENCE.split(" "):
            yield TextPiece(word + " ")
            await asyncio.sleep(0.08)
        # The next sentence's first word (the sentence splitter needs it to know the first one
        # ended, so it is spoken), then the rest never comes: a barge-in cancels the stream.
        yield TextPiece("My ")
        await asyncio.Event().wait()
        yield TextPiece(STORY[len(FIRST_SENTENCE) + 4 :])


async def test_barge_in_cancels_a_streaming_reply(make_settings: Callable[..., Settings]) -> None:
    # The client always reports playback here: wait for its report however loaded the machine is,
    # rather than estimate what was heard from the wall clock after 0.4 s.
    settings = make_settings(voice={**VOICE_TEST_SETTINGS, "report_wait_ms": 60_000})
    runtime = Runtime(settings, provider=Storyteller())
    await runtime.start()
    client = AsyncClient(runtime.endpoint, name="story")
    try:
        await client.connect()
        conv = await client.start_conversation("mira", mode="hands_free", greet=False)
        mic = Mic(client, conv.conversation_id)
        await mic.open()
        await mic.play(np.concatenate([silence(0.4), player_line("Tell me a story."), silence(0.6)]))
        msgs = await collect(client, mic.cid, lambda m: m.type == "npc_audio")
        first = of_type(msgs, "npc_audio")[0]
        assert first.text == "Long"  # speech began with the first sentence, long before the end
        await client.send(PlaybackStarted(conversation_id=mic.cid, turn_id=first.turn_id))
        await mic.play(np.concatenate([player_line("Wait, where is the mill?"), silence(0.6)]))
        upto_stop = await collect(client, mic.cid, lambda m: m.type == "stop_playback")
        assert upto_stop[-1].turn_id == first.turn_id
        await client.send(PlaybackReport(conversation_id=mic.cid, turn_id=first.turn_id, played_ms=2000))
        rest = await collect(
            client,
            mic.cid,
            lambda m: m.type == "npc_text_final" and m.turn_id == first.turn_id,  # type: ignore[attr-defined]
        )
        final = rest[-1]
        assert final.interrupted and len(final.text) < len(STORY)  # the stream was cut
        ends = of_type(msgs + upto_stop + rest, "npc_audio_end")
        assert ends and ends[0].interrupted
        history = [h.text for h in runtime.conversations[mic.cid].history if h.speaker == "mira"]
        heard = history[0]
        assert heard and final.text.startswith(heard) and len(heard) < len(final.text)
        assert heard.startswith("Long ago, before the wall")  # about 2 s of speech
        late = [m for m in of_type(rest, "npc_audio") if m.turn_id == first.turn_id]
        assert len(late) <= 1  # at most one chunk already on its way when the stop went out
    finally:
        await client.close()
        await runtime.stop()


async def test_client_interrupt_stops_the_voice_too(settings: Settings) -> None:
    runtime = Runtime(settings, provider=Storyteller())
    await runtime.start()
    client = AsyncClient(runtime.endpoint, name="story")
    try:
        await client.connect()
        conv = await client.start_conversation("mira", mode="push_to_talk", greet=False)
        mic = Mic(client, conv.conversation_id)
        await mic.open()
        await client.send(PlayerText(conversation_id=mic.cid, text="Tell me a story."))  # typed, not spoken
        msgs = await collect(client, mic.cid, lambda m: m.type == "npc_audio")
        await client.send(Interrupt(conversation_id=mic.cid))
        rest = await collect(client, mic.cid, lambda m: m.type == "npc_text_final")
        stop = of_type(rest, "stop_playback")
        assert stop and stop[0].reason == "interrupt" and stop[0].turn_id == msgs[-1].turn_id
        assert rest[-1].interrupted
        # no report came: what was heard is estimated from the time since the first chunk went out
        heard = [h.text for h in runtime.conversations[mic.cid].history if h.speaker == "mira"]
        assert len(heard) <= 1
        assert all(rest[-1].text.startswith(h) and len(h) < len(rest[-1].text) for h in heard)
    finally:
        await client.close()
        await runtime.stop()


OPENER = "Well now, love. "
CLAUSE = "Once, aye, I fell in the river, "
REST = "and it was colder than a miser's heart. "


class ClauseFirst(DialogueProvider):
    """Streams as the local provider does when its model is slow: an opener at once, then the
    first clause of the model's first sentence as soon as it is generated, and the rest of that
    sentence only when the test says so (``go``): the clause must be spoken before the rest exists,
    and the opener before the clause (``clause``)."""

    name = "clause-first"

    def __init__(self) -> None:
        super().__init__(first_chunk_timeout=600.0, total_timeout=600.0)
        self.go = asyncio.Event()
        self.clause = asyncio.Event()

    async def _stream(self, ctx: DialogueContext) -> AsyncIterator[DialogueChunk]:
        yield SourceTag("llm")
        yield TextPiece(OPENER)
        await self.clause.wait()
        yield TextPiece(CLAUSE)
        await self.go.wait()
        yield TextPiece(REST)


async def test_a_first_clause_is_spoken_before_its_sentence_ends(
    make_settings: Callable[..., Settings],
) -> None:
    provider = ClauseFirst()
    settings = make_settings(voice={**VOICE_TEST_SETTINGS, "report_wait_ms": 60_000})
    runtime = Runtime(settings, provider=provider)
    await runtime.start()
    client = AsyncClient(runtime.endpoint, name="clause")
    try:
        await client.connect()
        conv = await client.start_conversation("mira", mode="push_to_talk", greet=False)
        cid = conv.conversation_id
        await client.send(PlayerText(conversation_id=cid, text="Have you ever fallen in the river?"))
        # The opener is spoken before the model's next words exist (it is not held for them).
        msgs = await collect(client, cid, lambda m: m.type == "npc_audio" and "love." in m.text.split())  # type: ignore[attr-defined]
        assert " ".join(a.text for a in of_type(msgs, "npc_audio") if a.text).split() == OPENER.split()
        provider.clause.set()
        # The clause is spoken while the rest of its sentence is not generated yet.
        msgs += await collect(client, cid, lambda m: m.type == "npc_audio" and "river," in m.text.split())  # type: ignore[attr-defined]
        audio = of_type(msgs, "npc_audio")
        assert " ".join(a.text for a in audio if a.text).split() == (OPENER + CLAUSE).split()
        turn_id = audio[0].turn_id
        await client.send(PlaybackStarted(conversation_id=cid, turn_id=turn_id))
        provider.go.set()
        rest = await collect(client, cid, lambda m: m.type == "npc_audio_end")
        audio += [m for m in of_type(rest, "npc_audio") if m.turn_id == turn_id]
        # Every word's subtitle comes once, in order, with the audio that speaks it.
        assert " ".join(a.text for a in audio if a.text).split() == (OPENER + CLAUSE + REST).split()
        heard = len(OPENER + CLAUSE + "and it was")
        await client.send(PlaybackReport(conversation_id=cid, turn_id=turn_id, heard_chars=heard))
        final = (await collect(client, cid, lambda m: m.type == "npc_text_final"))[-1]
        assert final.text.strip() == (OPENER + CLAUSE + REST).strip()
        history = [h.text for h in runtime.conversations[cid].history if h.speaker == "mira"]
        assert history == [(OPENER + CLAUSE + "and it was").strip()]  # the words heard, cut after the clause
    finally:
        await client.close()
        await runtime.stop()
