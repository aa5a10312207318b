"""The dialogue-provider interface: one module per provider under ``providers/``.

A provider implements :meth:`DialogueProvider._stream`, yielding text pieces and action
proposals. The base class owns time-outs (to the first piece and in total) and turns every failure
into a :class:`~npc_runtime.errors.ProviderError`, so the conversation can fall back to an
authored line and warn the client.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from ..errors import ProviderError
from ..personas.schema import Persona
from .context import DialogueContext


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


class DialogueProvider(ABC):
    name: ClassVar[str] = "base"

    def __init__(self, *, first_chunk_timeout: float = 10.0, total_timeout: float = 60.0) -> None:
        self.first_chunk_timeout = first_chunk_timeout
        self.total_timeout = total_timeout

    async def stream(self, ctx: DialogueContext) -> AsyncIterator[DialogueChunk]:
        """Yield the reply; raises ProviderError on failure or time-out. Cancellation passes through."""
        agen = self._stream(ctx).__aiter__()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.total_timeout
        first = True
        while True:
            budget = deadline - loop.time()
            if first:
                budget = min(budget, self.first_chunk_timeout)
            try:
                # asyncio.timeout, not wait_for: on Python 3.11 wait_for drops a cancellation (a
                # barge-in) that arrives just as the chunk is ready, and runs each step in a new task.
                async with asyncio.timeout(max(budget, 0.001)):
                    chunk = await agen.__anext__()
            except StopAsyncIteration:
                return
            except TimeoutError:
                await _aclose(agen)
                what = "first reply" if first else "the rest of the reply"
                raise ProviderError(self.name, f"timed out waiting for {what}", timeout=True) from None
            except ProviderError:
                raise
            except asyncio.CancelledError:
                await _aclose(agen)
                raise
            except Exception as exc:
                raise ProviderError(self.name, f"{type(exc).__name__}: {exc}") from exc
            first = False
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

    async def prepare(self, personas: list[Persona]) -> asyncio.Task[None] | None:
        """Before the runtime serves: load models and start warming each NPC's caches (the task
        doing that in the background, if any). Default: nothing to prepare."""
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
        except Exception:  # already failing; the original error is what the caller needs
            return
