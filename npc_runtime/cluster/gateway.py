"""The cluster gateway: protocol v1 to game clients, conversations placed on workers, failover.

Each game client (a DEALER on the gateway's ROUTER) is a :class:`Session`. The session talks to
workers through *links*: one DEALER per (session, worker), with the routing id
``gw:<session key>#<n>``, which a worker sees as one client. The session's ``hello`` opens a link to
its *home* worker (placed by load), which answers session-wide messages (world, memory, saves);
each ``conversation_start`` is placed on a worker of its own (the power of two choices), under a
conversation id the gateway chooses and claims in ``cluster_owners`` (epoch 1) before the worker
starts it, so the id never changes when the conversation moves.

Messages are forwarded as the client's bytes both ways; the gateway reads only ``type``, ``id``,
``ref`` and ``conversation_id``. It keeps each conversation's *unacknowledged input*: the player
lines not yet answered by ``npc_text_final`` (or an error naming them), and the audio since
``speech_start`` until the reply to it. Acknowledgements are the worker's own messages, which it
sends after its commit, so the gateway forwards them as they come.

A worker whose heartbeat is older than ``max_age`` is dead: each of its conversations gets a new
epoch on another live worker (the old owner's late writes are now refused, fencing), is started
there under the same id, the client gets a ``conversation_moved`` warning, and the unacknowledged
input is sent again (the unfinished turn runs once more; world writes carry request keys, so an
input whose write had committed is logged once). A session whose home died is re-homed and its
unanswered session-wide requests are sent again.

``load``, ``world_reset`` and ``game_time`` need the world-authority role: a client whose CURVE
public key is in ``cluster.authority_keys`` (or any client with ``cluster.authority_dev`` on a
loopback bind without CURVE); others get ``not_authority``.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
import time
import uuid
from typing import Any

import zmq
import zmq.asyncio

from .. import __version__
from ..errors import ConfigError
from ..protocol import codec
from ..protocol.errors import ErrorCode
from ..protocol.messages import Error, Pong, WarningMessage
from ..settings import Settings
from ..storage.postgres import PgDatabase
from ..storage.registry import NoLiveWorker, Placements, Registry, WorkerInfo
from ..transport.security import is_loopback
from ..transport.server import PeerGone, PeerOverloaded, frame_cap
from .settings import INTERNAL_ID, ClusterSettings, link_keys, start_id
from .state import Conv, KeyedRouter, Link, Session, decode, kind_of
from .worker import LINK_PREFIX

log = logging.getLogger(__name__)

AUTHORITY_TYPES = frozenset({"load", "world_reset", "game_time"})
INPUT_TYPES = frozenset({"player_text"})
AUDIO_TYPES = frozenset({"audio_chunk", "speech_end"})
AFTER_BYE = "this client said bye; send 'hello' to start a new session"  # as the runtime says
LINK_TIMEOUT = 10.0  # seconds for a worker to answer a new link's hello
STALE_LINK_SECONDS = 60.0  # a dead worker's links are kept this long, in case it was only paused
PING = codec.encode_map({"type": "ping", "id": INTERNAL_ID + "ping"})


class Gateway:
    def __init__(
        self, settings: Settings, cluster: ClusterSettings, rng: random.Random | None = None
    ) -> None:
        self.settings, self.cluster = settings, cluster
        self.rng = rng or random.Random()
        self.id = f"gateway-{uuid.uuid4().hex[:8]}"
        self.sessions: dict[bytes, Session] = {}
        self.endpoint = ""
        self._zctx: zmq.asyncio.Context | None = None
        self.server: KeyedRouter | None = None
        self._registry: Registry | None = None
        self._owners: PgDatabase | None = None
        self._tasks: list[asyncio.Task[Any]] = []
        self._background: set[asyncio.Task[Any]] = set()
        self._ids = itertools.count(1)
        self._links = itertools.count(1)
        self.dead: dict[str, float] = {}  # worker id -> when it was declared dead (monotonic)
        self.moves = 0
        self._link_keys: tuple[bytes, bytes, bytes] | None = None
        self._placed = Placements()

    # -- lifecycle ------------------------------------------------------------------------------
    async def start(self) -> str:
        s = self.settings
        self._zctx = zmq.asyncio.Context()
        self.server = KeyedRouter(
            self._zctx,
            heartbeat_ms=int(s.heartbeat_interval * 1000),
            max_frame_bytes=frame_cap(s.max_message_bytes),
        )
        if s.curve_secret_file is not None:
            self.server.enable_curve(s.curve_secret_file, s.curve_clients_dir)
        self.endpoint = self.server.bind(s.bind)
        if self.cluster.authority_dev and (s.curve_secret_file is not None or not is_loopback(self.endpoint)):
            self.server.close()
            raise ConfigError("cluster.authority_dev is for a loopback bind without CURVE only")
        self._link_keys = link_keys(self.cluster)
        dsn = self.cluster.db
        self._registry = Registry(await asyncio.to_thread(PgDatabase, dsn, self.id), self.cluster.max_age)
        self._owners = await asyncio.to_thread(PgDatabase, dsn, self.id)
        self.server.on_keyed = self._on_frame
        self._tasks = [
            asyncio.create_task(self.server.serve(lambda _i, _p: None), name="gateway-router"),
            asyncio.create_task(self._watch(), name="gateway-watch"),
            asyncio.create_task(self._keepalive(), name="gateway-keepalive"),
        ]
        log.info("npc-runtime %s gateway %s serving on %s", __version__, self.id, self.endpoint)
        return self.endpoint

    async def stop(self) -> None:
        for session in list(self.sessions.values()):
            self._drop(session, bye=True)
        for task in [*self._tasks, *self._background]:
            task.cancel()
        await asyncio.gather(*self._tasks, *self._background, return_exceptions=True)
        if self.server is not None:
            self.server.close()
        for db in (self._owners, self._registry.db if self._registry else None):
            if db is not None:
                db.close()
        if self._zctx is not None:
            self._zctx.term()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        task.add_done_callback(_log_failure)

    # -- client side ------------------------------------------------------------------------------
    def _to_client(self, session: Session, payload: bytes, after_bye: bool = False) -> None:
        if self.server is None or (session.gone and not after_bye):
            return
        try:
            self.server.send(session.identity, payload)
        except PeerGone:
            asyncio.get_running_loop().call_soon(self._drop, session, False)
        except PeerOverloaded:
            log.warning("client %s is not reading; dropped a message", session.key)

    def _error(
        self, session: Session, code: ErrorCode, message: str, ref: Any, conv: str | None = None
    ) -> None:
        self._to_client(
            session, codec.encode(Error(code=code, message=message, ref=ref, conversation_id=conv))
        )

    def _is_authority(self, key: str | None) -> bool:
        if key is not None:
            return key in self.cluster.authority_keys
        return self.cluster.authority_dev

    def _on_frame(self, identity: bytes, payload: bytes, key: str | None) -> None:
        session = self.sessions.get(identity)
        if session is None:
            session = Session(identity, uuid.uuid4().hex[:16], self._is_authority(key), time.monotonic())
            self.sessions[identity] = session
        session.last_seen = time.monotonic()
        doc = decode(payload)
        kind = doc.get("type") if doc is not None else None
        if doc is not None and kind == "ping":  # the fast path, answered here
            self._to_client(session, codec.encode(Pong(ref=doc.get("id"), t=doc.get("t"))))
            return
        session.inbox.put_nowait((doc or {}, payload))
        if session.task is None or session.task.done():
            session.task = asyncio.create_task(self._session_worker(session))

    async def _session_worker(self, session: Session) -> None:
        while not session.inbox.empty():
            doc, payload = session.inbox.get_nowait()
            try:
                await self._handle(session, doc, payload)
            except NoLiveWorker as exc:
                self._error(session, ErrorCode.INTERNAL, str(exc), doc.get("id"))
            except Exception as exc:
                log.exception("gateway failed on a %s message", doc.get("type"))
                self._error(
                    session, ErrorCode.INTERNAL, f"gateway error: {type(exc).__name__}", doc.get("id")
                )

    async def _handle(self, session: Session, doc: dict[str, Any], payload: bytes) -> None:
        kind, msg_id = doc.get("type"), doc.get("id")
        if session.gone:  # messages the client sent after its bye, queued behind it
            if kind == "hello":  # a new session: it takes this hello and what follows
                self._reopen(session, doc, payload)
            else:
                error = Error(code=ErrorCode.NOT_INTRODUCED, message=AFTER_BYE, ref=msg_id)
                self._to_client(session, codec.encode(error), after_bye=True)
            return
        if kind == "hello":
            session.hello = {k: v for k, v in doc.items() if k != "id"}
            session.hello_ref, session.answer_hello = msg_id, True
            if session.home is None:
                await self._rehome(session)
            else:  # a second hello: the home worker answers it
                session.links[session.home].send(codec.encode_map(self._hello(session)))
            return
        if session.hello is None:  # not introduced: the worker would say so; say it here
            self._error(
                session, ErrorCode.NOT_INTRODUCED, "send 'hello' first (see docs/protocol.md)", msg_id
            )
            return
        if session.home is None:
            await self._retry(session, self._rehome)
        if kind in AUTHORITY_TYPES and not session.authority:
            self._error(
                session,
                ErrorCode.NOT_AUTHORITY,
                f"'{kind}' needs the world-authority role: this client's CURVE key is not in cluster.authority_keys",
                msg_id,
            )
            return
        if kind == "conversation_start":
            await self._start(session, doc)
            return
        if kind == "bye":
            self._drop(session, bye=True)
            return
        conv_id = doc.get("conversation_id")
        conv = session.convs.get(conv_id) if isinstance(conv_id, str) else None
        if conv is not None:
            self._conversation_input(session, conv, kind, msg_id, payload)
            return
        if kind == "game_time":  # every worker this session talks to keeps the game time
            session.game_time = payload
            for link in session.links.values():
                link.send(payload)
            return
        if msg_id is not None:
            session.requests[msg_id] = payload
        assert session.home is not None
        session.links[session.home].send(payload)

    def _conversation_input(
        self, session: Session, conv: Conv, kind: Any, msg_id: Any, payload: bytes
    ) -> None:
        if kind in INPUT_TYPES:
            conv.pending.append((msg_id, payload))
        elif kind == "speech_start":
            conv.audio = (
                [*conv.audio[:1], payload]
                if conv.audio and kind_of(conv.audio[0]) == "audio_start"
                else [payload]
            )
            conv.audio_open = True
        elif kind == "audio_start":
            conv.audio = [payload]
        elif kind in AUDIO_TYPES and conv.audio_open:
            conv.audio.append(payload)
        elif conv.moving:
            conv.held.append(payload)
            return
        if conv.moving:
            return  # sent when the conversation runs again (replay)
        link = session.links.get(conv.worker)
        if link is not None:
            link.send(payload)

    # -- placement ----------------------------------------------------------------------------------
    async def _place(self, exclude: frozenset[str] = frozenset(), conversation: bool = True) -> WorkerInfo:
        assert self._registry is not None
        placed = self._placed if conversation else None  # a session's home is not a conversation
        return await asyncio.to_thread(self._registry.place, self.rng, exclude | frozenset(self.dead), placed)

    async def _link(self, session: Session, worker: WorkerInfo) -> Link:
        link = session.links.get(worker.id)
        if link is not None and not link.stale and link.worker.endpoint == worker.endpoint:
            await self._ready(session, link)  # another task may have opened it a moment ago
            return link
        if link is not None:  # a stale link, or the worker came back on another endpoint
            self._close_link(session, worker.id)
        assert self._zctx is not None and session.hello is not None
        sock = self._zctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.ROUTING_ID, LINK_PREFIX + f"{session.key}#{next(self._links)}".encode())
        sock.setsockopt(zmq.SNDHWM, 100_000)
        sock.setsockopt(zmq.RCVHWM, 100_000)
        sock.setsockopt(zmq.IPV6, 1)
        if self._link_keys is not None:  # CURVE: encrypted, and the worker checks who we are
            sock.curve_serverkey, sock.curve_publickey, sock.curve_secretkey = self._link_keys
        sock.connect(worker.endpoint)
        link = Link(worker, sock)
        session.links[worker.id] = link
        link.send(codec.encode_map(self._hello(session)))
        link.reader = asyncio.create_task(self._read(session, link), name=f"link-{worker.id}")
        await self._ready(session, link)
        if session.game_time is not None:
            link.send(session.game_time)
        return link

    async def _ready(self, session: Session, link: Link) -> None:
        """Wait for the link's welcome (a runtime refuses what comes before its hello is handled)."""
        try:
            async with asyncio.timeout(LINK_TIMEOUT):  # not wait_for: it can drop a cancellation
                await link.ready.wait()
        except TimeoutError:
            if session.links.get(link.worker.id) is link:
                self._close_link(session, link.worker.id)
            raise NoLiveWorker(
                f"worker {link.worker.id} did not answer hello within {LINK_TIMEOUT:.0f} s"
            ) from None

    def _hello(self, session: Session) -> dict[str, Any]:
        assert session.hello is not None
        return {**session.hello, "id": f"{INTERNAL_ID}hello:{next(self._ids)}"}

    def _close_link(self, session: Session, worker_id: str, bye: bool = False) -> None:
        link = session.links.pop(worker_id, None)
        if link is None:
            return
        if link.reader is not None:
            link.reader.cancel()
        if bye:
            link.sock.setsockopt(zmq.LINGER, 500)
            link.send(codec.encode_map({"type": "bye"}))
        link.sock.close()

    async def _rehome(self, session: Session) -> None:
        """Give the session a (new) home worker; its hello is answered by that worker's welcome."""
        worker = await self._place(conversation=False)
        link = await self._link(session, worker)
        session.home = worker.id
        for payload in list(session.requests.values()):
            link.send(payload)

    async def _start(self, session: Session, doc: dict[str, Any]) -> None:
        conv_id = uuid.uuid4().hex[:12]
        worker = await self._place()
        conv = Conv(conv_id, worker.id, {k: v for k, v in doc.items() if k != "id"}, client_ref=doc.get("id"))
        session.convs[conv_id] = conv
        try:
            await self._send_start(session, conv, worker)
        except Exception:
            session.convs.pop(conv_id, None)
            raise

    async def _send_start(self, session: Session, conv: Conv, worker: WorkerInfo) -> None:
        assert self._owners is not None
        epoch = await asyncio.to_thread(self._owners.claim, conv.id, worker.id)
        if conv.started:
            log.info("conversation %s moves from %s to %s (epoch %d)", conv.id, conv.worker, worker.id, epoch)
        conv.worker, conv.moving = worker.id, True
        link = await self._link(session, worker)
        conv.start_ref = start_id(conv.id, next(self._ids))
        start = {**conv.start, "id": conv.start_ref}
        if conv.started:
            start["greet"] = False  # a moved conversation does not greet again
        link.send(codec.encode_map(start))

    # -- worker side ----------------------------------------------------------------------------------
    async def _read(self, session: Session, link: Link) -> None:
        while True:
            payload = await link.sock.recv()
            try:
                self._from_worker(session, link, payload)
            except Exception:
                log.exception("gateway failed on a message from worker %s", link.worker.id)

    def _from_worker(self, session: Session, link: Link, payload: bytes) -> None:
        if link.stale:
            return  # a worker the session's work left: its late output is not the client's
        doc = decode(payload)
        if doc is None:
            return
        kind, ref = doc.get("type"), doc.get("ref")
        if isinstance(ref, str) and ref.startswith(INTERNAL_ID):
            self._internal_reply(session, link, doc, kind, ref)
            return
        conv_id = doc.get("conversation_id")
        conv = session.convs.get(conv_id) if isinstance(conv_id, str) else None
        if conv is not None:
            if conv.worker != link.worker.id or conv.moving:
                return  # a worker the conversation left (its late output is not the client's)
            self._acknowledge(session, conv, kind, ref)
        elif ref is not None and ref in session.requests:
            if link.worker.id != session.home:
                return
            del session.requests[ref]
        elif link.worker.id != session.home:
            return  # session-wide news (world_changed, persona_reloaded) comes from the home link only
        self._to_client(session, payload)

    def _acknowledge(self, session: Session, conv: Conv, kind: Any, ref: Any) -> None:
        if kind == "npc_text_final":
            if conv.moved_at is not None:
                log.info(
                    "conversation %s: failover to the next words took %.3f s",
                    conv.id,
                    time.monotonic() - conv.moved_at,
                )
                conv.moved_at = None
            if ref is not None:
                conv.pending = [(i, p) for i, p in conv.pending if i != ref]
            elif conv.audio_open:
                conv.audio_open = False
                conv.audio = conv.audio[:1] if conv.audio and kind_of(conv.audio[0]) == "audio_start" else []
        elif kind == "error" and ref is not None:
            conv.pending = [(i, p) for i, p in conv.pending if i != ref]
        elif kind == "conversation_ended":
            session.convs.pop(conv.id, None)

    def _internal_reply(self, session: Session, link: Link, doc: dict[str, Any], kind: Any, ref: str) -> None:
        if ref.startswith(INTERNAL_ID + "hello:"):
            link.ready.set()
            if session.answer_hello and kind in ("welcome", "error"):
                session.answer_hello = kind != "welcome"
                self._to_client(session, codec.encode_map({**doc, "ref": session.hello_ref}))
            return
        if not ref.startswith(INTERNAL_ID + "start:"):
            return  # e.g. the pong of a link keep-alive
        conv_id = ref.split(":")[2]
        conv = session.convs.get(conv_id)
        if conv is None or conv.worker != link.worker.id or ref != conv.start_ref:
            return  # the reply to an earlier attempt
        if kind == "conversation_started":
            first, conv.started, conv.moving = not conv.started, True, False
            if first:
                self._to_client(session, codec.encode_map({**doc, "ref": conv.client_ref}))
                conv.client_ref = None
            else:
                self._to_client(
                    session,
                    codec.encode(
                        WarningMessage(
                            code=ErrorCode.CONVERSATION_MOVED,
                            message=f"conversation {conv.id} now runs on another worker; its unfinished turn runs again",
                            conversation_id=conv.id,
                        )
                    ),
                )
            for _msg_id, payload in conv.pending:
                link.send(payload)
            for payload in [*conv.audio, *conv.held]:
                link.send(payload)
            conv.held = []
        elif kind == "error" and conv.started:
            # a move refused (e.g. a newer claim for another worker won the race): move again
            log.warning(
                "conversation %s: worker %s refused the move: %s", conv.id, link.worker.id, doc.get("message")
            )
            conv.mover = asyncio.create_task(self._move(session, conv), name=f"move-{conv.id}")
            self._background.add(conv.mover)
            conv.mover.add_done_callback(self._background.discard)
        elif kind == "error":
            session.convs.pop(conv.id, None)
            ref_out = conv.client_ref
            self._to_client(session, codec.encode_map({**doc, "ref": ref_out, "conversation_id": conv.id}))

    # -- failover ------------------------------------------------------------------------------------
    async def _watch(self) -> None:
        assert self._registry is not None
        while True:
            await asyncio.sleep(self.cluster.watch_interval)
            try:
                live = await asyncio.to_thread(self._registry.live)
            except Exception as exc:
                log.warning("gateway cannot read the registry: %s", exc)
                continue
            now = time.monotonic()
            for w in live:  # a worker that beat again since it was declared dead is back
                since = self.dead.get(w.id)
                if since is not None and w.age < now - since:
                    del self.dead[w.id]
                    self._revived(w.id)
            endpoints = {w.id: w.endpoint for w in live}
            linked = {
                (wid, link.worker.endpoint)
                for s in self.sessions.values()
                for wid, link in s.links.items()
                if not link.stale
            }
            for worker_id, endpoint in linked:
                if worker_id not in endpoints and worker_id not in self.dead:
                    self.dead[worker_id] = now
                    log.warning("worker %s stopped heartbeating; moving its conversations", worker_id)
                    self._failover(worker_id, now)
                elif worker_id in endpoints and endpoints[worker_id] != endpoint:
                    # the same id on another endpoint: a restarted worker; the old one is gone
                    log.warning("worker %s restarted; moving the conversations of its old run", worker_id)
                    self._failover(worker_id, now, endpoint)
            for worker_id, since in list(self.dead.items()):
                if now - since > STALE_LINK_SECONDS:  # gone for good: forget its links
                    for session in self.sessions.values():
                        link = session.links.get(worker_id)
                        if link is not None and link.stale:
                            self._close_link(session, worker_id)

    def _failover(self, worker_id: str, now: float, endpoint: str | None = None) -> None:
        """Move the conversations of ``worker_id`` (only those of its run at ``endpoint``, if given)."""
        for session in list(self.sessions.values()):
            link = session.links.get(worker_id)
            if link is None or link.stale or (endpoint is not None and link.worker.endpoint != endpoint):
                continue
            link.stale = True
            for conv in list(session.convs.values()):
                if conv.worker == worker_id:
                    conv.moving, conv.moved_at = True, now
                    link.moved.append(conv.id)
                    if conv.mover is not None and not conv.mover.done():
                        conv.mover.cancel()  # its target died too: this move replaces it
                    conv.mover = asyncio.create_task(self._move(session, conv), name=f"move-{conv.id}")
                    self._background.add(conv.mover)
                    conv.mover.add_done_callback(self._background.discard)
            if session.home == worker_id:
                session.home = None
                self._spawn(self._retry(session, self._rehome))

    def _revived(self, worker_id: str) -> None:
        """A worker declared dead beats again (it was paused): tell it to end the conversations
        that moved away (its late writes were refused anyway), then forget the stale link."""
        log.warning("worker %s is back; ending the conversations that moved away from it", worker_id)
        for session in self.sessions.values():
            link = session.links.get(worker_id)
            if link is None or not link.stale:
                continue
            for conv_id in link.moved:
                link.send(codec.encode_map({"type": "conversation_end", "conversation_id": conv_id}))
            session.links.pop(worker_id, None)
            self._spawn(self._close_later(link))

    async def _close_later(self, link: Link) -> None:
        await asyncio.sleep(1.0)  # let the conversation_end messages leave
        if link.reader is not None:
            link.reader.cancel()
        link.sock.close()

    async def _move(self, session: Session, conv: Conv) -> None:
        async def move(s: Session) -> None:
            worker = await self._place()
            await self._send_start(s, conv, worker)

        await self._retry(session, move)
        self.moves += 1

    async def _retry(self, session: Session, step: Any) -> None:
        """Run ``step(session)`` until a live worker takes it (or the client is gone)."""
        while not session.gone:
            try:
                await step(session)
                return
            except NoLiveWorker as exc:
                log.info("gateway: %s; retrying", exc)
                await asyncio.sleep(self.cluster.watch_interval)
            except Exception as exc:  # the step must be retried whatever failed (a registry read, a claim)
                log.warning("gateway: failover step failed (%s: %s); retrying", type(exc).__name__, exc)
                await asyncio.sleep(self.cluster.watch_interval)

    # -- sessions -------------------------------------------------------------------------------------
    async def _keepalive(self) -> None:
        """Ping every link (a worker drops a silent client) and drop silent clients."""
        interval = min(self.settings.heartbeat_interval, self.settings.client_timeout) / 2
        while True:
            await asyncio.sleep(interval)
            now = time.monotonic()
            for session in list(self.sessions.values()):
                if now - session.last_seen > self.settings.client_timeout:
                    log.info("client %s silent; dropping it", session.key)
                    self._drop(session, bye=True)
                    continue
                for link in session.links.values():
                    if not link.stale:
                        link.send(PING)

    def _reopen(self, old: Session, doc: dict[str, Any], payload: bytes) -> None:
        fresh = self.sessions.get(old.identity)
        if fresh is None:
            fresh = Session(old.identity, uuid.uuid4().hex[:16], old.authority, time.monotonic())
            self.sessions[old.identity] = fresh
        fresh.inbox.put_nowait((doc, payload))
        while not old.inbox.empty():
            fresh.inbox.put_nowait(old.inbox.get_nowait())
        if fresh.task is None or fresh.task.done():
            fresh.task = asyncio.create_task(self._session_worker(fresh))

    def _drop(self, session: Session, bye: bool) -> None:
        if session.gone:
            return
        session.gone = True
        self.sessions.pop(session.identity, None)
        for worker_id in list(session.links):
            self._close_link(session, worker_id, bye=bye)
        if session.task is not None and session.task is not asyncio.current_task():
            session.task.cancel()


def _log_failure(task: asyncio.Future[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("gateway background task failed", exc_info=task.exception())
