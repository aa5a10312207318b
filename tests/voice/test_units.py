"""The I/O-free parts of the voice pipeline, driven with real models where they matter."""

from __future__ import annotations

import importlib
import sys
from typing import Any

import numpy as np
import pytest

from npc_runtime.errors import MissingDependencyError, ProviderError
from npc_runtime.runtime.app import Runtime
from npc_runtime.voice.frames import AudioFrame
from npc_runtime.voice.lipsync import VISEMES, mouth_open, time_phonemes, visemes_from_phonemes
from npc_runtime.voice.models import shared_tts, shared_vad
from npc_runtime.voice.resample import StreamResampler, resample
from npc_runtime.voice.sentences import SentenceSplitter, speakable, split_first
from npc_runtime.voice.speaker import Reply
from npc_runtime.voice.stt.vocab import NameSnapper, SceneWord, ipa_to_arpabet
from npc_runtime.voice.tts.base import TtsProvider, VoiceParams
from npc_runtime.voice.turns import Segmenter, SpeechAudio, SpeechEnded, SpeechStarted, classify

from .conftest import player_line, silence

BACKCHANNELS = ["uh-huh", "mm", "mhm", "yeah", "okay", "right"]


def test_sentences_are_cut_as_the_text_streams() -> None:
    sp = SentenceSplitter()
    assert sp.feed("Hm.") == []  # complete only once the next word starts
    assert sp.feed(" Customer or gawker? Mr. Vell said so. And") == [
        "Hm.",
        "Customer or gawker?",
        "Mr. Vell said so.",
    ]
    assert sp.flush() == ["And"]
    assert speakable("*slams tankard* Out! [laughs]") == "Out!"
    long = "Welcome to the Gilded Goose, traveller, rooms are two silver a night."
    assert split_first(long) == ["Welcome to the Gilded Goose,", "traveller, rooms are two silver a night."]
    assert split_first("Wolf traps, twenty.") == ["Wolf traps, twenty."]  # short: whole


def test_a_piece_ending_a_sentence_is_not_held_and_a_first_clause_can_be_taken() -> None:
    sp = SentenceSplitter()
    # A piece that ends with a sentence's end and a space (an opener sent whole): said at once.
    assert sp.feed("Well now, love. ") == ["Well now, love."]
    assert sp.feed("Ask Mr. ") == []  # an abbreviation still waits for the name
    assert sp.feed("Vell. ") == ["Ask Mr. Vell."]
    # A clause of four words or more where the streamed text stops: taken out on its own.
    assert sp.feed("Once, aye, I fell") == [] and sp.take_clause() is None  # no clause end yet
    assert sp.feed(" in the river,") == [] and sp.take_clause() == "Once, aye, I fell in the river,"
    assert sp.feed(" and it was cold. Never") == ["and it was cold."]
    assert sp.take_clause() is None and sp.flush() == ["Never"]
    assert sp.feed("Aye, I did,") == [] and sp.take_clause() is None  # three words: not a clause to say alone
    assert sp.feed(" 1,000 times") == [] and sp.take_clause() is None  # a number, and not at the end


def test_classify_backchannel_echo_and_speech() -> None:
    assert classify("uh huh", BACKCHANNELS) == "backchannel"
    assert classify("mm", BACKCHANNELS) == "backchannel"
    assert classify("yeah okay", BACKCHANNELS) == "backchannel"
    assert classify("", BACKCHANNELS) == "empty"
    assert classify("wait stop", BACKCHANNELS) == "speech"
    npc = "Big grey one leads them. Torn ear."
    assert classify("grey one leads them", BACKCHANNELS, npc) == "echo"
    assert classify("where is the grey one", BACKCHANNELS, npc) == "speech"


def test_visemes_from_phonemes_and_envelope() -> None:
    rate = 16_000
    t = np.arange(rate) / rate
    tone = (np.sin(2 * np.pi * 220 * t) * 8000 * (t > 0.25)).astype(np.int16)  # silent first quarter
    frame = AudioFrame(tone, rate)
    timed = time_phonemes(list("hɛlˈoʊ wˈɜːld"), frame)
    assert timed[0][0] == pytest.approx(0.25, abs=0.02)  # speech starts after the silence
    vis = visemes_from_phonemes(timed, frame.duration)
    assert all(v in VISEMES for _, v in vis) and vis[-1] == [1000.0, "sil"]
    assert [t for t, _ in vis] == sorted(t for t, _ in vis)
    env = mouth_open(frame)
    assert env[0][1] == 0.0 and max(v for _, v in env) == 1.0  # type: ignore[type-var]


