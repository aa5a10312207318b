"""Lip-sync data for the engine: visemes from phonemes where the TTS gives them, else mouth-open
values from the signal envelope.

Both come as ``[[t_ms, value], ...]`` relative to the start of the audio chunk they ride with.
Visemes use the 15 names of the Oculus/Meta set (``sil PP FF TH DD kk CH SS nn RR aa E ih oh ou``)
that Unity and Unreal lip-sync rigs map to blendshapes; mouth-open values are floats in 0..1.
"""

from __future__ import annotations

import numpy as np

from .frames import AudioFrame

VISEMES = ("sil", "PP", "FF", "TH", "DD", "kk", "CH", "SS", "nn", "RR", "aa", "E", "ih", "oh", "ou")

# IPA symbols (as espeak-ng / piper emit them) -> viseme.
_IPA_VISEME: dict[str, str] = {}
for _chars, _vis in (
    ("pbm", "PP"),
    ("fv", "FF"),
    ("θð", "TH"),
    ("tdɾ", "DD"),
    ("kgŋx", "kk"),
    ("ʃʒ", "CH"),
    ("sz", "SS"),
    ("nlɬ", "nn"),
    ("ɹrɚɝ", "RR"),
    ("aɑæɐʌ", "aa"),
    ("eɛə", "E"),
    ("iɪjy", "ih"),
    ("oɔɒ", "oh"),
    ("uʊwɵ", "ou"),
    ("h", "kk"),
):
    for _c in _chars:
        _IPA_VISEME[_c] = _vis
_IGNORED = set("ˈˌːˑ̃‿ʲ͡-")
_PAUSE = set(" ,.;:!?—…\n")
_VOWEL_VISEMES = {"aa", "E", "ih", "oh", "ou", "RR"}


def phoneme_viseme(phoneme: str) -> str | None:
    """The viseme of one IPA phoneme (or None for stress marks and other modifiers)."""
    if not phoneme or phoneme[0] in _IGNORED:
        return None
    if phoneme[0] in _PAUSE:
        return "sil"
    return _IPA_VISEME.get(phoneme[0], "DD")


def speech_bounds(frame: AudioFrame, threshold_db: float = -40.0) -> tuple[float, float]:
    """Start and end (seconds) of the non-silent part of a chunk."""
    hop = max(1, frame.sample_rate // 100)
    env = _envelope(frame, hop)
    loud = np.nonzero(env > 10 ** (threshold_db / 20.0))[0]
    if len(loud) == 0:
        return 0.0, frame.duration
    return float(loud[0] * hop / frame.sample_rate), min(
        frame.duration, float((loud[-1] + 1) * hop / frame.sample_rate)
    )


def time_phonemes(phonemes: list[str], frame: AudioFrame) -> list[tuple[float, str]]:
    """Spread phonemes over the voiced part of a chunk when the TTS gives no alignment.

    Vowels get a little more time than consonants; pauses a little less. The estimate is coarse
    (tens of ms), which is within what a game's mouth rig shows.
    """
    items: list[tuple[str, float]] = []
    for p in phonemes:
        vis = phoneme_viseme(p)
        if vis is None:
            continue
        weight = 0.6 if vis == "sil" else 1.4 if vis in _VOWEL_VISEMES else 1.0
        items.append((p, weight))
    if not items:
        return []
    start, end = speech_bounds(frame)
    total = sum(w for _, w in items)
    t = start
    out: list[tuple[float, str]] = []
    for p, w in items:
        out.append((t, p))
        t += (end - start) * w / total
    return out


def visemes_from_phonemes(timed: list[tuple[float, str]], duration: float) -> list[list[float | str]]:
    """[[t_ms, viseme], ...] with repeats merged, closing with ``sil`` at the end of the audio."""
    out: list[list[float | str]] = []
    last = None
    for t, p in timed:
        vis = phoneme_viseme(p)
        if vis is None or vis == last:
            continue
        out.append([round(float(t) * 1000.0, 1), vis])
        last = vis
    if last != "sil":
        out.append([round(float(duration) * 1000.0, 1), "sil"])
    return out


def mouth_open(frame: AudioFrame, step_ms: float = 40.0) -> list[list[float | str]]:
    """[[t_ms, 0..1], ...] from the RMS envelope, every ``step_ms``."""
    hop = max(1, int(frame.sample_rate * step_ms / 1000.0))
    env = _envelope(frame, hop)
    if len(env) == 0:
        return []
    peak = max(float(env.max()), 1e-4)
    floor = 10 ** (-45.0 / 20.0)
    out: list[list[float | str]] = []
    for i, v in enumerate(env):
        value = 0.0 if v < floor else min(1.0, float(v) / peak)
        out.append([round(i * step_ms, 1), round(value, 3)])
    return out


def _envelope(frame: AudioFrame, hop: int) -> np.ndarray:
    x = frame.samples.astype(np.float32) / 32768.0
    n = len(x) // hop
    if n == 0:
        return np.zeros(0, dtype=np.float32)
    blocks = x[: n * hop].reshape(n, hop)
    return np.sqrt(np.mean(blocks**2, axis=1))
