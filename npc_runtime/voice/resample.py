"""Sample-rate conversion with soxr (streaming, so chunk boundaries leave no clicks)."""

from __future__ import annotations

import numpy as np

from ..errors import MissingDependencyError
from .frames import Int16Array

try:
    import soxr
except ImportError as exc:  # pragma: no cover - exercised only without the package
    raise MissingDependencyError("soxr", "voice") from exc


class StreamResampler:
    """Converts one stream of s16 mono from ``in_rate`` to ``out_rate`` chunk by chunk."""

    def __init__(self, in_rate: int, out_rate: int, quality: str = "HQ") -> None:
        self.in_rate = in_rate
        self.out_rate = out_rate
        self._stream = (
            None
            if in_rate == out_rate
            else soxr.ResampleStream(in_rate, out_rate, 1, dtype="int16", quality=quality)
        )

    def process(self, samples: Int16Array, last: bool = False) -> Int16Array:
        if self._stream is None:
            return samples
        out = self._stream.resample_chunk(samples, last=last)
        return np.asarray(out, dtype=np.int16)


def resample(samples: Int16Array, in_rate: int, out_rate: int) -> Int16Array:
    """Convert a whole buffer at once."""
    if in_rate == out_rate:
        return samples
    return np.asarray(soxr.resample(samples, in_rate, out_rate), dtype=np.int16)
