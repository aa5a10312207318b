"""Speech to text: a provider loaded once per process, one stream per utterance.

A stream is fed 16 kHz s16 audio while the player talks (``feed`` may return an interim
transcript) and finished at the end of the turn. Both block (they run a model): callers use
a thread (voice's pool, :mod:`..threads`). Capabilities are declared, not discovered by type checks.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ..frames import Int16Array


@dataclass(frozen=True)
class SttCaps:
    streaming: bool  # decodes while audio arrives (little left to do at the end of speech)
    interim: bool  # gives interim transcripts
    offline: bool


class SttStream:
    # False: ``feed`` only buffers and measures (microseconds), so callers may run it inline
    # instead of paying a thread hand-off per 32 ms frame; ``finish`` may block either way.
    blocking_feed = True

    def feed(self, samples: Int16Array) -> str | None:
        """Add audio; return a new interim transcript, or None when there is nothing new."""
        raise NotImplementedError

    def finish(self) -> str:
        """End the utterance and return its final transcript ('' when nothing was recognised)."""
        raise NotImplementedError

    def cancel(self) -> None:
        """Drop the utterance (the stream is not used again)."""
        return None


class SttProvider:
    name = "stt"
    caps = SttCaps(streaming=False, interim=False, offline=True)

    def stream(self) -> SttStream:
        raise NotImplementedError

    def set_vocabulary(self, words: Iterable[str]) -> None:
        """Bias recognition toward these scene words (names of characters, places, items)."""
        return None

    def set_phrases(self, phrases: Iterable[str]) -> None:
        """Bias recognition toward word pairs of the scene's own lines (topic phrasings)."""
        return None

    def counters(self) -> dict[str, float]:
        """Running totals for diagnostics (decodes, waits), by name; {} when it keeps none."""
        return {}

    def transcribe(self, samples: Int16Array) -> str:
        """A whole utterance at once (16 kHz)."""
        stream = self.stream()
        stream.feed(samples)
        return stream.finish()
