"""Today's rule: the turn is over after a fixed silence."""

from __future__ import annotations

from .base import TurnPolicy


class SilencePolicy(TurnPolicy):
    name = "silence"

    def __init__(self, end_ms: float = 300) -> None:
        super().__init__()
        self.end_ms = end_ms

    def decide(self, silence_ms: float, t: float) -> str | None:
        return f"silence {self.end_ms:g} ms" if silence_ms >= self.end_ms else None
