"""Audio on the hot path: plain dataclasses and numpy helpers, no pydantic.

All audio inside the runtime is PCM signed 16-bit little-endian mono (``s16le``). Frames carry
their sample rate; :mod:`.resample` converts between rates.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

SAMPLE_WIDTH = 2  # bytes per sample, s16le
STT_RATE = 16_000  # what the VADs and pocketsphinx consume

Int16Array = npt.NDArray[np.int16]
FloatArray = npt.NDArray[np.float32]


@dataclass(slots=True)
class AudioFrame:
    """A run of mono s16le samples at ``sample_rate``; ``t`` is its start in seconds (stream time)."""

    samples: Int16Array
    sample_rate: int
    t: float = 0.0

    @classmethod
    def from_bytes(cls, pcm: bytes, sample_rate: int, t: float = 0.0) -> AudioFrame:
        if len(pcm) % SAMPLE_WIDTH:
            raise ValueError(f"PCM s16le needs an even number of bytes, got {len(pcm)}")
        return cls(np.frombuffer(pcm, dtype="<i2").astype(np.int16), sample_rate, t)

    @property
    def duration(self) -> float:
        return len(self.samples) / self.sample_rate

    def to_bytes(self) -> bytes:
        return self.samples.astype("<i2").tobytes()

    def to_float(self) -> FloatArray:
        return (self.samples.astype(np.float32) / 32768.0).astype(np.float32)


@dataclass(slots=True)
class SynthChunk:
    """One piece of synthesized speech with what it says and how the mouth moves.

    ``phonemes`` are (start seconds within the chunk, phoneme) pairs when the TTS knows them.
    """

    audio: AudioFrame
    text: str
    phonemes: list[tuple[float, str]] = field(default_factory=list)


def float_to_int16(audio: npt.NDArray[np.floating]) -> Int16Array:
    clipped = np.clip(audio, -1.0, 1.0)
    return (clipped * 32767.0).astype(np.int16)


def rms_dbfs(samples: Int16Array) -> float:
    """Loudness of a block in dB relative to full scale (-120 for digital silence)."""
    if len(samples) == 0:
        return -120.0
    rms = float(np.sqrt(np.mean((samples.astype(np.float64) / 32768.0) ** 2)))
    return 20.0 * float(np.log10(max(rms, 1e-6)))
