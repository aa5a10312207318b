"""Reading a conversation's next turn into a language model's cache before the player's last word.

A turn's prompt is the NPC's fixed part (cached at start), the conversation so far, and a last
message: the NPC's view of the world now, the player, recalled memories and the player's words
(:mod:`npc_runtime.dialogue.prompt`). Everything but the player's words can be read before they
are known, and most of them while the player is still speaking: :class:`Prefiller` asks the
provider to read it ahead (:meth:`~npc_runtime.dialogue.base.DialogueProvider.prefill`; only a
provider that implements it, the ``local`` one, costs anything)

- when a conversation starts (while the NPC greets and the player thinks),
- after each reply (while the player reads or listens, and thinks),
- on every interim transcript (the words recognised so far, while the player speaks).

At most one read runs per conversation; requests that arrive meanwhile collapse into the latest,
so a burst of interim transcripts costs one read after the current one.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from ..dialogue.base import DialogueProvider
from ..errors import ProviderError

if TYPE_CHECKING:
    from .app import Runtime
    from .conversations import Conversation

__all__ = ["Prefiller"]

log = logging.getLogger(__name__)


class Prefiller:
    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime
        self._latest: dict[str, tuple[str, str]] = {}  # conversation id -> (npc id, words so far)
        self._running: set[str] = set()
        self._idle = asyncio.Condition()
        self.done = 0  # reads finished (tests, benchmarks)

    def request(self, conv: Conversation, npc_id: str | None = None, text: str = "") -> None:
        """Read ``npc_id``'s next turn in ``conv`` ahead, with the player's words so far."""
        if conv.closed or not self.reads_ahead():
            return
        self._latest[conv.id] = (npc_id or conv.last_speaker or conv.npc_ids[0], text)
        if conv.id not in self._running:
            self._running.add(conv.id)
            self.rt.spawn(self._run(conv))

    def reads_ahead(self) -> bool:
        """Only a provider that overrides ``prefill`` gains anything (the local model): for the
        others the context is not even built."""
        return type(self.rt.provider).prefill is not DialogueProvider.prefill

    def busy(self, conv_id: str) -> bool:
        return conv_id in self._running

    async def wait_idle(self, conv_id: str) -> None:
        """Until no read ahead runs or waits for this conversation (tests, benchmarks)."""
        async with self._idle:
            await self._idle.wait_for(lambda: conv_id not in self._running)

    async def _run(self, conv: Conversation) -> None:
        try:
            while conv.id in self._latest and not conv.closed:
                npc_id, text = self._latest.pop(conv.id)
                persona = self.rt.personas.get(npc_id)
                if persona is None:
                    continue
                ctx = await self.rt.context_for(
                    persona,
                    conv.player_id,
                    text,
                    history=conv.history,
                    others=[n for n in conv.npc_ids if n != npc_id],
                )
                try:
                    await self.rt.provider.prefill(ctx)
                except ProviderError as exc:  # only a head start: the turn reads the context itself
                    log.info("prefill for conversation %s failed: %s", conv.id, exc)
                except Exception:  # a bug in a provider: the turn still runs without the head start
                    log.exception("prefill for conversation %s failed", conv.id)
                self.done += 1
        finally:
            self._running.discard(conv.id)
            async with self._idle:
                self._idle.notify_all()
