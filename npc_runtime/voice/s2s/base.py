"""The speech-to-speech interface: one session per voice conversation, one module per provider.

A session holds a live link to a model that hears the player's audio and answers in audio. The
runtime appends the player's utterance as it is spoken (:meth:`S2sSession.append`), and at the
end of the turn asks for a reply (:meth:`S2sSession.reply`) with the turn's instructions and
tools. The base class owns what every provider needs the same way: connecting (within the turn's
budget), the time-outs (to the first audio, and in total), turning every failure into a
:class:`~npc_runtime.errors.ProviderError` (the turn then falls back to the cascade), dropping a
link that failed so the next turn reconnects, and the counters. A provider implements
:meth:`S2sSession._reply` (the protocol of one reply) plus the small link methods below it.
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ...errors import ProviderError

log = logging.getLogger(__name__)

S2S_RATE = 24_000  # the sample rate of the audio exchanged with the model (s16le mono)


# -- what a reply is made of ---------------------------------------------------------------------------
@dataclass(frozen=True)
class ReplyAudio:
    """A piece of the NPC's voice (s16le mono at :data:`S2S_RATE`)."""

    pcm: bytes
    item_id: str


@dataclass(frozen=True)
class ReplyText:
    """A piece of the transcript of the NPC's voice."""

    text: str
    item_id: str


@dataclass(frozen=True)
class ReplyCall:
    """The model calls one of the turn's tools (an action the runtime still has to check)."""

    name: str
    arguments: str  # JSON text, as the model wrote it
    call_id: str


@dataclass(frozen=True)
class PlayerTranscript:
    """The server's own transcript of the player's utterance."""

    text: str


S2sEvent = ReplyAudio | ReplyText | ReplyCall | PlayerTranscript


@dataclass(frozen=True)
class S2sRequest:
    """What one reply needs: who the NPC is and what it knows now, and what it may do."""

    instructions: str
    tools: list[dict[str, Any]] = field(default_factory=list)  # flat realtime function tools
    history: list[tuple[str, str]] = field(default_factory=list)  # (user|assistant, text), oldest first


