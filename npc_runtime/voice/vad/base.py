"""Voice activity detection: a shared model hands out one stateful stream per conversation."""

from __future__ import annotations

import numpy as np

from ..frames import STT_RATE, Int16Array


class VadStream:
    """Consumes 16 kHz s16 audio and returns one speech probability (0..1) per model frame."""

    frame_samples: int = 512

    def __init__(self) -> None:
        self._pending = np.zeros(0, dtype=np.int16)

    @property
    def frame_seconds(self) -> float:
        return self.frame_samples / STT_RATE

    def process(self, samples: Int16Array) -> list[float]:
        buf = np.concatenate([self._pending, samples]) if len(self._pending) else samples
        n = len(buf) // self.frame_samples
        out = [self._frame(buf[i * self.frame_samples : (i + 1) * self.frame_samples]) for i in range(n)]
        self._pending = buf[n * self.frame_samples :].copy()
        return out

    def reset(self) -> None:
        self._pending = np.zeros(0, dtype=np.int16)

    def _frame(self, frame: Int16Array) -> float:
        raise NotImplementedError


class VadModel:
    """Loaded once per process; :meth:`stream` is cheap."""

    name = "vad"

    def stream(self) -> VadStream:
        raise NotImplementedError
