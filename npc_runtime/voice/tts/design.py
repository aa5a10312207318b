"""Voice design: shape one packaged voice into many characters, one sentence at a time.

Only one English neural voice ships in a registry package (Piper ``joe``, an adult man), so a
village's voices are designed from it with signal processing applied to each synthesized sentence:

- **formant** (vocal-tract size, semitones): the engine renders the sentence ``k = 2^(formant/12)``
  times slower (Piper's length scale, espeak's words per minute) and the audio is then resampled
  ``k`` times faster, which moves formants and pitch up together and restores the tempo. Cheap
  (soxr) and clean: the same trick as a tape played faster, without the speed change.
- **pitch** (semitones): whatever the formant shift has not already moved is shifted with
  Rubber Band (``pedalboard.time_stretch``, formants preserved), so pitch and timbre are
  independent controls; that shift is snapped to a simple frequency ratio (:func:`snap_semitones`). ``tremble`` wobbles that pitch at ~5.5 Hz (age, fear).
- **warmth** / **brightness**: low shelf at 300 Hz (+-6 dB), high shelf at 3 kHz (+-9 dB).
- **gruffness**: parallel tanh saturation plus a rough, irregular amplitude flutter (20-70 Hz).
- **breathiness**: aspiration noise that follows the speech envelope, high-passed, with the
  voice's top end softened.

Every sentence is processed on its own with fresh filter state and a 3 ms fade at both ends;
Piper's sentences start and end in silence, so chunks join without clicks, and speculation or
barge-in never depend on state carried between sentences. Loudness is matched to the unshaped
sentence and peaks are kept below -1 dBFS. Only the formant step changes the length, by exactly
``1/k``; phoneme times (lip-sync) are scaled by the same factor.

:class:`Delivery` is the character's momentary state (a mood and its intensity); :func:`delivered`
folds it into the design: pace, pitch, pitch movement (Piper's prosody noise), timbre and level.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Any

import numpy as np

from ...errors import MissingDependencyError
from ..frames import AudioFrame, FloatArray, SynthChunk, float_to_int16

FADE_S = 0.003
PEAK = 10 ** (-1.0 / 20.0)  # -1 dBFS
TREMBLE_HZ = 5.5


@dataclass(frozen=True)
class VoiceDesign:
    """The signal-processing part of a voice. All zero means the engine's voice untouched."""

    pitch: float = 0.0  # semitones, -12..12
    formant: float = 0.0  # semitones of vocal-tract shift, -6..6 (negative: bigger, deeper)
    brightness: float = 0.0  # -1..1
    warmth: float = 0.0  # -1..1
    gruffness: float = 0.0  # 0..1
    breathiness: float = 0.0  # 0..1
    tremble: float = 0.0  # 0..1
    gain_db: float = 0.0  # level after loudness matching (mood)

    @property
    def neutral(self) -> bool:
        return self == VoiceDesign()

    @property
    def stretch(self) -> float:
        """How much slower the engine must render so that the formant resampling restores tempo."""
        return float(2.0 ** (self.formant / 12.0))


MOODS = ("neutral", "angry", "afraid", "sad", "happy", "calm")


@dataclass(frozen=True)
class Delivery:
    """How the line is said right now: a mood (one of :data:`MOODS`) at an intensity 0..1."""

    mood: str = "neutral"
    intensity: float = 1.0

    def __post_init__(self) -> None:
        if self.mood not in MOODS:
            raise ValueError(f"unknown mood {self.mood!r}; use one of {', '.join(MOODS)}")
        if not 0.0 <= self.intensity <= 1.0:
            raise ValueError(f"mood intensity {self.intensity} is outside 0..1")


@dataclass(frozen=True)
class _MoodShape:
    speed: float = 1.0  # tempo multiplier at full intensity
    pitch: float = 0.0  # semitones
    expressiveness: float = 0.0  # added to the prosody variation (pitch range), -1..1 scale
    brightness: float = 0.0
    gruffness: float = 0.0
    breathiness: float = 0.0
    tremble: float = 0.0
    gain_db: float = 0.0


# Directions follow the acoustic correlates reported for acted emotion (anger: faster, louder,
# higher and wider pitch, tenser/brighter; fear: faster, higher, shaky; sadness: slower, lower,
# flatter, darker, breathier). Sizes are kept moderate so the words stay intelligible.
_MOOD_SHAPES: dict[str, _MoodShape] = {
    "neutral": _MoodShape(),
    "angry": _MoodShape(
        speed=1.12, pitch=1.5, expressiveness=0.5, brightness=0.35, gruffness=0.25, gain_db=2.0
    ),
    "afraid": _MoodShape(speed=1.15, pitch=2.5, expressiveness=0.3, tremble=0.5, breathiness=0.25),
    "sad": _MoodShape(
        speed=0.85, pitch=-1.5, expressiveness=-0.5, brightness=-0.3, breathiness=0.2, gain_db=-2.0
    ),
    "happy": _MoodShape(speed=1.06, pitch=1.5, expressiveness=0.4, brightness=0.2),
    "calm": _MoodShape(speed=0.93, pitch=-0.5, expressiveness=-0.3, brightness=-0.1),
}


