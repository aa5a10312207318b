"""A stand-in dialogue provider for measuring coordination, not for players.

``tools/bench_cluster.py`` runs workers with it to measure what the cluster itself costs (routing,
the shared database, the world log) apart from the CPU the real models need: a turn sleeps for the
stage time measured with the real providers (``seconds``: the language model's reply and the voice
synthesis of it), then answers one fixed line. Sleeping costs no CPU, so on a 2-core machine four
workers with stand-ins show how the coordination scales, which the real models' CPU would hide.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, ClassVar

from ...errors import ConfigError
from ..base import DialogueChunk, DialogueProvider, TextPiece
from ..context import DialogueContext

DEFAULT_LINE = "Aye, I hear you. The road north is quiet these days."


class StandInProvider(DialogueProvider):
    name: ClassVar[str] = "stand_in"

    def __init__(self, seconds: float, line: str = DEFAULT_LINE) -> None:
        super().__init__(first_chunk_timeout=seconds + 10.0, total_timeout=seconds + 60.0)
        self.seconds, self.line = seconds, line

    @classmethod
    def from_settings(cls, d: dict[str, Any]) -> StandInProvider:
        seconds = d.get("stand_in_seconds", 0.5)
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not 0 <= seconds <= 60:
            raise ConfigError("dialogue.stand_in_seconds must be a number of seconds from 0 to 60")
        return cls(float(seconds), str(d.get("stand_in_line", DEFAULT_LINE)))

    async def _stream(self, ctx: DialogueContext) -> AsyncIterator[DialogueChunk]:
        await asyncio.sleep(self.seconds)  # the measured stage time, without its CPU
        yield TextPiece(self.line)