class S2sSession(ABC):
    """One conversation's link to a speech-to-speech model."""

    name: ClassVar[str] = "s2s"

    def __init__(self, *, connect_timeout: float = 3.0, total_timeout: float = 30.0) -> None:
        self.connect_timeout = connect_timeout
        self.total_timeout = total_timeout
        self.connected = False
        self.closed = False  # closed for good (the conversation ended)
        self.fresh = True  # no reply yet on this link (the server knows nothing of the conversation)
        self.stats = {"replies": 0, "completed": 0, "timeouts": 0, "failures": 0, "connects": 0}
        # One link at a time: a turn that needs the link while the warm-up is still opening it
        # waits for that link instead of opening a second one (which nothing would close).
        self._connecting = asyncio.Lock()

    # -- the runtime's side ----------------------------------------------------------------------------
    async def connect(self, timeout: float | None = None) -> None:
        """Open the link (a no-op when open); ProviderError when it cannot be opened in time.

        Callers at the same time share one link: the later ones wait (within their own budget)
        for the first one's."""
        if self.connected:
            return
        if self.closed:
            raise ProviderError(self.name, "the session is closed")
        budget = self.connect_timeout if timeout is None else min(timeout, self.connect_timeout)
        opening = False  # this call is the one opening the link (and drops it if that fails)
        try:
            async with asyncio.timeout(max(budget, 0.001)):
                async with self._connecting:
                    if self.connected:  # another caller opened it meanwhile
                        return
                    if self.closed:
                        raise ProviderError(self.name, "the session is closed")
                    opening = True
                    await self._connect()
                    if not self.closed:
                        self.connected = True
                        self.fresh = True
                        self.stats["connects"] += 1
                        return
        except TimeoutError:
            if opening:
                await self._drop()
            raise ProviderError(self.name, f"could not connect within {budget:.1f} s", timeout=True) from None
        except ProviderError:
            if opening:
                await self._drop()
            raise
        except Exception as exc:
            if opening:
                await self._drop()
            raise ProviderError(self.name, f"could not connect: {type(exc).__name__}: {exc}") from exc
        await self._drop()  # the conversation ended while connecting
        raise ProviderError(self.name, "the session is closed")

    def append(self, pcm: bytes) -> None:
        """Add player audio (s16le mono at :data:`S2S_RATE`) to the utterance being heard."""
        if self.connected:
            self._append(pcm)

    def clear(self) -> None:
        """Forget the utterance being heard (it will not be answered)."""
        if self.connected:
            self._clear()

    def commit(self) -> None:
        """The utterance is over: the server adds it to the conversation (answered by :meth:`reply`)."""
        if self.connected:
            self._commit()

    async def reply(self, request: S2sRequest, first_audio_within: float) -> AsyncIterator[S2sEvent]:
        """Answer the utterances committed since the last reply.

        Raises ProviderError (``timeout`` set) when no audio has come ``first_audio_within``
        seconds from now (the link is then dropped: the next turn reconnects), or when the
        link fails. Cancelling the iteration (a barge-in) cancels the reply on the server.
        """
        loop = asyncio.get_running_loop()
        start = loop.time()
        first_deadline = start + first_audio_within
        deadline = start + self.total_timeout
        self.stats["replies"] += 1
        if not self.connected:
            await self.connect(first_deadline - loop.time())
        agen = self._reply(request).__aiter__()
        heard_audio = False
        done = timed_out = False
        try:
            while True:
                budget = (deadline if heard_audio else min(deadline, first_deadline)) - loop.time()
                try:
                    async with asyncio.timeout(max(budget, 0.001)):
                        event = await agen.__anext__()
                except StopAsyncIteration:
                    done = True
                    self.stats["completed"] += 1
                    return
                except TimeoutError:
                    self.stats["timeouts"] += 1
                    timed_out = True
                    what = "no audio" if not heard_audio else "the reply did not finish"
                    limit = first_audio_within if not heard_audio else self.total_timeout
                    raise ProviderError(self.name, f"{what} within {limit:.1f} s", timeout=True) from None
                except ProviderError:
                    self.stats["failures"] += 1
                    raise
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    self.stats["failures"] += 1
                    raise ProviderError(self.name, f"{type(exc).__name__}: {exc}") from exc
                if isinstance(event, ReplyAudio):
                    heard_audio = True
                yield event
        finally:
            self.fresh = False
            await _aclose(agen)
            if not done:
                # Cut short (a barge-in, a time-out, a failure): stop the server's reply. A link
                # that failed or was too slow is dropped; the next turn opens a new one.
                usable = self.connected and await self._cancel_reply() and not timed_out
                if not usable:
                    await self._drop()

    async def truncate(self, item_id: str, audio_end_ms: int) -> None:
        """Tell the model the player heard only the first ``audio_end_ms`` of its reply."""
        if self.connected:
            try:
                await self._truncate(item_id, max(0, audio_end_ms))
            except Exception as exc:
                log.warning("%s: could not truncate the reply: %s", self.name, exc)
                await self._drop()

    async def close(self) -> None:
        self.closed = True
        await self._drop()

    async def _drop(self) -> None:
        self.connected = False
        try:
            await self._close()
        except Exception as exc:  # closing a broken link: nothing more to do
            log.debug("%s: close failed: %s", self.name, exc)

    # -- the provider's side ---------------------------------------------------------------------------
    @abstractmethod
    def _reply(self, request: S2sRequest) -> AsyncIterator[S2sEvent]:
        """Configure the turn, ask for a reply and yield it until it is done."""

    @abstractmethod
    async def _connect(self) -> None:
        """Open the link and configure the session (audio formats, voice, no server VAD)."""

    @abstractmethod
    def _append(self, pcm: bytes) -> None:
        """Queue player audio for the server (must not block)."""

    @abstractmethod
    def _clear(self) -> None:
        """Queue the clearing of the server's input buffer."""

    @abstractmethod
    def _commit(self) -> None:
        """Queue the commit of the server's input buffer."""

    @abstractmethod
    async def _cancel_reply(self) -> bool:
        """Cancel the reply in flight; False when the link is not usable any more."""

    @abstractmethod
    async def _truncate(self, item_id: str, audio_end_ms: int) -> None: ...

    @abstractmethod
    async def _close(self) -> None: ...


async def _aclose(agen: Any) -> None:
    close = getattr(agen, "aclose", None)
    if close is not None:
        try:
            await close()
        except Exception as exc:  # already failing; the original error is what the caller needs
            log.debug("closing a failed stream raised too (%s: %s)", type(exc).__name__, exc)
