"""Prosody at the end of the voice: a statement ends on a pitch fall and fading energy, a
mid-sentence pause (a comma, a thinking pause) on a level or rising pitch at full strength.

Pitch by normalised autocorrelation (60-400 Hz) over 40 ms windows every 10 ms of the last
1.5 s of voice; about 1-2 ms of numpy per call. Questions also end on a rise, so a rise is not
read as "unfinished": only a clear fall counts for the end, only level pitch at full energy
against it. Final lengthening is not measured (it needs syllable timing).
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

    def __init__(self, fall_st: float = 2.0, tail_ms: float = 200) -> None:
        self.fall_st = fall_st
        self.tail_ms = tail_ms

    def measure(self, utt: Utterance, silence_ms: float) -> tuple[float, float] | None:
        """(final pitch change in semitones against the utterance's median, final energy in dB
        against its loudest) over the voice before the silence; None without enough voice."""
        audio = utt.audio()
        end = len(audio) - int(silence_ms * STT_RATE / 1000)
        x = audio[max(0, end - int(1.5 * STT_RATE)) : max(0, end)].astype(np.float64) / 32768.0
        f0, rms = pitch_track(x)
        voiced = f0 > 0
        if voiced.sum() < 8:
            return None
        tail = int(self.tail_ms / 10)
        last = np.flatnonzero(voiced)[-tail:]
        ref = float(np.median(f0[voiced]))
        final = float(np.median(f0[last]))
        change = 12 * np.log2(final / ref)
        energy = 20 * np.log10((rms[-tail:].mean() + 1e-9) / (rms.max() + 1e-9))
        return float(change), float(energy)

    def judge(self, utt: Utterance, silence_ms: float) -> float | None:
        m = self.measure(utt, silence_ms)
        if m is None:
            return None
        change, energy = m
        if change <= -self.fall_st:
            return 0.7
        if abs(change) < 1.0 and energy > -6.0:
            return 0.35
        return 0.5
