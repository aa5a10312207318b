"""The dialogue-provider interface: one module per provider under ``providers/``.

A provider implements :meth:`DialogueProvider._stream`, yielding text pieces and action
proposals. The base class owns time-outs (to the first piece and in total) and turns every failure
into a :class:`~npc_runtime.errors.ProviderError`, so the conversation can fall back to an
authored line and warn the client.
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from ..errors import ProviderError
from ..personas.schema import Persona
from .context import DialogueContext

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TextPiece:
    text: str


@dataclass(frozen=True)
class ActionProposal:
    name: str
    args: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SourceTag:
    """Said once, first, by providers that know where their line came from."""

    source: Literal["authored", "llm", "fallback"]


DialogueChunk = TextPiece | ActionProposal | SourceTag
ContextFor = Callable[[Persona], Awaitable[DialogueContext]]


DEFAULT_REPLY_BUDGET = 1.5  # seconds from the player's last words to the NPC's first words
FALLBACK_MARGIN = 0.1  # the provider gives up this much before the budget, so the fallback fits in it


class DialogueProvider(ABC):
    """Time limits of every provider, owned here:

    - ``reply_budget``: the NPC's first words (visible text, or an action) must come within this
      many seconds of the turn's start, or the provider gives up (``FALLBACK_MARGIN`` early) and the
      conversation says an authored fallback line. Whatever the server does (stalls before or after
      its headers, sends role-only or empty deltas, trickles), the player waits no longer. None (the
      authored provider, which is the fallback): ``first_chunk_timeout`` to the first words;
    - ``first_chunk_timeout``: once the NPC speaks, the longest pause between two pieces, so a slow
      server that has started may finish its sentence;
    - ``total_timeout``: the whole reply.
    """

    name: ClassVar[str] = "base"

    def __init__(
        self,
        *,
        first_chunk_timeout: float = 10.0,
        total_timeout: float = 60.0,
        reply_budget: float | None = None,
    ) -> None:
        self.first_chunk_timeout = first_chunk_timeout
        self.total_timeout = total_timeout
        self.reply_budget = reply_budget

    async def stream(self, ctx: DialogueContext) -> AsyncIterator[DialogueChunk]:
        """Yield the reply; raises ProviderError on failure or time-out. Cancellation passes through."""
        agen = self._stream(ctx).__aiter__()
        loop = asyncio.get_running_loop()
        start = loop.time()
        deadline = start + self.total_timeout
        budget_s = self.reply_budget if self.reply_budget is not None else self.first_chunk_timeout
        words_by = start + max(budget_s - FALLBACK_MARGIN, 0.05)
        speaking = False  # the NPC said its first words (or proposed an action)
        while True:
            if speaking:
                budget = min(deadline - loop.time(), self.first_chunk_timeout)
            else:
                budget = min(deadline, words_by) - loop.time()
            try:
                # asyncio.timeout, not wait_for: on Python 3.11 wait_for drops a cancellation (a
                # barge-in) that arrives just as the chunk is ready, and runs each step in a new task.
                async with asyncio.timeout(max(budget, 0.001)):
                    chunk = await agen.__anext__()
            except StopAsyncIteration:
                return
            except TimeoutError:
                await _aclose(agen)
                if speaking:
                    what = "the rest of the reply"
                elif self.reply_budget is not None and words_by <= deadline:
                    what = f"its first words within the {self.reply_budget:g} s reply budget"
                else:
                    what = "first reply"
                raise ProviderError(self.name, f"timed out waiting for {what}", timeout=True) from None
            except ProviderError:
                raise
            except asyncio.CancelledError:
                await _aclose(agen)
                raise
            except Exception as exc:
                raise ProviderError(self.name, f"{type(exc).__name__}: {exc}") from exc
            if isinstance(chunk, ActionProposal) or (isinstance(chunk, TextPiece) and chunk.text.strip()):
                speaking = True
            yield chunk

    @abstractmethod
    def _stream(self, ctx: DialogueContext) -> AsyncIterator[DialogueChunk]:
        """Yield text pieces (and action proposals) for one turn."""

    def complete_fn(self) -> Callable[[str], Awaitable[str]] | None:
        """Single-shot completion (``await complete(prompt) -> text``) for providers backed by a
        language model, used e.g. by memory reflection; None for providers without one."""
        return self.complete if type(self)._complete is not DialogueProvider._complete else None

    async def complete(self, prompt: str, *, max_tokens: int = 256) -> str:
        """Single-shot completion of ``prompt`` (no persona, no streaming), within ``total_timeout``.

        Raises ProviderError on failure, on time-out, and when the provider has no language model
        (:meth:`complete_fn` is None).
        """
        if type(self)._complete is DialogueProvider._complete:
            raise ProviderError(self.name, "this provider has no language model for single-shot completion")
        try:
            async with asyncio.timeout(self.total_timeout):
                return await self._complete(prompt, max_tokens)
        except TimeoutError:
            raise ProviderError(self.name, "timed out completing a prompt", timeout=True) from None
        except (ProviderError, asyncio.CancelledError):
            raise
        except Exception as exc:
            raise ProviderError(self.name, f"{type(exc).__name__}: {exc}") from exc

    async def _complete(self, prompt: str, max_tokens: int) -> str:
        """Providers with a language model override this."""
        raise NotImplementedError

    async def prepare(
        self, personas: list[Persona], context: ContextFor | None = None
    ) -> asyncio.Task[None] | None:
        """Before the runtime serves: load models and start warming each NPC's caches (the task
        doing that in the background, if any); ``context(persona)`` gives an NPC's context as a
        conversation with it would start (its view of the world decides which lines and actions
        its prompt shows). Default: nothing to prepare."""
        return None

    async def prefill(self, ctx: DialogueContext) -> None:
        """Read a coming turn's context ahead (e.g. when a conversation starts), so the first reply
        does not pay for it. Default: nothing."""

    async def aclose(self) -> None:
        """Release resources (HTTP clients, models)."""


async def _aclose(agen: Any) -> None:
    close = getattr(agen, "aclose", None)
    if close is not None:
        try:
            await close()
        except Exception as exc:  # already failing; the original error is what the caller needs
            log.debug("closing a failed stream raised too (%s: %s)", type(exc).__name__, exc)
