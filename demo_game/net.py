"""The game's link to the runtime: the package's AsyncClient on its own asyncio thread.

The frame loop never waits on the network. It calls fire-and-forget methods (``start_conversation``,
``say``, ...) that schedule coroutines on the link's loop, and once per frame drains :meth:`poll`,
which returns everything the runtime sent since the last frame (streamed NPC text, actions, world
changes, replies) plus :class:`LinkProblem` items for requests that failed.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Coroutine
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from npc_runtime.protocol.messages import (
    ConversationEnd,
    ConversationStart,
    Interrupt,
    Message,
    PlayerText,
    Welcome,
)
from npc_runtime.protocol.messages.conversation import Ambient
from npc_runtime.transport.client import AsyncClient, RuntimeErrorReply

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LinkProblem:
    """A request that failed (the runtime answered ``error``, or it did not answer in time)."""

    what: str
    code: str
    message: str


Inbound = Message | LinkProblem


class NetLink:
    def __init__(self, endpoint: str, *, name: str = "thornbrook-demo") -> None:
        self.endpoint = endpoint
        self.name = name
        self.welcome: Welcome | None = None
        self._inbox: queue.SimpleQueue[Inbound] = queue.SimpleQueue()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="demo-net", daemon=True)
        self._client: AsyncClient | None = None
        self._pump: asyncio.Task[None] | None = None
        self.last_heard = time.monotonic()

    # -- lifecycle (blocking, called once at start-up and shut-down) --------------------------------
    def connect(self, timeout: float = 10.0) -> Welcome:
        self._thread.start()
        self.welcome = self._run(self._connect(timeout)).result(timeout + 5)
        return self.welcome

    async def _connect(self, timeout: float) -> Welcome:
        self._client = AsyncClient(self.endpoint, name=self.name)
        welcome = await self._client.connect(timeout=timeout)
        self._pump = asyncio.create_task(self._forward_events(self._client))
        return welcome

    def close(self) -> None:
        if not self._thread.is_alive():
            return
        try:
            self._run(self._close()).result(5)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)
            self._loop.close()

    async def _close(self) -> None:
        if self._pump is not None:
            self._pump.cancel()
        if self._client is not None:
            await self._client.close()

    # -- per frame -----------------------------------------------------------------------------------
    def poll(self) -> list[Inbound]:
        """Everything received since the last call, in arrival order (never blocks)."""
        out: list[Inbound] = []
        while True:
            try:
                out.append(self._inbox.get_nowait())
            except queue.Empty:
                return out

    # -- fire-and-forget requests --------------------------------------------------------------------
    def start_conversation(self, npc_id: str, *, player_id: str = "player", mode: str = "text") -> None:
        msg = ConversationStart(npc_ids=[npc_id], player_id=player_id, mode=mode, greet=True)
        self.request(msg, what=f"talk to {npc_id}")

    def start_ambient(self, npc_ids: list[str], seed_line: str, turns: int) -> None:
        """NPCs talking among themselves (text), the first opening with ``seed_line``."""
        msg = ConversationStart(
            npc_ids=npc_ids, mode="text", greet=False, ambient=Ambient(seed_line=seed_line, turns=turns)
        )
        self.request(msg, what=f"overhear {' and '.join(npc_ids)}")

    def say(self, conversation_id: str, text: str) -> None:
        self.send(PlayerText(conversation_id=conversation_id, text=text))

    def interrupt(self, conversation_id: str) -> None:
        self.send(Interrupt(conversation_id=conversation_id))

    def end_conversation(self, conversation_id: str) -> None:
        self.send(ConversationEnd(conversation_id=conversation_id))

    def send(self, msg: Message) -> None:
        """Send a message; ids are assigned so an ``error`` about it can be matched."""
        self._run(self._send(msg))

    def request(self, msg: Message, *, what: str, timeout: float = 10.0) -> None:
        """Send a request; its reply (or a LinkProblem) arrives through :meth:`poll`."""
        self._run(self._request(msg, what, timeout))

    # -- on the link's loop ----------------------------------------------------------------------------
    def _run(self, coro: Coroutine[Any, Any, Any]) -> Future[Any]:
        return asyncio.run_coroutine_threadsafe(coro, self._loop)

    async def _send(self, msg: Message) -> None:
        assert self._client is not None, "connect() first"
        if msg.id is None:
            msg.id = self._client.next_id()
        await self._client.send(msg)

    async def _request(self, msg: Message, what: str, timeout: float) -> None:
        assert self._client is not None, "connect() first"
        try:
            reply = await self._client.request(msg, timeout=timeout)
        except RuntimeErrorReply as exc:
            self._inbox.put(LinkProblem(what, exc.code, exc.error.message))
        except TimeoutError:
            self._inbox.put(LinkProblem(what, "timeout", f"the runtime did not answer within {timeout:g}s"))
        else:
            self._inbox.put(reply)

    async def _forward_events(self, client: AsyncClient) -> None:
        while True:
            msg = await client.events.get()
            self.last_heard = time.monotonic()
            self._inbox.put(msg)

    def silent_for(self) -> float:
        """Seconds since the runtime last sent anything (it answers our pings, so a long silence
        means it is gone or stuck)."""
        return time.monotonic() - self.last_heard
