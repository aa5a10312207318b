"""Prosody at the end of the voice: a finished turn tends to fade out, a mid-sentence pause (a
comma, a thinking pause) to stop at full strength.

Measured on tools/bench_turns.py's 164 labelled points (85 pauses inside utterances, 79 real
ends; 150 ms into the silence): the level of the last 200 ms of voice against the loudest 10 ms
of the 1.5 s before was <= -12 dB at 59 % of the ends and 34 % of the pauses, so the fade is a
useful cue. The final pitch change (autocorrelation pitch, 60-400 Hz) was not: a fall of 2
semitones or more at 18 % of the ends and 27 % of the pauses (read speech and Piper's voice fall
at commas too, and questions rise), so pitch is measured (for the benchmark) but not used.
Final lengthening is not measured (it needs syllable timing). About 2-12 ms of numpy a call.
"""

from __future__ import annotations

import numpy as np

from ..frames import STT_RATE
from .base import Cue, Utterance

WIN = 640  # 40 ms
HOP = 160  # 10 ms
F0_MIN, F0_MAX = 60.0, 400.0


def pitch_track(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(f0 Hz per window, 0 where unvoiced; rms per window) for float audio at 16 kHz."""
    if len(x) < WIN:
        return np.zeros(0), np.zeros(0)
    idx = np.arange(WIN)[None, :] + HOP * np.arange((len(x) - WIN) // HOP + 1)[:, None]
    frames = x[idx] * np.hanning(WIN)[None, :]
    frames = frames - frames.mean(axis=1, keepdims=True)
    rms = np.sqrt((frames**2).mean(axis=1))
    spec = np.fft.rfft(frames, n=2 * WIN, axis=1)
    ac = np.fft.irfft(spec.real**2 + spec.imag**2, axis=1)[:, :WIN]
    lo, hi = int(STT_RATE / F0_MAX), int(STT_RATE / F0_MIN)
    norm = ac[:, :1] + 1e-9
    seg = ac[:, lo:hi] / norm
    lag = seg.argmax(axis=1) + lo
    peak = seg.max(axis=1)
    loud = rms > rms.max() * 0.1 if len(rms) else rms > 0
    f0 = np.where((peak > 0.45) & loud, STT_RATE / lag, 0.0)
    return f0, rms


class ProsodyCue(Cue):
    name = "prosody"

    def __init__(self, fade_db: float = -12.0, tail_ms: float = 200) -> None:
        self.fade_db = fade_db
        self.tail_ms = tail_ms

    def measure(self, utt: Utterance, silence_ms: float) -> tuple[float, float] | None:
        """(final pitch change in semitones against the utterance's median, final energy in dB
        against its loudest) over the voice before the silence; None without enough voice."""
        f0, rms = pitch_track(self._voice(utt, silence_ms))
        if len(rms) < 8:
            return None
        tail = int(self.tail_ms / 10)
        energy = 20 * np.log10((rms[-tail:].mean() + 1e-9) / (rms.max() + 1e-9))
        voiced = f0 > 0
        if voiced.sum() < 4:
            return float("nan"), float(energy)
        last = np.flatnonzero(voiced)[-tail:]
        change = 12 * np.log2(float(np.median(f0[last])) / float(np.median(f0[voiced])))
        return float(change), float(energy)

    def fade(self, utt: Utterance, silence_ms: float) -> float | None:
        """The last ``tail_ms`` of voice in dB against the loudest 10 ms of the 1.5 s before."""
        x = self._voice(utt, silence_ms)
        n = len(x) // 160
        if n < 8:
            return None
        rms = np.sqrt((x[: n * 160].reshape(n, 160) ** 2).mean(axis=1))
        tail = int(self.tail_ms / 10)
        return float(20 * np.log10((rms[-tail:].mean() + 1e-9) / (rms.max() + 1e-9)))

    def _voice(self, utt: Utterance, silence_ms: float) -> np.ndarray:
        audio = utt.audio()
        end = len(audio) - int(silence_ms * STT_RATE / 1000)
        return audio[max(0, end - int(1.5 * STT_RATE)) : max(0, end)].astype(np.float64) / 32768.0

    def judge(self, utt: Utterance, silence_ms: float) -> float | None:
        level = self.fade(utt, silence_ms)
        if level is None:
            return None
        return 0.7 if level <= self.fade_db else 0.3