def delivered(
    design: VoiceDesign, speed: float, expressiveness: float, delivery: Delivery | None
) -> tuple[VoiceDesign, float, float]:
    """(design, speed, expressiveness) with the mood folded in, clamped to the valid ranges."""
    if delivery is None or delivery.mood == "neutral" or delivery.intensity == 0.0:
        return design, speed, expressiveness
    s = _MOOD_SHAPES[delivery.mood]
    a = delivery.intensity
    out = replace(
        design,
        pitch=_clamp(design.pitch + a * s.pitch, -12.0, 12.0),
        brightness=_clamp(design.brightness + a * s.brightness, -1.0, 1.0),
        gruffness=_clamp(design.gruffness + a * s.gruffness, 0.0, 1.0),
        breathiness=_clamp(design.breathiness + a * s.breathiness, 0.0, 1.0),
        tremble=_clamp(design.tremble + a * s.tremble, 0.0, 1.0),
        gain_db=design.gain_db + a * s.gain_db,
    )
    return out, speed * (1.0 + a * (s.speed - 1.0)), _clamp(expressiveness + a * s.expressiveness, -1.0, 1.0)


def _clamp(v: float, lo: float, hi: float) -> float:
    return float(min(hi, max(lo, v)))


def style_chunks(
    chunks: list[SynthChunk], design: VoiceDesign, text: str, engine_pitch: bool = False
) -> list[SynthChunk]:
    """Apply ``design`` to each chunk of one sentence (rendered ``design.stretch`` times slower).

    ``engine_pitch``: the engine already shifted the pitch (espeak's ``-p``), so only the formant
    resampling moves it here. Phoneme times are rescaled with the audio.
    """
    if design.neutral:
        return chunks
    out: list[SynthChunk] = []
    for i, chunk in enumerate(chunks):
        rate = chunk.audio.sample_rate
        x = chunk.audio.to_float()
        seed = zlib.crc32(f"{text}|{i}".encode())  # same sentence, same noise: repeatable audio
        y = shape(x, rate, design, seed=seed, engine_pitch=engine_pitch)
        scale = len(y) / len(x) if len(x) else 1.0
        frame = AudioFrame(float_to_int16(y), rate, chunk.audio.t)
        out.append(SynthChunk(frame, chunk.text, [(t * scale, p) for t, p in chunk.phonemes]))
    return out


