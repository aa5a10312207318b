"""What a Whisper model needs around it, in numpy and the standard library: log-mel features and
the byte-level BPE tokenizer (read from the model's ``tokenizer.json``).

Written here instead of pulling in faster-whisper (which brings PyAV/FFmpeg and Hugging Face
Hub) or ``tokenizers``: both are small, and the features match faster-whisper's extractor to
float precision (checked when this was written).
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path

import numpy as np

from ..frames import STT_RATE

N_FFT = 400
HOP = 160
N_MELS = 80


@functools.cache
def mel_filters(sr: int = STT_RATE, n_fft: int = N_FFT, n_mels: int = N_MELS) -> np.ndarray:
    """Slaney-style mel filterbank (as librosa's default, which Whisper was trained with)."""
    fft_freqs = np.fft.rfftfreq(n=n_fft, d=1.0 / sr)
    f_sp = 200.0 / 3  # Hz per mel below 1 kHz (linear part)
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0

    def hz_to_mel(f: float) -> float:
        return f / f_sp if f < min_log_hz else min_log_mel + float(np.log(f / min_log_hz)) / logstep

    mels = np.linspace(0.0, hz_to_mel(sr / 2), n_mels + 2)
    freqs = f_sp * mels
    log_part = mels >= min_log_mel
    freqs[log_part] = min_log_hz * np.exp(logstep * (mels[log_part] - min_log_mel))
    fdiff = np.diff(freqs)
    ramps = freqs[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    weights *= (2.0 / (freqs[2 : n_mels + 2] - freqs[:n_mels]))[:, None]
    return weights.astype(np.float32)


@functools.cache
def _hann(n: int = N_FFT) -> np.ndarray:
    return (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n) / n)).astype(np.float32)  # periodic


def log_mel(audio: np.ndarray, frames: int) -> np.ndarray:
    """Whisper's input: ``(80, frames)`` float32 log-mel of float audio in [-1, 1] at 16 kHz,
    zero-padded (or cut) to ``frames`` x 10 ms. Only the frames that overlap audio go through the
    FFT: the padding's frames are silence, whose value is known (the floor, max - 8)."""
    n = frames * HOP
    live = min(frames, (min(n, len(audio)) + N_FFT) // HOP + 1)  # frames that touch audio
    pad = N_FFT // 2
    x = np.zeros(live * HOP + N_FFT, dtype=np.float32)
    x[pad : pad + min(n, len(audio))] = audio[:n]
    if live >= frames:  # no silent tail left: Whisper's reflect padding at the end
        body = x[pad : pad + n]
        x = np.pad(body, (pad, pad), mode="reflect")
    else:
        x[:pad] = x[2 * pad : pad : -1]  # reflect at the start (as Whisper's centred STFT)
    idx = np.arange(N_FFT)[None, :] + HOP * np.arange(live)[:, None]
    spec = np.fft.rfft(x[idx] * _hann()[None, :], axis=1)
    power = (spec.real**2 + spec.imag**2).astype(np.float32)
    mel = np.full((N_MELS, frames), 1e-10, dtype=np.float32)
    mel[:, :live] = mel_filters() @ power.T
    logm = np.log10(np.maximum(mel, 1e-10))
    logm = np.maximum(logm, logm.max() - 8.0)
    return ((logm + 4.0) / 4.0).astype(np.float32)


@functools.cache
def _byte_to_unicode() -> dict[int, str]:
    """GPT-2's reversible map from bytes to printable characters."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    chars = keep[:]
    extra = 0
    for b in range(256):
        if b not in keep:
            keep.append(b)
            chars.append(256 + extra)
            extra += 1
    return {b: chr(c) for b, c in zip(keep, chars, strict=True)}


# GPT-2's pre-tokenizer; \p{L} and \p{N} written with the standard library's classes.
_PRE = re.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?[^\W\d_]+| ?\d+| ?(?:[^\s\w]|_)+|\s+(?!\S)|\s+""")


class BpeTokenizer:
    """Byte-level BPE as in Whisper's ``tokenizer.json`` (encode for prompts, decode for output)."""

    def __init__(self, path: Path) -> None:
        data = json.loads(path.read_text(encoding="utf-8"))
        model = data["model"]
        self.vocab: dict[str, int] = dict(model["vocab"])
        for tok in data.get("added_tokens", []):
            self.vocab[tok["content"]] = int(tok["id"])
        self.id_to_token = {i: t for t, i in self.vocab.items()}
        merges = [tuple(m.split(" ", 1)) if isinstance(m, str) else tuple(m) for m in model["merges"]]
        self.ranks: dict[tuple[str, str], int] = {(a, b): i for i, (a, b) in enumerate(merges)}
        self.special = {t["content"] for t in data.get("added_tokens", []) if t.get("special")}
        self._b2u = _byte_to_unicode()
        self._u2b = {c: b for b, c in self._b2u.items()}
        self._cache: dict[str, list[str]] = {}

    def token_id(self, token: str) -> int:
        return self.vocab[token]

    def _bpe(self, word: str) -> list[str]:
        cached = self._cache.get(word)
        if cached is not None:
            return cached
        parts = list(word)
        while len(parts) > 1:
            best: tuple[int, int] | None = None
            for i in range(len(parts) - 1):
                rank = self.ranks.get((parts[i], parts[i + 1]))
                if rank is not None and (best is None or rank < best[0]):
                    best = (rank, i)
            if best is None:
                break
            i = best[1]
            parts[i : i + 2] = [parts[i] + parts[i + 1]]
        if len(self._cache) < 50_000:
            self._cache[word] = parts
        return parts

    def encode(self, text: str) -> list[int]:
        ids: list[int] = []
        for piece in _PRE.findall(text):
            mapped = "".join(self._b2u[b] for b in piece.encode("utf-8"))
            ids.extend(self.vocab[t] for t in self._bpe(mapped) if t in self.vocab)
        return ids

    def decode(self, ids: list[int]) -> str:
        out = bytearray()
        for i in ids:
            tok = self.id_to_token.get(i)
            if tok is None or tok in self.special:
                continue
            out.extend(self._u2b.get(c, 0x3F) for c in tok)
        return out.decode("utf-8", errors="replace")
