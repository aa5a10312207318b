"""Designed voices (real Piper, real pedalboard DSP, real espeak-ng): distinct, clean, on tempo."""

from __future__ import annotations

import functools
import statistics
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest

from npc_runtime.errors import MissingDependencyError
from npc_runtime.personas.loader import lint_personas, load_persona_file, persona_files
from npc_runtime.personas.schema import VOICE_PRESETS, VoiceSettings
from npc_runtime.voice.character import PRESETS, select_delivery, voice_params
from npc_runtime.voice.lipsync import phoneme_viseme, speech_bounds
from npc_runtime.voice.models import shared_tts
from npc_runtime.voice.tts.base import VoiceParams
from npc_runtime.voice.tts.design import Delivery, VoiceDesign, shape
from npc_runtime.voice.voiceprint import distance, voiceprint

REPO = Path(__file__).resolve().parents[2]
LINES = (
    "Wolf traps. Twenty of them.",
    "The gate is shut after dark, captain's orders.",
    "A bed is five silver a night, love.",
)
VILLAGE = ("bram", "elda", "mira", "tomas")


def _say(
    text: str, params: VoiceParams, tts: str = "piper"
) -> tuple[np.ndarray, int, list[tuple[float, str]]]:
    chunks = shared_tts(tts).synthesize(text, params)
    rate = chunks[0].audio.sample_rate
    phonemes: list[tuple[float, str]] = []
    offset = 0.0
    for c in chunks:
        phonemes += [(offset + t, p) for t, p in c.phonemes]
        offset += c.audio.duration
    return np.concatenate([c.audio.samples for c in chunks]), rate, phonemes


@functools.lru_cache(maxsize=1)
def _village_params() -> dict[str, VoiceParams]:
    out = {}
    for f in persona_files([REPO / "personas"]):
        persona, problems = load_persona_file(f)
        assert persona is not None, problems
        out[persona.id] = voice_params(persona.voice)
    return out


def test_each_village_voice_differs_measurably_from_the_others() -> None:
    params = _village_params()
    assert set(VILLAGE) <= set(params)
    # Two renditions of each voice (Piper samples its prosody noise on every call).
    prints = {
        npc: [voiceprint([_say(line, params[npc])[:2] for line in LINES]) for _ in range(2)]
        for npc in VILLAGE
    }
    baseline = max(distance(a, b) for a, b in prints.values())  # same voice, two renditions
    pairs = {(a, b): distance(prints[a][0], prints[b][1]) for a in VILLAGE for b in VILLAGE if a != b}
    # The bench measures the same-voice distance at 0.1-0.5 and village pairs at 2-10; three times
    # the run's own same-voice spread (and at least 1.0) is a margin no two alike voices reach.
    bound = max(3.0 * baseline, 1.0)
    close = {k: round(d, 2) for k, d in pairs.items() if d <= bound}
    assert not close, f"voices too alike (bound {bound:.2f}, same-voice {baseline:.2f}): {close}"
    f0 = {npc: prints[npc][0].f0_hz for npc in VILLAGE}
    # The women are higher than the men; the big smith is the lowest.
    assert min(f0["mira"], f0["elda"]) > 1.2 * max(f0["bram"], f0["tomas"]), f0
    assert f0["bram"] < f0["tomas"], f0


DESIGNS = [
    VoiceDesign(pitch=12.0, formant=6.0, brightness=1.0),
    VoiceDesign(pitch=-12.0, formant=-6.0, warmth=1.0),
    VoiceDesign(pitch=7.0, formant=2.5, breathiness=1.0, tremble=1.0),
    VoiceDesign(pitch=-3.5, formant=-2.0, gruffness=1.0, warmth=1.0, gain_db=12.0),
]


@pytest.mark.parametrize("design", DESIGNS, ids=["up", "down", "breathy-tremble", "gruff-loud"])
def test_styling_keeps_audio_finite_unclipped_and_on_tempo(design: VoiceDesign) -> None:
    text = LINES[1]
    plain, rate, plain_ph = _say(text, VoiceParams(expressiveness=-1.0))
    styled, rate2, ph = _say(text, VoiceParams(design=design, expressiveness=-1.0))
    assert rate2 == rate
    assert np.all(np.isfinite(styled.astype(np.float64)))
    peak = int(np.max(np.abs(styled.astype(np.int32))))
    assert 1000 < peak <= int(32767 * 10 ** (-1 / 20)) + 2, peak  # audible, at most -1 dBFS
    # The formant resampling restores the tempo the engine rendered slower: same length +-12%.
    # Piper samples its prosody noise on every call (one rendition's length varies by ~10 %):
    # compare the medians of three renditions each.
    plain_len = np.median(
        [len(plain)] + [len(_say(text, VoiceParams(expressiveness=-1.0))[0]) for _ in range(2)]
    )
    styled_len = np.median(
        [len(styled)]
        + [len(_say(text, VoiceParams(design=design, expressiveness=-1.0))[0]) for _ in range(2)]
    )
    assert float(styled_len / plain_len) == pytest.approx(1.0, abs=0.12)
    # Chunk edges fade to silence, so sentences join without clicks.
    assert abs(int(styled[0])) < 50 and abs(int(styled[-1])) < 50
    # Lip-sync: phoneme times scaled with the audio, inside the voiced span.
    dur = len(styled) / rate
    lo, hi = speech_bounds_of(styled, rate)
    assert ph and all(0.0 <= t <= dur for t, _ in ph)
    spoken = [t for t, p in ph if phoneme_viseme(p) not in (None, "sil")]
    assert spoken[0] == pytest.approx(lo, abs=0.08) and spoken[-1] < hi + 0.1  # lip-sync is +-tens of ms
    # The phonemes sit at the same relative places as in the undesigned rendering.
    plain_dur = len(plain) / rate
    assert ph[-1][0] / dur == pytest.approx(plain_ph[-1][0] / plain_dur, abs=0.05)
    assert len(ph) == len(plain_ph)


