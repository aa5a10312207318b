"""The gateway's bookkeeping: client sessions, their links to workers and their conversations,
and the client-facing ROUTER that also reads each frame's CURVE key."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

import msgpack
import zmq
import zmq.asyncio

from ..errors import MSGPACK_DECODE_ERRORS
from ..storage.registry import WorkerInfo
from ..transport.server import DRAIN_BATCH, RouterServer

log = logging.getLogger(__name__)


def decode(payload: bytes) -> dict[str, Any] | None:
    try:
        doc = msgpack.unpackb(payload, raw=False, strict_map_key=False)
    except MSGPACK_DECODE_ERRORS:
        return None  # the worker answers it with the typed error (malformed)
    return doc if isinstance(doc, dict) else None


class KeyedRouter(RouterServer):
    """The runtime's ROUTER, also reading each frame's CURVE public key (the ZAP ``User-Id``)."""

    on_keyed: Any = None  # Callable[[bytes, bytes, str | None], None]

    def _drain(self) -> None:
        self._drain_scheduled = False
        if self.on_keyed is None:
            return
        for _ in range(DRAIN_BATCH):
            try:
                frames = self._tx.recv_multipart(flags=zmq.NOBLOCK, copy=False)
            except (zmq.Again, zmq.ZMQError):
                return
            if len(frames) < 2:
                continue
            last = frames[-1]
            try:
                user = last.get("User-Id")
                key = user if isinstance(user, str) and user else None
            except zmq.ZMQError:  # no security mechanism: no key
                key = None
            try:
                self.on_keyed(frames[0].bytes, last.bytes, key)
            except Exception:
                log.exception("unhandled error while handling a client frame")
        self._schedule_drain()


@dataclass
class Link:
    """One DEALER from a session to a worker (the worker sees one client)."""

    worker: WorkerInfo
    sock: zmq.asyncio.Socket
    reader: asyncio.Task[None] | None = None
    # Its worker stopped heartbeating: the link stays open (a paused worker may come back, and is
    # then told to end the conversations that moved away), but nothing it sends reaches the client.
    stale: bool = False
    moved: list[str] = field(default_factory=list)  # conversations that left it
    # The worker's welcome came: a runtime checks "introduced" as frames arrive, so nothing but
    # the hello may be sent before it.
    ready: asyncio.Event = field(default_factory=asyncio.Event)

    def send(self, payload: bytes) -> None:
        fut = self.sock.send(payload)
        if isinstance(fut, asyncio.Future):
            fut.add_done_callback(quiet)


def quiet(fut: asyncio.Future[Any]) -> None:
    if not fut.cancelled() and fut.exception() is not None:
        log.debug("a send to a worker failed: %s", fut.exception())


@dataclass
class Conv:
    id: str
    worker: str
    start: dict[str, Any]  # the client's conversation_start (without its id)
    pending: list[tuple[Any, bytes]] = field(default_factory=list)  # unanswered player lines
    audio: list[bytes] = field(default_factory=list)  # audio_start + the utterance since speech_start
    audio_open: bool = False  # speech_end not yet answered by npc_text_final
    held: list[bytes] = field(default_factory=list)  # other input that came during a move
    moving: bool = True  # until the worker confirms conversation_started
    client_ref: Any = None  # the client's conversation_start id, until answered
    moved_at: float | None = None  # time.monotonic() of the worker's death (failover timing)
    started: bool = False  # a worker confirmed it once (later starts are moves)
    start_ref: str = ""  # the id of the latest conversation_start sent (older replies are stale)
    mover: asyncio.Task[None] | None = None  # the move in progress (one at a time)


@dataclass
class Session:
    identity: bytes
    key: str
    authority: bool
    last_seen: float
    hello: dict[str, Any] | None = None  # the client's hello, without its id
    hello_ref: Any = None
    answer_hello: bool = False  # the next welcome goes to the client
    home: str | None = None
    links: dict[str, Link] = field(default_factory=dict)
    convs: dict[str, Conv] = field(default_factory=dict)
    requests: dict[Any, bytes] = field(default_factory=dict)  # session-wide, unanswered
    inbox: asyncio.Queue[tuple[dict[str, Any], bytes]] = field(default_factory=asyncio.Queue)
    task: asyncio.Task[None] | None = None
    game_time: bytes | None = None
    gone: bool = False


def kind_of(payload: bytes) -> Any:
    doc = decode(payload)
    return doc.get("type") if doc else None
