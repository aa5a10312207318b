"""How far apart two voices sound, from the signal alone (numpy; no model).

A voiceprint is the mean and spread of 13 mel-cepstral coefficients (c1..c13, the spectral
envelope: vocal-tract size, brightness, breathiness) over the voiced frames of a few lines, plus
the median pitch (log2 F0, in octaves). :func:`distance` is the Euclidean distance between two
voiceprints with the cepstral part and the pitch part each weighted to unit-ish scale. It is a
coarse stand-in for a speaker embedding (none ships in a registry package without torch): it
separates voices by pitch, timbre and texture, which is what the village's designed voices differ
in. Compare a distance with the same voice's own run-to-run spread (the benchmark prints both).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from .frames import Int16Array
from .resample import resample

RATE = 16_000
_WIN = 400  # 25 ms
_HOP = 160  # 10 ms
_NFFT = 512
_MELS = 26
_CEPS = 13

F64 = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Voiceprint:
    mfcc_mean: F64
    mfcc_std: F64
    f0_hz: float  # median over voiced frames; 0 when none were found

    def vector(self) -> F64:
        pitch = np.log2(max(self.f0_hz, 40.0) / 100.0) * 8.0  # one octave ~ 8 units
        return np.concatenate([self.mfcc_mean, 0.5 * self.mfcc_std, [pitch]])


def _mel_filters() -> F64:
    def hz_to_mel(f: F64 | float) -> F64:
        return np.asarray(2595.0 * np.log10(1.0 + np.asarray(f) / 700.0), dtype=np.float64)

    mels = np.linspace(hz_to_mel(60.0), hz_to_mel(7600.0), _MELS + 2)
    hz = 700.0 * (10 ** (mels / 2595.0) - 1.0)
    bins = np.fft.rfftfreq(_NFFT, 1.0 / RATE)
    fb = np.zeros((_MELS, len(bins)))
    for i in range(_MELS):
        lo, mid, hi = hz[i], hz[i + 1], hz[i + 2]
        up = (bins - lo) / (mid - lo)
        down = (hi - bins) / (hi - mid)
        fb[i] = np.maximum(0.0, np.minimum(up, down))
    return fb


_FB = _mel_filters()
_N = np.arange(_MELS)
_DCT = np.cos(np.pi / _MELS * (_N[None, :] + 0.5) * np.arange(1, _CEPS + 1)[:, None]) * np.sqrt(2.0 / _MELS)


def _frames(x: F64) -> F64:
    n = 1 + max(0, (len(x) - _WIN) // _HOP)
    idx = np.arange(_WIN)[None, :] + _HOP * np.arange(n)[:, None]
    return x[idx] if len(x) >= _WIN else np.zeros((0, _WIN))


def analyse(samples: Int16Array, rate: int) -> tuple[F64, F64]:
    """(MFCC c1..c13 per voiced frame, F0 in Hz per voiced frame (0 = unvoiced)) for one line."""
    x = resample(samples, rate, RATE).astype(np.float64) / 32768.0
    fr = _frames(x)
    if len(fr) == 0:
        return np.zeros((0, _CEPS)), np.zeros(0)
    energy = np.sqrt(np.mean(fr**2, axis=1))
    voiced = energy > max(float(energy.max()) * 10 ** (-30 / 20), 1e-4)
    fr = fr[voiced]
    windowed = (fr - fr.mean(axis=1, keepdims=True)) * np.hamming(_WIN)
    power = np.abs(np.fft.rfft(windowed, _NFFT)) ** 2
    logmel = np.log(power @ _FB.T + 1e-10)
    ceps = logmel @ _DCT.T
    return ceps, _f0(x)


def _f0(x: F64) -> F64:
    """YIN pitch per 40 ms frame (10 ms hop), 55..450 Hz; 0 where the frame is not periodic.

    The cumulative-mean-normalised difference function is searched for its first dip under 0.2,
    which avoids the octave jumps of a plain autocorrelation peak.
    """
    win = 640
    n = 1 + max(0, (len(x) - win) // _HOP)
    if len(x) < win:
        return np.zeros(0)
    frames = x[np.arange(win)[None, :] + _HOP * np.arange(n)[:, None]]
    energy = np.sqrt(np.mean(frames**2, axis=1))
    frames = frames[energy > max(float(energy.max()) * 10 ** (-30 / 20), 1e-4)]
    half = win // 2
    spec = np.fft.rfft(frames, 2 * win)
    r = np.fft.irfft(np.abs(spec) ** 2)[:, : half + 1]  # r(tau) over the whole frame
    sq = np.concatenate([np.zeros((len(frames), 1)), np.cumsum(frames**2, axis=1)], axis=1)
    taus = np.arange(half + 1)
    head = sq[:, win - taus]  # sum of x_j^2, j < win - tau
    tail = sq[:, win : win + 1] - sq[:, taus]  # sum of x_j^2, j >= tau
    diff = head + tail - 2.0 * r
    cmnd = np.ones_like(diff)
    cum = np.cumsum(diff[:, 1:], axis=1) / np.arange(1, half + 1)
    cmnd[:, 1:] = diff[:, 1:] / np.maximum(cum, 1e-12)
    lo, hi = RATE // 450, RATE // 55
    out = np.zeros(len(frames))
    for i, row in enumerate(cmnd):
        below = np.nonzero(row[lo:hi] < 0.2)[0]
        if len(below) == 0:
            continue
        tau = int(below[0]) + lo
        while tau + 1 < hi and row[tau + 1] < row[tau]:
            tau += 1
        out[i] = RATE / tau
    return out


def voiceprint(lines: Sequence[tuple[Int16Array, int]]) -> Voiceprint:
    """The voiceprint of a voice over several lines of (samples, sample rate)."""
    ceps_all, f0_all = [], []
    for samples, rate in lines:
        ceps, f0 = analyse(samples, rate)
        ceps_all.append(ceps)
        f0_all.append(f0)
    ceps = np.concatenate(ceps_all) if ceps_all else np.zeros((0, _CEPS))
    f0 = np.concatenate(f0_all) if f0_all else np.zeros(0)
    voiced = f0[f0 > 0]
    if len(ceps) == 0:
        return Voiceprint(np.zeros(_CEPS), np.zeros(_CEPS), 0.0)
    return Voiceprint(ceps.mean(axis=0), ceps.std(axis=0), float(np.median(voiced)) if len(voiced) else 0.0)


def distance(a: Voiceprint, b: Voiceprint) -> float:
    return float(np.linalg.norm(a.vector() - b.vector()))
