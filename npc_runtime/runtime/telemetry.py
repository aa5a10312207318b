"""The host's side of the Prometheus metrics: the text turn stages, timed by a turn sink.

The rest is counted where it happens in the host (clients, conversations) and from the messages
it sends (:meth:`~npc_runtime.observability.Metrics.sent`: errors, warnings, provider fallbacks
and the voice stages of ``turn_metrics``).
"""

from __future__ import annotations

from ..clock import Clock
from ..host import TurnSink
from ..observability import Metrics


class TurnTimer(TurnSink):
    """Times one conversation's turns from their start (the NPC's context is built) to the first
    piece of text (``first_text``) and to the end of the streamed reply (``text_reply``)."""

    def __init__(self, metrics: Metrics, clock: Clock, mode: str) -> None:
        self._metrics = metrics
        self._clock = clock
        self._mode = mode
        self._started: dict[int, float] = {}
        self._first_seen: set[int] = set()

    async def on_start(self, turn_id: int, npc_id: str) -> None:
        self._started[turn_id] = self._clock.monotonic()

    async def on_text(self, turn_id: int, npc_id: str, text: str) -> None:
        start = self._started.get(turn_id)
        if start is not None and turn_id not in self._first_seen:
            self._first_seen.add(turn_id)
            self._metrics.turn_stage("first_text", self._clock.monotonic() - start, mode=self._mode)

    async def on_end(self, turn_id: int, npc_id: str, full_text: str, interrupted: bool) -> str | None:
        start = self._started.pop(turn_id, None)
        self._first_seen.discard(turn_id)
        if start is not None and not interrupted:
            self._metrics.turn_stage("text_reply", self._clock.monotonic() - start, mode=self._mode)
        return None