def shape(
    x: FloatArray, rate: int, design: VoiceDesign, seed: int = 0, engine_pitch: bool = False
) -> FloatArray:
    """The designed voice for one sentence of float audio in -1..1 (mono) at ``rate``."""
    if len(x) == 0 or design.neutral:
        return x
    pb = _pedalboard()
    rng = np.random.default_rng(seed)
    ref_rms = _rms(x)
    y = x.astype(np.float32)
    if design.formant:
        import soxr

        y = np.asarray(soxr.resample(y, rate * design.stretch, rate, quality="HQ"), dtype=np.float32)
    rest = 0.0 if engine_pitch else snap_semitones(design.pitch - design.formant)
    if abs(rest) > 0.01:
        y = pb.time_stretch(
            y[None, :],
            float(rate),
            stretch_factor=1.0,
            pitch_shift_in_semitones=rest,
            preserve_formants=True,
            use_long_fft_window=False,  # speech: sharper onsets, and faster
        )[0]
    if design.tremble > 0.0:
        y = _tremble(y, rate, design.tremble, rng)
    if design.gruffness > 0.0:
        y = _gruff(y, rate, design.gruffness, rng, pb)
    if design.breathiness > 0.0:
        y = _breathy(y, rate, design.breathiness, rng, pb)
    eq = []
    if design.warmth:
        eq.append(pb.LowShelfFilter(cutoff_frequency_hz=300.0, gain_db=6.0 * design.warmth))
    if design.brightness:
        eq.append(pb.HighShelfFilter(cutoff_frequency_hz=3000.0, gain_db=9.0 * design.brightness))
    if eq:
        y = pb.Pedalboard(eq)(y, float(rate))
    y = np.nan_to_num(y.astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    out_rms = _rms(y)
    if out_rms > 1e-6 and ref_rms > 1e-6:
        y = y * (ref_rms / out_rms) * (10 ** (design.gain_db / 20.0))
    peak = float(np.max(np.abs(y))) if len(y) else 0.0
    if peak > PEAK:
        y = y * (PEAK / peak)
    return _fade(y.astype(np.float32), rate)


def snap_semitones(semitones: float, max_denominator: int = 24) -> float:
    """The shift whose frequency ratio is the nearest fraction with a small denominator.

    Rubber Band's resampler is fast on such ratios and up to 20x slower on others (measured here:
    +-1.5 st took 1.1-2.4 s for 2 s of audio, 1.52 st 0.1 s). With denominators up to 24 the snapped
    shift is at most 0.23 semitones off, below what a listener notices in a designed voice.
    """
    if abs(semitones) < 0.01:
        return 0.0
    ratio = Fraction(2.0 ** (semitones / 12.0)).limit_denominator(max_denominator)
    return 12.0 * math.log2(ratio)


def _tremble(y: FloatArray, rate: int, amount: float, rng: np.random.Generator) -> FloatArray:
    """Vibrato by a modulated delay (up to +-0.45 semitones at ~5.5 Hz, with a slower drift) and a
    matching level wobble: the unsteady voice of age or fear."""
    t = np.arange(len(y)) / rate
    phase = rng.uniform(0.0, 2.0 * math.pi)
    w = 2.0 * math.pi * TREMBLE_HZ
    depth = (2.0 ** (0.45 * amount / 12.0) - 1.0) / w  # seconds of delay swing for that pitch swing
    delay = depth * (1.0 + np.sin(w * t + phase)) + 0.3 * depth * (1.0 + np.sin(2.0 * math.pi * 2.1 * t))
    out = np.interp(t - delay, t, y, left=0.0).astype(np.float32)
    level = 1.0 + 0.22 * amount * np.sin(w * t + phase + 1.3)
    return (out * level).astype(np.float32)


def _gruff(y: FloatArray, rate: int, amount: float, rng: np.random.Generator, pb: Any) -> FloatArray:
    """Saturation (harmonics, a strained edge) mixed in parallel, and an irregular flutter that
    roughens the voice like vocal fry."""
    drive = 4.0 + 16.0 * amount
    peak = max(float(np.max(np.abs(y))), 1e-4)
    sat = np.tanh((y / peak) * (10 ** (drive / 20.0))) * peak
    mix = 0.55 * amount
    y = ((1.0 - mix) * y + mix * sat).astype(np.float32)
    # Low-frequency noise (20-70 Hz band) as an amplitude flutter.
    n = rng.standard_normal(len(y)).astype(np.float32)
    band = pb.Pedalboard([pb.HighpassFilter(20.0), pb.LowpassFilter(70.0)])(n, float(rate))
    band = band / max(float(np.std(band)), 1e-6)
    return (y * (1.0 + 0.35 * amount * np.clip(band, -2.5, 2.5))).astype(np.float32)


def _breathy(y: FloatArray, rate: int, amount: float, rng: np.random.Generator, pb: Any) -> FloatArray:
    hop = max(1, rate // 100)
    power = np.concatenate([np.zeros(hop), np.cumsum(y.astype(np.float64) ** 2)])
    mean = (power[hop:] - power[:-hop]) / hop  # 10 ms moving mean, trailing
    env = np.sqrt(np.maximum(np.roll(mean, -(hop // 2)), 0.0)).astype(np.float32)
    noise = rng.standard_normal(len(y)).astype(np.float32)
    chain = pb.Pedalboard([pb.HighpassFilter(1500.0), pb.LowpassFilter(min(7000.0, rate * 0.45))])
    noise = chain(noise, float(rate))
    noise = noise / max(float(np.std(noise)), 1e-6)
    soft = pb.Pedalboard([pb.HighShelfFilter(cutoff_frequency_hz=2500.0, gain_db=-6.0 * amount)])(
        y, float(rate)
    )
    return (soft + 0.9 * amount * env * noise).astype(np.float32)


def _fade(y: FloatArray, rate: int) -> FloatArray:
    n = min(len(y) // 2, int(rate * FADE_S))
    if n > 0:
        ramp = (0.5 - 0.5 * np.cos(np.linspace(0.0, math.pi, n))).astype(np.float32)
        y[:n] *= ramp
        y[-n:] *= ramp[::-1]
    return y


def _rms(x: FloatArray) -> float:
    return float(np.sqrt(np.mean(x.astype(np.float64) ** 2))) if len(x) else 0.0


def warm_up_design() -> None:
    """Load the DSP library and run it once (the first pitch shift pays its set-up), if installed."""
    try:
        _pedalboard()
    except MissingDependencyError:
        return
    shape(np.zeros(2205, dtype=np.float32) + 0.01, 22_050, VoiceDesign(pitch=2.0, formant=1.0, gruffness=0.1))


def _pedalboard() -> Any:
    try:
        import pedalboard
    except ImportError as exc:
        raise MissingDependencyError("pedalboard (voice design)", "voice") from exc
    return pedalboard
