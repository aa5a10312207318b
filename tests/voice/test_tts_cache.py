"""The phrase cache (voice/tts/cache.py) on the real Piper voice: hits, misses, invalidation when a
persona's voice changes, the disk copy, the memory bound, and warming from a persona's lines."""

from __future__ import annotations

import asyncio
import os
import shutil
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from npc_runtime.personas.loader import load_persona_text
from npc_runtime.personas.schema import Persona
from npc_runtime.runtime.app import Runtime
from npc_runtime.settings import Settings
from npc_runtime.voice.character import voice_params
from npc_runtime.voice.frames import SynthChunk
from npc_runtime.voice.phrases import first_phrases, first_piece
from npc_runtime.voice.tts.base import TtsProvider, VoiceParams
from npc_runtime.voice.tts.cache import CachedTts, PhraseCache
from npc_runtime.voice.tts.design import Delivery
from npc_runtime.voice.tts.piper import PiperTts, default_voice_path

PERSONA = """
id: smith
name: Smith
role: Smith
backstory: Makes things.
topics:
  - id: work
    phrasings: [what are you working on]
    lines:
      - Wolf traps. Twenty of them.
      - "*wipes hands* Horseshoes, mostly."
      - Evening, {player.name|friend}. Best this side of the capital.
greeting:
  - Hm. Customer or gawker?
fallback:
  - Don't know, ask Mira, she talks enough for the both of us and more besides.
voice:
  preset: big_male
  gruffness: %s
"""


def persona(gruffness: float = 0.4) -> Persona:
    p, problems = load_persona_text(PERSONA % gruffness, "smith.persona.yaml")
    assert p is not None, problems
    return p


class Counting(TtsProvider):
    """The real Piper voice, counting the sentences it really synthesises."""

    def __init__(self, inner: TtsProvider) -> None:
        self.inner = inner
        self.name = inner.name
        self.calls: list[str] = []

    def sample_rate(self, params: VoiceParams) -> int:
        return self.inner.sample_rate(params)

    def cache_identity(self, params: VoiceParams) -> str:
        return self.inner.cache_identity(params)

    def synthesize(self, text: str, params: VoiceParams) -> list[SynthChunk]:
        self.calls.append(text)
        return self.inner.synthesize(text, params)


@pytest.fixture(scope="module")
def piper() -> PiperTts:
    return PiperTts(threads=1)


def audio(chunks: list[SynthChunk]) -> np.ndarray:
    return np.concatenate([c.audio.samples for c in chunks])


def test_the_second_time_a_phrase_is_served_from_memory(piper: PiperTts) -> None:
    inner = Counting(piper)
    tts = CachedTts(inner, PhraseCache())
    params = voice_params(persona().voice)
    first = tts.synthesize("Wolf traps.", params)
    again = tts.synthesize("Wolf traps.", params)
    assert inner.calls == ["Wolf traps."]
    assert tts.cache.stats["hits"] == 1 and tts.cache.stats["misses"] == 1
    assert np.array_equal(audio(first), audio(again))
    assert again[0].phonemes == first[0].phonemes and again[0].text == "Wolf traps."
    assert tts.cached("Wolf traps.", params) is not None
    assert tts.cached("Horseshoes.", params) is None  # nothing synthesised by asking
    tts.synthesize("Horseshoes.", params)  # another text: a miss
    assert inner.calls == ["Wolf traps.", "Horseshoes."]


def test_a_changed_voice_block_misses_and_sounds_different(piper: PiperTts) -> None:
    inner = Counting(piper)
    tts = CachedTts(inner, PhraseCache())
    before = tts.synthesize("Wolf traps.", voice_params(persona(0.4).voice))
    after = tts.synthesize("Wolf traps.", voice_params(persona(0.9).voice))  # the designer edits it
    assert inner.calls == ["Wolf traps.", "Wolf traps."]
    n = min(len(audio(before)), len(audio(after)))
    assert not np.array_equal(audio(before)[:n], audio(after)[:n])
    # the mood is part of the voice too
    tts.synthesize("Wolf traps.", voice_params(persona(0.4).voice, Delivery("angry", 0.8)))
    assert len(inner.calls) == 3
    tts.synthesize("Wolf traps.", voice_params(persona(0.4).voice))  # the first voice again: a hit
    assert len(inner.calls) == 3


def test_a_replaced_voice_file_is_not_served_old_audio(tmp_path: Path) -> None:
    model = tmp_path / "voice.onnx"
    shutil.copy(default_voice_path(), model)
    shutil.copy(f"{default_voice_path()}.json", f"{model}.json")
    inner = Counting(PiperTts(default_voice=str(model), threads=1))
    tts = CachedTts(inner, PhraseCache())
    tts.synthesize("Open the gate.", VoiceParams())
    st = model.stat()
    os.utime(model, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))  # a new file in its place
    tts.synthesize("Open the gate.", VoiceParams())
    assert inner.calls == ["Open the gate.", "Open the gate."]