def speech_bounds_of(samples: np.ndarray, rate: int) -> tuple[float, float]:
    from npc_runtime.voice.frames import AudioFrame

    return speech_bounds(AudioFrame(samples, rate))


def test_speed_sets_the_length_with_a_design() -> None:
    design = VoiceDesign(pitch=5.0, formant=2.0)
    lengths = {}
    for speed in (0.7, 1.0, 1.4):
        plain, _, _ = _say(LINES[1], VoiceParams(speed=speed, expressiveness=-1.0))
        styled, _, _ = _say(LINES[1], VoiceParams(design=design, speed=speed, expressiveness=-1.0))
        # The design keeps the engine's tempo at every speed (the formant step is length-neutral).
        assert len(styled) / len(plain) == pytest.approx(1.0, abs=0.1), speed
        lengths[speed] = len(styled)
    # Piper rounds each phoneme up to whole frames, so its length is not linear in the speed:
    # check the order and a clear overall change (0.7 -> 1.4 is 2x nominal).
    assert lengths[0.7] > lengths[1.0] > lengths[1.4]
    assert lengths[1.4] / lengths[0.7] < 0.7


def test_pitch_and_formant_move_the_measured_pitch() -> None:
    def f0(params: VoiceParams) -> float:
        return voiceprint([_say(line, params)[:2] for line in LINES[:2]]).f0_hz

    base = f0(VoiceParams(expressiveness=-1.0))
    up = f0(VoiceParams(design=VoiceDesign(pitch=7.0, formant=2.5), expressiveness=-1.0))
    resampled_only = f0(VoiceParams(design=VoiceDesign(pitch=3.0, formant=3.0), expressiveness=-1.0))
    old_field = f0(VoiceParams(pitch=-4.0, expressiveness=-1.0))  # the pre-design ``pitch:`` field
    assert up / base == pytest.approx(2 ** (7 / 12), rel=0.08)
    assert resampled_only / base == pytest.approx(2 ** (3 / 12), rel=0.08)
    assert old_field / base == pytest.approx(2 ** (-4 / 12), rel=0.08)


def test_moods_change_pace_and_pitch() -> None:
    params = voice_params(VoiceSettings(preset="male"))
    text = LINES[1]

    def measure(mood: str | None) -> tuple[float, float]:
        # Medians of three renditions: Piper's prosody noise moved one angry rendition's length past
        # the neutral one in a loaded run (61184 vs 60928 samples).
        p = params.with_delivery(Delivery(mood) if mood else None)
        takes = [_say(text, p) for _ in range(3)]
        lengths = [len(samples) for samples, _, _ in takes]
        pitches = [voiceprint([(samples, rate)]).f0_hz for samples, rate, _ in takes]
        return float(np.median(lengths)), float(np.median(pitches))

    n_len, n_f0 = measure(None)
    a_len, a_f0 = measure("angry")
    s_len, s_f0 = measure("sad")
    f_len, f_f0 = measure("afraid")
    assert a_len < n_len < s_len
    assert f_len < n_len
    assert s_f0 < n_f0 < a_f0 < f_f0


def test_select_delivery_takes_the_first_rule_that_holds() -> None:
    vs = VoiceSettings.model_validate(
        {
            "moods": [
                {"mood": "angry", "when": "relationship.trust < -0.3"},
                {"mood": "happy", "when": "quest.done", "intensity": 0.5},
                {"mood": "calm"},
            ]
        }
    )
    facts = {"relationship.trust < -0.3": False, "quest.done": True}
    assert select_delivery(vs, facts.__getitem__) == Delivery("happy", 0.5)
    facts["relationship.trust < -0.3"] = True
    assert select_delivery(vs, facts.__getitem__) == Delivery("angry", 1.0)
    assert select_delivery(VoiceSettings(), facts.__getitem__) is None
    with pytest.raises(ValueError, match="unknown mood"):
        Delivery("furious")