def test_resampling_keeps_duration_and_pitch() -> None:
    rate = 48_000
    t = np.arange(rate) / rate
    tone = (np.sin(2 * np.pi * 440 * t) * 10000).astype(np.int16)
    rs = StreamResampler(rate, 16_000)
    out = np.concatenate(
        [rs.process(tone[i : i + 960]) for i in range(0, rate, 960)] + [rs.process(tone[:0], last=True)]
    )
    assert abs(len(out) - 16_000) <= 16
    spectrum = np.abs(np.fft.rfft(out[:16000].astype(np.float64)))
    assert abs(int(np.argmax(spectrum)) - 440) <= 2
    assert len(resample(tone, rate, 16_000)) == 16_000


def test_ipa_to_arpabet_and_snapping() -> None:
    assert ipa_to_arpabet("θˈɔːɹnwɪk") == ["TH", "AO", "R", "N", "W", "IH", "K"]
    assert ipa_to_arpabet("bɹˈænək") == ["B", "R", "AE", "N", "AH", "K"]
    names = [SceneWord("Brannoc", "brannoc", ("B", "R", "AE", "N", "AH", "K"))]
    lexicon = {
        "bran": ("B", "R", "AE", "N"),
        "knock": ("N", "AA", "K"),
        "rock": ("R", "AA", "K"),
        "me": ("M", "IY"),
    }
    snapper = NameSnapper(names, lexicon.get)
    assert snapper.snap("tell bran knock") == "tell Brannoc"  # two near-miss words become the name
    assert snapper.snap("brannoc rock me") == "Brannoc rock me"  # far words stay


def _segments(seg: Segmenter, audio: np.ndarray, chunk: int = 1600) -> list[object]:
    events: list[object] = []
    for i in range(0, len(audio), chunk):
        events += seg.process(audio[i : i + chunk], npc_playing=False)
    return events


@pytest.mark.parametrize("vad_name", ["silero", "webrtc"])
def test_hands_free_end_of_turn_from_real_vad(vad_name: str) -> None:
    line = player_line("Can I buy a sword, please?")
    audio = np.concatenate([silence(0.5), line, silence(1.0)])
    seg = Segmenter(shared_vad(vad_name).stream(), hands_free=True, end_silence_ms=300, pre_roll_ms=400)
    events = _segments(seg, audio)
    starts = [e for e in events if isinstance(e, SpeechStarted)]
    ends = [e for e in events if isinstance(e, SpeechEnded)]
    assert len(starts) == 1 and len(ends) == 1, events  # one clean segment, commas do not split it
    speech_end = (0.5 * 16000 + len(line)) / 16000
    assert abs(ends[0].t_last_voice - speech_end) < 0.25  # Piper leaves a little silence at the end
    assert 0.29 <= ends[0].t_detected - ends[0].t_last_voice <= 0.36  # the configured 300 ms (+1 frame)
    assert len(starts[0].pre_roll) >= 0.3 * 16000  # the pre-roll pocketsphinx needs
    assert sum(len(e.samples) for e in events if isinstance(e, SpeechAudio)) > len(line) * 0.7


def test_silence_and_noise_do_not_open_a_turn() -> None:
    seg = Segmenter(shared_vad("silero").stream(), hands_free=True)
    rng = np.random.default_rng(7)
    noise = (rng.normal(0, 1500, 16000 * 3)).astype(np.int16)  # steady hiss at about -27 dBFS
    assert _segments(seg, silence(3.0)) == []
    assert not any(isinstance(e, SpeechStarted) for e in _segments(seg, noise))


def test_push_to_talk_key_bounds_the_utterance() -> None:
    seg = Segmenter(shared_vad("silero").stream(), hands_free=False)
    assert _segments(seg, player_line("Hello there.")) == []  # no key, no turn
    started = seg.key_down()
    assert isinstance(started[0], SpeechStarted) and len(started[0].pre_roll) > 0
    _segments(seg, player_line("Open the gate."))
    ended = seg.key_up()
    assert isinstance(ended[-1], SpeechEnded) and ended[-1].voiced_ms > 300


class _FakeTts(TtsProvider):  # only its identity is used by Reply
    name = "none"


def test_heard_text_from_playback_report() -> None:
    reply = Reply(1, "bram", _FakeTts(), VoiceParams())
    reply.text = "Wolf traps. Twenty of them."
    reply.words = [
        (0, 300, 0, 4),
        (300, 700, 5, 11),
        (800, 1200, 12, 18),
        (1200, 1400, 19, 21),
        (1400, 1800, 22, 27),
    ]
    reply.played_ms = 750
    assert reply.heard_text(0.0) == "Wolf traps."
    reply.played_ms = None
    reply.heard_chars = 14
    assert reply.heard_text(0.0) == "Wolf traps."  # cut back to a whole word
    reply.heard_chars = None
    reply.first_sent, reply.sent_ms = 10.0, 1800.0
    assert reply.heard_text(11.1) == "Wolf traps. Twenty"  # no report: estimated from time played


