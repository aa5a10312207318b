"""The ``local`` provider's prompt caches (a mixin of :class:`~.local.LocalProvider`): each NPC's
fixed prompt read at start (warm-up, from the disk cache when saved before), a turn read ahead
(:meth:`prefill`), and players first: warm-up waits while a player's turn or read-ahead runs, and
a warm-up read in flight gives way to one (it is read again later)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from ...errors import ProviderError
from ...personas.schema import ActionSpec, Persona
from ..base import ContextFor
from ..context import DialogueContext
from .local_engine import EngineBase, LocalSettings

__all__ = ["PromptCaches"]

log = logging.getLogger(__name__)


class PromptCaches:
    settings: LocalSettings
    warmed: set[str]
    warm_gave_way: int
    last_timings: dict[str, Any]
    _pool: ThreadPoolExecutor
    _idle: asyncio.Event  # no player's work runs: warm-up may read the next NPC's prompt
    _players_work: int
    _warm_read: asyncio.Task[None] | None
    _warm_task: asyncio.Task[None] | None

    if TYPE_CHECKING:

        async def load(self) -> EngineBase: ...

        def _slot(self, npc_id: str) -> int: ...

        def request(
            self, ctx: DialogueContext, *, attempt: int = 0, prefix: str = "", ahead: bool = False
        ) -> tuple[dict[str, Any], list[ActionSpec]]: ...

        def _generate(
            self, request: dict[str, Any], ctx: DialogueContext | None = None
        ) -> AsyncGenerator[str, None]: ...

    @contextlib.asynccontextmanager
    async def _for_player(self) -> AsyncIterator[None]:
        """A turn or a player's read-ahead: background work (warm-up, reflection) waits until none
        runs, and a warm-up read in flight is stopped (it is read again later), so the model reads
        the player's NPC alone instead of sharing the CPU with another NPC's prompt."""
        self._players_work += 1
        self._idle.clear()
        if self._warm_read is not None and not self._warm_read.done():
            self._warm_read.cancel()
        try:
            yield
        finally:
            self._players_work -= 1
            if self._players_work == 0:
                self._idle.set()

    async def prefill(self, ctx: DialogueContext) -> None:
        """Read this turn's prompt into the NPC's cache without answering (one token is generated
        and dropped). Call it with the context of a turn about to come, e.g. on interim transcripts;
        it goes before the warm-up of other NPCs."""
        async with self._for_player():
            await self._read(ctx)

    async def _read(self, ctx: DialogueContext) -> None:
        request, _actions = self.request(ctx, ahead=True)
        request = {**request, "max_tokens": 1}
        request.pop("grammar", None)
        async with contextlib.aclosing(self._generate(request)) as deltas:
            async for _ in deltas:
                pass

    async def prepare(self, personas: list[Persona], context: ContextFor | None = None) -> asyncio.Task[None]:
        """At start, before serving: load the model, then :meth:`warm_up` in the background
        (cancelled by :meth:`aclose`). In its own process the model loads without stalling the event
        loop; in the runtime's, loading holds the GIL (2-20 s for the default model), so it must
        happen before the runtime serves anyone. Either way the runtime serves once it is loaded."""
        await self.load()
        if self._warm_task is not None and not self._warm_task.done():
            self._warm_task.cancel()
        self._warm_task = asyncio.create_task(self.warm_up(personas, context), name="llm-warm-up")
        return self._warm_task

    async def warm_up(self, personas: list[Persona], context: ContextFor | None = None) -> None:
        """Read each NPC's fixed prompt prefix (persona, rules, lines) into its slot, one by one,
        from the disk cache when it was saved before; each NPC waits until no turn is running.
        ``context(persona)``: the NPC's context as a conversation would start (which lines and
        actions its view of the world allows); without it, a bare one."""
        if not self.settings.warm_up:
            return
        engine = await self.load()
        loop = asyncio.get_running_loop()
        queue = list(personas)
        while queue:
            persona = queue[0]
            await self._idle.wait()  # players first: the next NPC waits until no player's work runs
            if context is not None:
                ctx = await context(persona)
            else:
                ctx = DialogueContext(persona=persona, player_id="player", player_text="")
            started = time.perf_counter()
            slot = self._slot(persona.id)
            restored = await loop.run_in_executor(self._pool, engine.restore_slot, slot, persona.id)
            self._warm_read = asyncio.create_task(self._read(ctx), name=f"llm-warm-up-{persona.id}")
            try:
                await self._warm_read
            except asyncio.CancelledError:
                current = asyncio.current_task()
                if current is not None and current.cancelling():
                    raise  # the warm-up itself was cancelled (aclose, prepare again)
                self.warm_gave_way += 1
                log.info("warm-up of %s gave way to a player; it goes on later", persona.id)
                continue  # a player's work began: read this NPC again once it is done
            except ProviderError as exc:
                log.warning("could not warm up %s: %s", persona.id, exc)
                return
            finally:
                self._warm_read = None
            queue.pop(0)
            read = int(self.last_timings.get("prompt_n") or 0)
            if read > 1:  # the prefix changed (or was never saved): keep the new one for next time
                await loop.run_in_executor(self._pool, engine.save_slot, slot, persona.id)
            self.warmed.add(persona.id)
            log.info(
                "warmed up %s in %.1f s (%d tokens from disk, %d read)",
                persona.id,
                time.perf_counter() - started,
                restored,
                read,
            )
