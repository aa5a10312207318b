"""Speculative end of turn (hands-free): at a short pause the runtime finalises the transcript and
prepares the reply's first audio, but sends nothing NPC-facing until the full end-of-speech
silence confirms the turn; a player who goes on gets one reply to the whole utterance."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from npc_runtime.protocol.messages import Message
from npc_runtime.runtime.app import Runtime
from npc_runtime.settings import Settings
from npc_runtime.transport.client import AsyncClient
from npc_runtime.voice.models import shared_vad
from npc_runtime.voice.session import VoiceConversation
from npc_runtime.voice.turns import (
    Segmenter,
    SpeechAudio,
    SpeechEnded,
    SpeechPaused,
    SpeechResumed,
    SpeechStarted,
)

from .conftest import VOICE_TEST_SETTINGS, Mic, collect, of_type, player_line, silence

NPC_FACING = ("npc_text_delta", "npc_text_final", "npc_audio", "npc_audio_end", "npc_action", "turn_metrics")


def _kinds(seg: Segmenter, audio: np.ndarray) -> list[object]:
    events: list[object] = []
    for i in range(0, len(audio), 1600):
        events += seg.process(audio[i : i + 1600], npc_playing=False)
    return [type(e) for e in events if not isinstance(e, SpeechAudio)]


def test_segmenter_signals_a_pause_and_a_resume() -> None:
    line, more = player_line("I'd like a drink."), player_line("And a room.")
    audio = np.concatenate([silence(0.4), line, silence(0.25), more, silence(0.6)])
    seg = Segmenter(shared_vad("silero").stream(), hands_free=True, end_silence_ms=450, speculate_ms=100)
    assert _kinds(seg, audio) == [SpeechStarted, SpeechPaused, SpeechResumed, SpeechPaused, SpeechEnded]
    off = Segmenter(shared_vad("silero").stream(), hands_free=True, end_silence_ms=450, speculate_ms=0)
    assert _kinds(off, audio) == [SpeechStarted, SpeechEnded]


def _final(m: Message) -> bool:
    return m.type == "npc_text_final"


def _voice(runtime: Runtime, cid: str) -> VoiceConversation:
    assert runtime.voice is not None
    return runtime.voice.voices[cid]


async def _hands_free_turn(
    make_settings: Callable[..., Settings], db: str, npc: str, audio: np.ndarray, **voice: Any
) -> tuple[list[Message], VoiceConversation, Runtime]:
    runtime = Runtime(make_settings(db=db, voice={**VOICE_TEST_SETTINGS, **voice}))
    await runtime.start()
    client = AsyncClient(runtime.endpoint, name="spec")
    try:
        await client.connect()
        conv = await client.start_conversation(npc, mode="hands_free", greet=False)
        mic = Mic(client, conv.conversation_id)
        await mic.open()
        await mic.play(audio)
        msgs = await collect(client, mic.cid, _final)
        return msgs, _voice(runtime, mic.cid), runtime
    finally:
        await client.close()
        await runtime.stop()


def _check_nothing_before_the_transcript(msgs: list[Message]) -> None:
    finals = [i for i, m in enumerate(msgs) if m.type == "transcript" and m.final]  # type: ignore[attr-defined]
    assert len(finals) == 1
    early = [m.type for m in msgs[: finals[0]] if m.type in NPC_FACING]  # type: ignore[attr-defined]
    assert early == []


async def test_speculation_gives_the_same_turn_as_without(
    make_settings: Callable[..., Settings], tmp_path: Any
) -> None:
    audio = np.concatenate([silence(0.5), player_line("I need a bed for the night."), silence(0.8)])
    plain, plain_voice, _ = await _hands_free_turn(
        make_settings, str(tmp_path / "a.sqlite3"), "mira", audio, speculate_after_ms=None
    )
    spec, spec_voice, _ = await _hands_free_turn(
        make_settings, str(tmp_path / "b.sqlite3"), "mira", audio, speculate_after_ms=120
    )
    assert plain_voice.spec_stats["started"] == 0 and plain_voice.speaker.prepared_hits == 0
    assert spec_voice.spec_stats == {"started": 1, "discarded": 0, "used": 1}
    assert spec_voice.speaker.prepared_hits == 1  # the first sentence's audio was made ahead
    for msgs in (plain, spec):
        _check_nothing_before_the_transcript(msgs)

    def summary(msgs: list[Message]) -> tuple[str, str, str]:
        transcript = next(m for m in msgs if m.type == "transcript" and m.final)  # type: ignore[attr-defined]
        words = " ".join(m.text for m in of_type(msgs, "npc_audio") if m.text)
        return transcript.text, msgs[-1].text, words  # type: ignore[attr-defined]

    assert summary(spec) == summary(plain)
    assert "bed" in summary(spec)[0]
    assert summary(spec)[2].split() == summary(spec)[1].split()  # every word was spoken


async def test_a_short_pause_gets_one_reply_to_the_whole_utterance(
    make_settings: Callable[..., Settings], tmp_path: Any
) -> None:
    runtime = Runtime(
        # the fixed-silence policy: "I'd like a drink." is a finished sentence that voice.turn's
        # default (auto) may rightly answer at once; here the player goes on within 450 ms
        make_settings(
            voice={
                **VOICE_TEST_SETTINGS,
                "speculate_after_ms": 60,
                "end_silence_ms": 450,
                "turn": {"policy": "silence"},
            }
        )
    )
    await runtime.start()
    client = AsyncClient(runtime.endpoint, name="spec")
    try:
        await client.connect()
        conv = await client.start_conversation("mira", mode="hands_free", greet=False)
        mic = Mic(client, conv.conversation_id)
        await mic.open()
        # "I'd like a drink" alone is a topic the speculation prepares; the player goes on
        # after a mid-sentence pause (shorter than the end silence) in real time.
        audio = np.concatenate(
            [
                silence(0.4),
                player_line("I'd like a drink."),
                silence(0.3),
                player_line("And a room for the night."),
                silence(0.9),
            ]
        )
        await mic.play(audio, realtime=True)
        msgs = await collect(client, mic.cid, _final)
        _check_nothing_before_the_transcript(msgs)
        finals = [m for m in of_type(msgs, "transcript") if m.final]
        assert "drink" in finals[0].text and "night" in finals[0].text  # the whole utterance
        voice = _voice(runtime, mic.cid)
        assert voice.spec_stats["discarded"] >= 1 and voice.spec_stats["used"] <= 1
        assert len(of_type(msgs, "npc_text_final")) == 1
        # the discarded speculation applied nothing: only the real turn's actions went out
        assert [a.name for a in of_type(msgs, "npc_action")] == [a.name for a in msgs[-1].actions]
        assert {m.turn_id for m in of_type(msgs, "npc_audio")} == {msgs[-1].turn_id}
        assert runtime.conversations[mic.cid].turn_counter == 1
        said = [h for h in runtime.conversations[mic.cid].history if h.speaker == "player"]
        assert [h.text for h in said] == [finals[0].text]
    finally:
        await client.close()
        await runtime.stop()


async def test_an_action_is_applied_once(make_settings: Callable[..., Settings], tmp_path: Any) -> None:
    audio = np.concatenate([silence(0.5), player_line("I'd like a drink of cider."), silence(0.8)])
    msgs, voice, _runtime = await _hands_free_turn(
        make_settings, str(tmp_path / "c.sqlite3"), "mira", audio, speculate_after_ms=120
    )
    _check_nothing_before_the_transcript(msgs)
    assert voice.spec_stats["used"] == 1 and voice.speaker.prepared_hits == 1
    actions = of_type(msgs, "npc_action")
    assert [(a.name, a.args) for a in actions] == [("serve_drink", {"drink": "cider"})]
    assert [a.name for a in msgs[-1].actions] == ["serve_drink"]  # type: ignore[attr-defined]
    assert msgs[-1].text.startswith("One cider coming up")  # type: ignore[attr-defined]