def test_missing_optional_package_names_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "webrtcvad", None)  # as if webrtcvad-wheels were not installed
    monkeypatch.delitem(sys.modules, "npc_runtime.voice.vad.webrtc", raising=False)
    with pytest.raises(ImportError, match=r"pip install 'npc-runtime\[voice\]'") as info:
        importlib.import_module("npc_runtime.voice.vad.webrtc")
    assert isinstance(info.value, MissingDependencyError) and "webrtcvad-wheels" in str(info.value)


async def test_decoding_in_worker_processes_leaves_the_event_loop_free() -> None:
    """pocketsphinx holds the GIL while it decodes; the runtime's pool decodes in other processes,
    so this process (its event loop) spends almost no CPU on it. Measured in CPU seconds, so a
    busy machine does not change the verdict (in a thread the loop ticked twice in a 10 s decode)."""
    import asyncio
    import time

    from npc_runtime.voice.models import shared_stt
    from npc_runtime.voice.stt import load_stt

    audio = np.tile(player_line("I need a bed for the night."), 4)

    async def cpu_of_decode(stt: Any) -> tuple[float, str, int]:
        stream = stt.stream()
        ticks = 0
        cpu0 = time.process_time()  # every thread of this process
        decode = asyncio.create_task(asyncio.to_thread(stream.feed, audio))
        while not decode.done():
            await asyncio.sleep(0.005)
            ticks += 1
        text = await asyncio.to_thread(stream.finish)
        return time.process_time() - cpu0, text, ticks

    in_thread, text, _ = await cpu_of_decode(load_stt("pocketsphinx"))
    assert "night" in text
    in_pool, text, ticks = await cpu_of_decode(shared_stt("pocketsphinx", {}, processes=2))
    assert "night" in text and ticks > 0
    assert in_pool < 0.3 * in_thread, (in_pool, in_thread)


async def test_persona_with_a_missing_piper_voice_is_reported(runtime_server: Runtime) -> None:
    from npc_runtime.personas.schema import Persona

    ext = runtime_server.voice
    assert ext is not None
    good = Persona.model_validate({"id": "x", "name": "X", "fallback": ["Hm."], "voice": {"speed": 1.2}})
    bad = Persona.model_validate(
        {"id": "x", "name": "X", "fallback": ["Hm."], "voice": {"voice": "nope.onnx"}}
    )
    assert ext.check_persona(good) == []
    assert ext.check_persona(bad) == [
        ("voice.voice", "Piper voice file 'nope.onnx' not found; give the path of a .onnx voice")
    ]
    with pytest.raises(ProviderError, match="does not exist"):
        shared_tts("piper").synthesize("Hello.", VoiceParams(voice="nope.onnx"))


def test_a_killed_stt_worker_is_restarted_with_its_vocabulary() -> None:
    import os
    import signal

    from npc_runtime.voice.stt.procpool import ProcessPoolStt

    pool = ProcessPoolStt("pocketsphinx", {}, processes=1)
    try:
        pool.set_vocabulary(["Thornwood", "Whisperwood"])
        line = np.concatenate(
            [silence(0.3), player_line("The wolves came from the Whisperwood."), silence(0.2)]
        )
        stream = pool.stream()
        stream.feed(line[:8000])
        os.kill(pool.pids()[0], signal.SIGKILL)
        with pytest.raises(ProviderError, match="restarted"):
            stream.feed(line[8000:])
        again = pool.stream()
        again.feed(line)
        assert "Whisperwood" in again.finish()  # a new worker, with the scene words
    finally:
        pool.close()


def test_quiet_frames_end_the_turn_before_the_vad_lets_go() -> None:
    """Silero's probability stays up ~100 ms after the voice stops; frames 50 dB under the
    utterance's loudest count as silence (measured: detection ~40 ms sooner, no extra splits)."""
    audio = np.concatenate([silence(0.4), player_line("I need a bed for the night."), silence(1.0)])

    def end_of(quiet: float | None) -> SpeechEnded:
        seg = Segmenter(shared_vad("silero").stream(), hands_free=True, quiet_db=quiet)
        ends = [e for e in _segments(seg, audio) if isinstance(e, SpeechEnded)]
        assert len(ends) == 1
        return ends[0]

    assert end_of(50.0).t_detected < end_of(None).t_detected
