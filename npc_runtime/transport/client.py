"""The Python client: one asyncio implementation (:class:`AsyncClient`) and a synchronous front
(:class:`Client`) that drives it on a private event-loop thread, so the logic is written once.

Incoming messages that answer a request (``ref`` equals a pending request's ``id``) resolve that
request; everything else (streamed NPC text, actions, world changes, notices) lands in an event
queue read with :meth:`AsyncClient.next_event`. A background task pings the runtime at the
interval the ``welcome`` asked for.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import threading
from collections import deque
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import zmq
import zmq.asyncio

from ..errors import NpcRuntimeError
from ..protocol import codec
from ..protocol.errors import ProtocolError
from ..protocol.messages import (
    Bye,
    ConversationEnd,
    ConversationStart,
    ConversationStarted,
    Error,
    Hello,
    Message,
    NpcTextDelta,
    NpcTextFinal,
    Ping,
    PlayerText,
    Welcome,
)

T = TypeVar("T")
log = logging.getLogger(__name__)
DEFAULT_ENDPOINT = "tcp://127.0.0.1:7600"


class RuntimeErrorReply(NpcRuntimeError):
    """The runtime answered a request with an ``error`` message."""

    def __init__(self, error: Error) -> None:
        self.error = error
        self.code = error.code
        super().__init__(f"{error.code}: {error.message}")


class AsyncClient:
    def __init__(
        self,
        endpoint: str = DEFAULT_ENDPOINT,
        *,
        name: str = "python-client",
        ctx: zmq.asyncio.Context | None = None,
        server_key: bytes | None = None,
        client_cert: str | None = None,
    ) -> None:
        """``server_key``: the runtime's CURVE public key (Z85) when it runs with CURVE;
        ``client_cert``: this client's ``.key_secret`` certificate file (else an ephemeral key pair)."""
        self.endpoint = endpoint
        self.name = name
        self._own_ctx = ctx is None
        self._ctx = ctx or zmq.asyncio.Context()
        self._sock = self._ctx.socket(zmq.DEALER)
        self._sock.setsockopt(zmq.LINGER, 0)
        if server_key is not None:
            if client_cert is not None:
                from zmq.auth.certs import load_certificate

                public, secret = load_certificate(client_cert)
                if secret is None:
                    raise ValueError(f"{client_cert} holds no secret key; use the .key_secret file")
            else:
                public, secret = zmq.curve_keypair()
            self._sock.curve_serverkey = server_key
            self._sock.curve_publickey = public
            self._sock.curve_secretkey = secret
        self._ids = itertools.count(1)
        self._pending: dict[int | str, asyncio.Future[Message]] = {}
        self.events: asyncio.Queue[Message] = asyncio.Queue()
        self._backlog: deque[Message] = deque(maxlen=10_000)  # events passed over by a filtered wait
        self._tasks: list[asyncio.Task[None]] = []
        self.welcome: Welcome | None = None
        self.closed = False

    async def connect(self, timeout: float = 10.0, protocol: int = codec.PROTOCOL_VERSION) -> Welcome:
        self._sock.connect(self.endpoint)
        self._tasks.append(asyncio.create_task(self._reader()))
        reply = await self.request(Hello(protocol=protocol, client=self.name), timeout=timeout)
        assert isinstance(reply, Welcome)
        self.welcome = reply
        self._tasks.append(asyncio.create_task(self._heartbeat(reply.heartbeat_interval)))
        return reply

    async def __aenter__(self) -> AsyncClient:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- sending ----------------------------------------------------------------------------------
    def next_id(self) -> int:
        return next(self._ids)

    async def send(self, msg: Message) -> None:
        await self._sock.send(codec.encode(msg))

    async def send_raw(self, data: bytes) -> None:
        """Send bytes as they are (tests of bad input use this)."""
        await self._sock.send(data)

    async def request(self, msg: Message, timeout: float = 10.0) -> Message:
        """Send ``msg`` with a fresh id and wait for the reply that echoes it (``ref``)."""
        if msg.id is None:
            msg.id = self.next_id()
        fut: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self._pending[msg.id] = fut
        try:
            await self.send(msg)
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for returns the reply when the
            # caller is cancelled as it arrives, and the caller's cancellation is lost.
            async with asyncio.timeout(timeout):
                reply = await fut
        finally:
            self._pending.pop(msg.id, None)
        if isinstance(reply, Error):
            raise RuntimeErrorReply(reply)
        return reply

    # -- receiving ---------------------------------------------------------------------------------
    async def next_event(
        self,
        timeout: float = 10.0,
        types: tuple[str, ...] | None = None,
        where: Callable[[Message], bool] | None = None,
    ) -> Message:
        """The next event (not a request's reply) matching ``types``/``where``.

        Events that do not match are kept, in order, for later calls: nothing is lost by waiting
        for something else.
        """

        def matches(msg: Message) -> bool:
            return (types is None or msg.type in types) and (where is None or where(msg))

        for i, msg in enumerate(self._backlog):
            if matches(msg):
                del self._backlog[i]
                return msg
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"no {types or 'event'} within {timeout}s")
            try:
                async with asyncio.timeout(remaining):  # not wait_for: see request()
                    msg = await self.events.get()
            except TimeoutError:
                raise TimeoutError(f"no {types or 'event'} within {timeout}s") from None
            if matches(msg):
                return msg
            self._backlog.append(msg)

    async def _reader(self) -> None:
        while True:
            data = await self._sock.recv()
            try:
                msg = codec.decode_server(data)
            except ProtocolError as exc:  # e.g. a newer runtime's message we do not know: skip it
                log.warning("skipped a message from the runtime that this client cannot read: %s", exc)
                continue
            ref = getattr(msg, "ref", None)
            fut = self._pending.get(ref) if ref is not None else None
            if fut is not None and not fut.done() and msg.type not in ("npc_text_final", "npc_text_delta"):
                fut.set_result(msg)
            else:
                self.events.put_nowait(msg)

    async def _heartbeat(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            await self.send(Ping())

    # -- conversations -----------------------------------------------------------------------------
    async def start_conversation(
        self, npc_ids: str | list[str], *, player_id: str = "player", mode: str = "text", greet: bool = True
    ) -> ConversationStarted:
        ids = [npc_ids] if isinstance(npc_ids, str) else list(npc_ids)
        reply = await self.request(
            ConversationStart(npc_ids=ids, player_id=player_id, mode=mode, greet=greet)
        )
        assert isinstance(reply, ConversationStarted)
        return reply

    async def say(
        self,
        conversation_id: str,
        text: str,
        *,
        to: str | None = None,
        timeout: float = 30.0,
        on_delta: Callable[[str], None] | None = None,
    ) -> NpcTextFinal:
        """Send a player line and return the NPC's final line (deltas go to ``on_delta``)."""
        msg = PlayerText(conversation_id=conversation_id, text=text, to=to, id=self.next_id())
        await self.send(msg)
        return await self.wait_final(conversation_id, ref=msg.id, timeout=timeout, on_delta=on_delta)

    async def wait_final(
        self,
        conversation_id: str,
        *,
        ref: Any = None,
        timeout: float = 30.0,
        on_delta: Callable[[str], None] | None = None,
    ) -> NpcTextFinal:
        """Wait for the conversation's next ``npc_text_final`` (with ``ref``: the one answering it).

        Deltas of the conversation are consumed (and passed to ``on_delta``); an ``error`` answering ``ref``
        raises :class:`RuntimeErrorReply`; every other event stays queued for :meth:`next_event`.
        """

        def mine(msg: Message) -> bool:
            if isinstance(msg, Error):
                return ref is not None and msg.ref == ref
            if getattr(msg, "conversation_id", None) != conversation_id:
                return False
            if msg.type == "npc_text_delta":
                return True  # the turn's pieces are consumed with it
            return isinstance(msg, NpcTextFinal) and (ref is None or msg.ref == ref)

        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            msg = await self.next_event(timeout=max(deadline - loop.time(), 0.001), where=mine)
            if isinstance(msg, Error):
                raise RuntimeErrorReply(msg)
            if isinstance(msg, NpcTextFinal):
                return msg
            if on_delta is not None and isinstance(msg, NpcTextDelta):
                on_delta(msg.text)

    async def end_conversation(self, conversation_id: str) -> None:
        await self.send(ConversationEnd(conversation_id=conversation_id, id=self.next_id()))

    async def abort(self) -> None:
        """Drop the connection without a ``bye``, as a crashed game would (tests use this)."""
        self.welcome = None
        await self.close()

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.welcome is not None:
            with contextlib.suppress(zmq.ZMQError):
                await self.send(Bye())
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._sock.close(linger=0)
        if self._own_ctx:
            self._ctx.term()


class Client:
    """Synchronous front: the same :class:`AsyncClient`, run on a private event-loop thread."""

    def __init__(
        self, endpoint: str = DEFAULT_ENDPOINT, *, name: str = "python-client", **kwargs: Any
    ) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="npc-client", daemon=True)
        self._thread.start()
        self._async = self._call(self._make(endpoint, name, kwargs))

    @staticmethod
    async def _make(endpoint: str, name: str, kwargs: dict[str, Any]) -> AsyncClient:
        return AsyncClient(endpoint, name=name, **kwargs)

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    @property
    def welcome(self) -> Welcome | None:
        return self._async.welcome

    def connect(self, timeout: float = 10.0) -> Welcome:
        return self._call(self._async.connect(timeout))

    def request(self, msg: Message, timeout: float = 10.0) -> Message:
        return self._call(self._async.request(msg, timeout))

    def send(self, msg: Message) -> None:
        self._call(self._async.send(msg))

    def next_event(self, timeout: float = 10.0, types: tuple[str, ...] | None = None) -> Message:
        return self._call(self._async.next_event(timeout, types))

    def start_conversation(self, npc_ids: str | list[str], **kwargs: Any) -> ConversationStarted:
        return self._call(self._async.start_conversation(npc_ids, **kwargs))

    def say(self, conversation_id: str, text: str, **kwargs: Any) -> NpcTextFinal:
        return self._call(self._async.say(conversation_id, text, **kwargs))

    def wait_final(self, conversation_id: str, **kwargs: Any) -> NpcTextFinal:
        return self._call(self._async.wait_final(conversation_id, **kwargs))

    def end_conversation(self, conversation_id: str) -> None:
        self._call(self._async.end_conversation(conversation_id))

    def close(self) -> None:
        if not self._loop.is_closed():
            self._call(self._async.close())
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)
            self._loop.close()

    def __enter__(self) -> Client:
        self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