def test_presets_match_the_schema_and_fields_override_them() -> None:
    assert set(PRESETS) == set(VOICE_PRESETS)
    p = voice_params(VoiceSettings(preset="female", pitch=4.0))
    assert p.design.pitch == 4.0 and p.design.formant == PRESETS["female"]["formant"]
    assert p.espeak == PRESETS["female"]["espeak"]
    assert voice_params(VoiceSettings(preset="old_female")).speed == PRESETS["old_female"]["speed"]
    assert voice_params(VoiceSettings(preset="old_female", speed=1.0)).speed == 1.0  # given: wins
    old = voice_params(VoiceSettings(speed=0.9))  # a block from before voice design
    assert old.design.neutral and old.speed == 0.9


def test_espeak_fallback_keeps_the_character() -> None:
    female = voice_params(VoiceSettings(preset="female")).for_fallback()
    male = voice_params(VoiceSettings(preset="big_male")).for_fallback()
    f = voiceprint([_say(line, female, "espeak")[:2] for line in LINES[:2]])
    m = voiceprint([_say(line, male, "espeak")[:2] for line in LINES[:2]])
    assert f.f0_hz > 1.3 * m.f0_hz
    samples, _, _ = _say(LINES[0], male.with_delivery(Delivery("angry")), "espeak")
    assert np.all(np.isfinite(samples.astype(np.float64))) and np.max(np.abs(samples)) > 1000


def _write(tmp_path: Path, name: str, voice: str) -> Path:
    f = tmp_path / f"{name}.persona.yaml"
    f.write_text(
        f"id: {name}\nname: {name.title()}\ngreeting: [Hello.]\nfallback: [Hm, What]\nvoice:\n{voice}"
    )
    return f


def test_lint_rejects_out_of_range_voice_values_with_file_and_line(tmp_path: Path) -> None:
    f = _write(
        tmp_path, "ann", "  preset: female\n  pitch: 30\n  gruffness: 1.5\n  moods:\n    - mood: furious\n"
    )
    problems = {p.field: p for p in lint_personas([f])}
    assert problems["voice.pitch"].line == 7
    assert (
        problems["voice.pitch"].message
        == "pitch 30 is out of range -12..12 (semitones; beyond an octave the voice warbles)"
    )
    assert problems["voice.gruffness"].line == 8 and "0..1" in problems["voice.gruffness"].message
    assert problems["voice.moods.0.mood"].line == 10
    out = subprocess.run(
        [sys.executable, "-m", "npc_runtime.cli", "persona", "lint", str(f)], capture_output=True, text=True
    )
    assert out.returncode == 1
    assert f"{f}:7: [voice.pitch] error: pitch 30 is out of range -12..12" in out.stdout + out.stderr


def test_lint_warns_about_two_personas_with_one_voice(tmp_path: Path) -> None:
    a = _write(tmp_path, "ann", "  preset: female\n  speed: 1.1\n")
    b = _write(tmp_path, "bea", "  speed: 1.1\n  preset: female\n")
    c = _write(tmp_path, "cat", "  preset: female\n  speed: 1.2\n")
    warnings = [p for p in lint_personas([a, b, c]) if p.field == "voice"]
    assert [(Path(p.file).name, p.severity) for p in warnings] == [("bea.persona.yaml", "warning")]
    assert "the same voice settings as ann" in warnings[0].message


def test_design_without_pedalboard_names_the_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pedalboard", None)  # as if the package were not installed
    x = np.sin(np.arange(2205) / 10.0).astype(np.float32) * 0.3
    with pytest.raises(MissingDependencyError, match="pedalboard"):
        shape(x, 22_050, VoiceDesign(pitch=2.0))
    assert shape(x, 22_050, VoiceDesign()) is x  # an undesigned voice needs no DSP library


def test_voice_say_previews_a_mood(tmp_path: Path) -> None:
    def say(*extra: str) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "npc_runtime.cli", "voice", "say", "bram", "Get out of my forge, now."]
        cmd += ["-o", str(tmp_path / "line.wav"), "--personas", str(REPO / "personas"), *extra]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=300)

    def frames(*extra: str) -> int:
        assert say(*extra).returncode == 0
        with wave.open(str(tmp_path / "line.wav")) as w:
            return w.getnframes()

    # Piper's prosody noise moves one rendition's length by up to ~5 %, about as much as the two
    # moods differ on this short line: compare the medians of three renditions each.
    calm = statistics.median(frames("--mood", "calm") for _ in range(3))
    angry = statistics.median(frames("--mood", "angry", "--intensity", "1") for _ in range(3))
    assert angry < calm  # angry is faster (x1.12) than calm (x0.93)
    bad = say("--mood", "sad", "--intensity", "2")
    assert bad.returncode == 2 and "outside 0..1" in bad.stderr
