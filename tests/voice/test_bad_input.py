"""Bad audio input gets a typed error or a clean time-out; the conversation and other clients
carry on."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import msgpack
import numpy as np
import pytest

from npc_runtime.protocol.messages import Message
from npc_runtime.protocol.messages.voice import AudioChunk, AudioStart, SpeechEnd, SpeechStart
from npc_runtime.runtime.app import Runtime
from npc_runtime.transport.client import AsyncClient, RuntimeErrorReply
from testsupport import wait_for

from .conftest import VOICE_TEST_SETTINGS, Mic, collect, of_type, player_line, silence


async def _error_of(client: AsyncClient, msg: Message) -> Any:
    with pytest.raises(RuntimeErrorReply) as info:
        await client.request(msg, timeout=60)
    return info.value.error


def _is_final(msg: Message) -> bool:
    return msg.type == "npc_text_final"  # type: ignore[attr-defined]


async def _still_answers(client: AsyncClient, mic: Mic, expect: str) -> None:
    await mic.push_to_talk(np.concatenate([silence(0.3), player_line("Open the gate.")]))
    msgs = await collect(client, mic.cid, _is_final)
    final = next(t for t in of_type(msgs, "transcript") if t.final)
    assert expect in final.text and of_type(msgs, "npc_audio")


async def test_declared_formats_and_chunks_are_checked(client: AsyncClient) -> None:
    conv = await client.start_conversation("tomas", mode="push_to_talk", greet=False)
    cid = conv.conversation_id
    early = await _error_of(client, AudioChunk(conversation_id=cid, seq=0, pcm=b"\x00\x00"))
    assert early.code == "audio_invalid" and "audio_start" in early.message
    for bad, words in (
        (AudioStart(conversation_id=cid, sample_rate=16000, format="f32le"), "s16le"),
        (AudioStart(conversation_id=cid, sample_rate=16000, channels=2), "mono"),
        (AudioStart(conversation_id=cid, sample_rate=12345), "16000"),
    ):
        err = await _error_of(client, bad)
        assert err.code == "audio_invalid" and words in err.message
    mic = Mic(client, cid)
    await mic.open()
    odd = await _error_of(client, AudioChunk(conversation_id=cid, seq=0, pcm=b"\x01\x02\x03"))
    assert odd.code == "audio_invalid" and "even number of bytes" in odd.message
    big = await _error_of(client, AudioChunk(conversation_id=cid, seq=1, pcm=bytes(100_000)))
    assert big.code == "audio_invalid" and "over" in big.message
    await client.send(AudioChunk(conversation_id=cid, seq=2, pcm=bytes(2_000_000)))
    huge = await client.next_event(types=("error",))  # refused before decoding: no ref to echo
    assert huge.code == "message_too_large"  # type: ignore[attr-defined]
    wrong_type = msgpack.packb({"type": "audio_chunk", "id": 99, "conversation_id": cid, "seq": 3, "pcm": 5})
    await client.send_raw(wrong_type)
    err = await client.next_event(types=("error",))
    assert err.code == "invalid_fields" and err.ref == 99  # type: ignore[attr-defined]
    mic.seq = 10
    await _still_answers(client, mic, "gate")


async def test_audio_for_text_or_closed_conversations(client: AsyncClient) -> None:
    text_conv = await client.start_conversation("tomas", mode="text", greet=False)
    err = await _error_of(client, AudioStart(conversation_id=text_conv.conversation_id, sample_rate=16000))
    assert err.code == "audio_invalid" and "push_to_talk" in err.message
    conv = await client.start_conversation("tomas", mode="hands_free", greet=False)
    mic = Mic(client, conv.conversation_id)
    await mic.open()
    ptt = await _error_of(client, SpeechStart(conversation_id=conv.conversation_id))
    assert ptt.code == "audio_invalid"
    await client.end_conversation(conv.conversation_id)
    await client.next_event(types=("conversation_ended",))
    closed = await _error_of(client, AudioChunk(conversation_id=conv.conversation_id, seq=0, pcm=bytes(3200)))
    assert closed.code == "unknown_conversation"


async def test_client_that_stops_mid_utterance_times_out_cleanly(make_client: Any) -> None:
    a = await make_client(name="stalls")
    b = await make_client(name="carries-on")
    conv_a = await a.start_conversation("tomas", mode="push_to_talk", greet=False)
    conv_b = await b.start_conversation("tomas", mode="push_to_talk", greet=False)
    mic_a, mic_b = Mic(a, conv_a.conversation_id), Mic(b, conv_b.conversation_id)
    await mic_a.open()
    await mic_b.open()
    line = player_line("Let me through.")
    await a.send(SpeechStart(conversation_id=mic_a.cid))
    await mic_a.play(line[: len(line) // 2])  # ... and then nothing: no audio, no speech_end
    b_done = asyncio.create_task(_still_answers(b, mic_b, "gate"))
    timeout = await a.next_event(types=("error",), timeout=60)  # a bound for a hung test only
    assert timeout.code == "audio_timeout" and timeout.conversation_id == mic_a.cid  # type: ignore[attr-defined]
    assert "speech_end" in timeout.message  # type: ignore[attr-defined]
    await b_done  # the other client was served meanwhile
    await a.send(SpeechEnd(conversation_id=mic_a.cid))  # a late key release is harmless
    await _still_answers(a, mic_a, "gate")  # and the stalled conversation works again


async def test_silence_and_noise_make_no_turn(client: AsyncClient) -> None:
    conv = await client.start_conversation("tomas", mode="hands_free", greet=False)
    mic = Mic(client, conv.conversation_id)
    await mic.open()
    rng = np.random.default_rng(3)
    await mic.play(silence(2.0))
    await mic.play(rng.normal(0, 1500, 16000 * 2).astype(np.int16))  # hiss at about -27 dBFS
    await mic.play(np.concatenate([silence(0.3), player_line("Let me through."), silence(0.6)]))
    msgs = await collect(client, mic.cid, _is_final)
    finals = [t for t in of_type(msgs, "transcript") if t.final]
    assert [t.utterance for t in finals] == [1]  # neither silence nor noise opened a turn
    assert "through" in finals[0].text

    ptt = await client.start_conversation("tomas", mode="push_to_talk", greet=False)
    mic2 = Mic(client, ptt.conversation_id)
    await mic2.open()
    await mic2.push_to_talk(silence(1.0))  # the key held over silence
    msgs = await collect(client, mic2.cid, lambda m: m.type == "transcript" and m.final)  # type: ignore[attr-defined]
    assert msgs[-1].used is False and msgs[-1].reason == "no_speech"  # type: ignore[attr-defined]
    assert not of_type(msgs, "npc_text_delta")


async def test_a_stalled_runtime_does_not_time_out_a_client_that_kept_talking(
    runtime_server: Runtime, client: AsyncClient
) -> None:
    """The audio time-out is the client's silence, not the runtime's: when the event loop stalls
    (a loaded machine) longer than ``audio_timeout_s`` while the rest of the utterance waits
    unread on the socket, the utterance goes on instead of being dropped as ``audio_timeout``."""
    assert runtime_server.voice is not None
    conv = await client.start_conversation("tomas", mode="push_to_talk", greet=False)
    mic = Mic(client, conv.conversation_id)
    await mic.open()
    line = player_line("Let me through.")
    await client.send(SpeechStart(conversation_id=mic.cid))
    await mic.play(line[: len(line) // 2])
    voice = runtime_server.voice.voices[mic.cid]
    # until the session's worker has taken every chunk and waits for more (the time-out armed)
    await wait_for(lambda: voice.segmenter.in_speech and bool(voice._queue._getters), timeout=60)  # type: ignore[attr-defined]
    await mic.play(line[len(line) // 2 :])  # queued to libzmq; the runtime reads it after the stall
    await client.send(SpeechEnd(conversation_id=mic.cid))
    time.sleep(3 * VOICE_TEST_SETTINGS["audio_timeout_s"])  # the stall under test: the loop blocked
    msgs = await collect(client, mic.cid, lambda m: m.type in ("npc_text_final", "error"))
    assert not of_type(msgs, "error"), of_type(msgs, "error")
    final = [t for t in of_type(msgs, "transcript") if t.final]
    assert final and final[-1].used and "through" in final[-1].text