def test_the_disk_copy_survives_a_restart_and_a_corrupt_file_is_a_miss(
    piper: PiperTts, tmp_path: Path
) -> None:
    params = voice_params(persona().voice)
    first = CachedTts(Counting(piper), PhraseCache(directory=tmp_path))
    made = first.synthesize("Customer or gawker?", params)
    files = list(tmp_path.glob("*.npz"))
    assert len(files) == 1
    inner = Counting(piper)
    second = CachedTts(inner, PhraseCache(directory=tmp_path))  # a new process, same directory
    loaded = second.synthesize("Customer or gawker?", params)
    assert inner.calls == [] and second.cache.stats["disk_hits"] == 1
    assert np.array_equal(audio(made), audio(loaded))
    assert loaded[0].phonemes == made[0].phonemes  # floats survive JSON exactly
    files[0].write_bytes(b"not a zip file")
    inner = Counting(piper)
    third = CachedTts(inner, PhraseCache(directory=tmp_path))
    again = third.synthesize("Customer or gawker?", params)
    assert inner.calls == ["Customer or gawker?"] and len(audio(again)) > 0  # made anew (Piper
    # samples its prosody noise, so not the same samples) and written back whole:
    assert (
        CachedTts(Counting(piper), PhraseCache(directory=tmp_path))
        .synthesize("Customer or gawker?", params)[0]
        .audio.samples.tobytes()
        == audio(again).tobytes()
    )


def test_memory_is_bounded_least_recently_used_first(piper: PiperTts) -> None:
    params = VoiceParams()
    tts = CachedTts(Counting(piper), PhraseCache())
    tts.synthesize("Open the gate.", params)
    tts.synthesize("Close the gate, quickly.", params)
    tts.cache.max_bytes = tts.cache.bytes  # exactly these two fit
    tts.synthesize("Open the gate.", params)  # a hit: now the most recently used
    tts.synthesize("Gate.", params)  # shorter than the phrase it pushes out
    assert tts.cache.stats["evicted"] == 1
    assert tts.cached("Close the gate, quickly.", params) is None
    assert tts.cached("Open the gate.", params) is not None
    assert tts.cached("Gate.", params) is not None
    assert tts.cache.bytes <= tts.cache.max_bytes


def test_callers_asking_at_once_share_one_synthesis(piper: PiperTts) -> None:
    inner = Counting(piper)
    tts = CachedTts(inner, PhraseCache())
    start = threading.Barrier(4)
    results: list[np.ndarray] = []

    def ask() -> None:
        start.wait(timeout=30)
        results.append(audio(tts.synthesize("Ten years on the border.", VoiceParams())))

    threads = [threading.Thread(target=ask) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert len(results) == 4 and all(np.array_equal(r, results[0]) for r in results)
    assert inner.calls == ["Ten years on the border."]


def test_first_phrases_are_what_the_speaker_synthesises_first() -> None:
    p = persona()
    phrases = first_phrases(p)
    assert phrases[0] == "Hm."  # greetings first
    assert "Wolf traps." in phrases
    assert "Horseshoes, mostly." in phrases  # the stage direction is not spoken
    assert not any("{" in x or "Evening" in x for x in phrases)  # a template: known in the turn
    assert "Don't know, ask Mira," in phrases  # a long first sentence is cut as the speaker cuts it
    assert first_piece("*sighs*") == ""


def test_warming_makes_a_persona_s_first_phrases_hits(piper: PiperTts) -> None:
    p = persona()
    params = voice_params(p.voice)
    inner = Counting(piper)
    tts = CachedTts(inner, PhraseCache())
    made = tts.warm([(text, params) for text in first_phrases(p)])
    assert made == len(first_phrases(p)) == len(inner.calls)
    assert tts.warm([(text, params) for text in first_phrases(p)]) == 0  # nothing left to make
    for text in first_phrases(p):
        tts.synthesize(text, params)
    assert len(inner.calls) == made  # every first phrase a hit
    stopped = CachedTts(Counting(piper), PhraseCache())
    assert stopped.warm([(t, params) for t in first_phrases(p)], stop=lambda: True) == 0


async def test_the_runtime_warms_the_cache_and_again_when_a_voice_changes(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    """Wiring: at start the voice extension synthesises the persona's first phrases into the
    cache; when the designer edits the voice block, the new voice's phrases are made too."""
    personas = tmp_path / "smith_only"
    personas.mkdir()
    file = personas / "smith.persona.yaml"
    file.write_text(PERSONA % 0.4, encoding="utf-8")
    settings = make_settings(
        personas_dir=personas,
        voice={"warm_up": True, "stt": "pocketsphinx", "tts_cache_dir": str(tmp_path / "cache")},
    )
    runtime = Runtime(settings)
    await runtime.start()
    try:
        ext = runtime.voice
        assert ext is not None and ext._warming is not None
        await asyncio.wait_for(asyncio.shield(ext._warming), 300)
        tts, params = ext.voice_for("smith")
        assert isinstance(tts, CachedTts)
        phrases = first_phrases(persona(0.4))
        assert all(tts.cached(text, params) is not None for text in phrases)
        assert len(list((tmp_path / "cache").glob("*.npz"))) == len(phrases)
        file.write_text(PERSONA % 0.9, encoding="utf-8")  # the designer makes him gruffer
        runtime.refresh_personas(force=True)
        _, changed = ext.voice_for("smith")
        assert changed != params
        # nothing stale can be served: every phrase has a new key
        assert all(tts.key(text, changed) != tts.key(text, params) for text in phrases)
        await asyncio.wait_for(asyncio.shield(ext._warming), 300)
        assert all(tts.cached(text, changed) is not None for text in phrases)
    finally:
        await runtime.stop()
