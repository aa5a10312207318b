"""The runtime: the host that wires settings, storage, personas, providers, concerns and the server.

Frames come in through :class:`~npc_runtime.transport.server.RouterServer`; each is decoded through
the protocol's tagged union and dispatched by message class (one typed table: the host's own
routes and each concern's :meth:`~npc_runtime.host.Extension.routes`). ``ping`` and ``list_npcs``
are answered inline (the fast path); every other message of a client goes through that client's
ordered inbox, so a client's messages are handled in the order sent while clients never wait on
each other. Turns run in their conversation's own task (``conversations.py``).

The runtime is the only :class:`~npc_runtime.host.Host`; :func:`build_extensions` states, in one
place, which concerns run and how they are linked.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import TYPE_CHECKING, Any

import zmq
import zmq.asyncio

from .. import __version__
from ..clock import Clock, SystemClock
from ..dialogue.base import DialogueProvider
from ..dialogue.context import DialogueContext, HistoryEntry, build_context
from ..dialogue.providers.authored import AuthoredProvider, FallbackPicker
from ..dialogue.similarity import SentenceEmbedder
from ..errors import ConfigError
from ..host import ContextRequest, ConversationView, Extension, Peer, Route, route
from ..observability import Metrics
from ..personas.schema import Persona
from ..personas.store import PersonaStore, ReloadReport
from ..protocol import codec
from ..protocol.errors import ErrorCode, ProtocolError
from ..protocol.messages import (
    ContentProblem,
    ConversationStart,
    Error,
    Hello,
    ListNpcs,
    Message,
    NpcInfo,
    Npcs,
    PersonaError,
    PersonaReloaded,
    Ping,
    Pong,
)
from ..settings import Settings
from ..storage.shared import SqlDatabase, open_database
from ..transport.security import exposure_warning
from ..transport.server import PeerGone, PeerOverloaded, RouterServer, frame_cap
from .blas import limit_blas
from .conversations import Conversation
from .prefill import Prefiller
from .routes import HostRoutes

if TYPE_CHECKING:
    from ..memory.extension import MemoryExtension
    from ..voice.extension import VoiceExtension
    from ..world.extension import WorldExtension

log = logging.getLogger(__name__)

_NO_HELLO = "send 'hello' first (see docs/protocol.md)"
_AFTER_BYE = "this client said bye; send 'hello' to start a new session"


class Connection:
    """One connected game client (one DEALER routing id): the host's :class:`~npc_runtime.host.Peer`."""

    __slots__ = (
        "conversations",
        "gone",
        "id",
        "identity",
        "inbox",
        "introduced",
        "last_seen",
        "name",
        "protocol",
        "worker",
    )

    def __init__(self, identity: bytes, now: float) -> None:
        self.identity = identity
        self.id = uuid.uuid4().hex[:12]  # the wire's ``session`` id (welcome)
        self.name = ""  # the client's name, from hello
        self.protocol = 0
        self.introduced = False
        self.gone = False  # the connection is gone; it is being dropped
        self.last_seen = now
        self.conversations: set[str] = set()
        self.inbox: asyncio.Queue[Message] = asyncio.Queue()
        self.worker: asyncio.Task[None] | None = None


Handler = Callable[[Any, Any], Awaitable[None]]  # (peer, message of the routed class)


def topic_embedder(settings: dict[str, Any]) -> SentenceEmbedder | None:
    """The sentence embeddings authored topic matching blends in: the static model the memory
    ships, unless ``embeddings = "none"``; None (word overlap alone, logged) when it is missing."""
    if settings.get("embeddings", "static") == "none":
        return None
    from ..memory.embeddings import shared_static

    try:
        return shared_static()
    except ConfigError as exc:
        log.warning("authored topics are matched by word overlap alone: %s", exc)
        return None


def build_provider(settings: dict[str, Any], fallbacks: FallbackPicker) -> DialogueProvider:
    name = settings.get("provider", "authored")
    if name == "authored":
        return AuthoredProvider.from_settings(settings, fallbacks, topic_embedder(settings))
    if name == "openai":
        from ..dialogue.providers.openai import OpenAIProvider

        return OpenAIProvider.from_settings(settings)
    if name == "local":
        from ..dialogue.providers.local import LocalProvider

        return LocalProvider.from_settings(settings, fallback=lambda ctx: fallbacks.pick(ctx.persona, ctx))
    if name == "stand_in":  # sleeps instead of thinking: for measuring coordination only
        from ..dialogue.providers.standin import StandInProvider

        return StandInProvider.from_settings(settings)
    raise ConfigError(f"unknown dialogue provider '{name}'; use 'authored', 'local' or 'openai'")


def build_extensions(runtime: Runtime) -> list[Extension]:
    """The default concerns and the links between them, stated once.

    The list's order is the order of start, of context parts and of turn bookkeeping: the world
    first (it spreads rumours already due before memory retrieves what the NPC remembers), then
    memory, then voice (a sink of the finished text). Persona conditions are judged by the world
    when one is loaded (it reads memory's relationship values too), else by memory for the
    conditions that read only relationship values.
    """
    from ..memory.extension import MemoryExtension
    from ..voice.extension import VoiceExtension
    from ..world.extension import WorldExtension

    world = WorldExtension(runtime)
    memory = MemoryExtension(runtime, complete=runtime.provider.complete_fn())
    memory.follow(world)  # NPCs remember what the world says they learned
    world.use_values(MemoryExtension.expression_names(runtime.settings), [memory])  # relationship.*
    runtime.world, runtime.memory = world, memory
    out: list[Extension] = [world, memory]
    if runtime.settings.voice.get("enabled", True):
        runtime.voice = VoiceExtension(runtime, scene_names=world.scene_names)
        out.append(runtime.voice)
    return out


def default_expression_names(settings: Settings) -> dict[str, str]:
    """Names the default concerns other than the world own in persona expressions (for lint)."""
    from ..memory.extension import MemoryExtension

    return MemoryExtension.expression_names(settings)


class Runtime:
    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock | None = None,
        provider: DialogueProvider | None = None,
        extensions: Sequence[type[Extension]] | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        """``extensions``: run these concern classes (built with the host alone) instead of the
        default set of :func:`build_extensions`. ``metrics``: where to count clients,
        conversations, errors, fallbacks and turn stages (``serve --metrics-port``)."""
        self.metrics = metrics
        self._settings = settings
        limit_blas(settings.blas_threads)  # before any model loads (runtime/blas.py)
        self._clock: Clock = clock or SystemClock()
        self._game_time = 0.0
        self.fallbacks = FallbackPicker()
        self.authored = AuthoredProvider.from_settings(
            {k: v for k, v in settings.dialogue.items() if k in ("threshold", "embeddings")},
            self.fallbacks,
            topic_embedder(settings.dialogue),
        )
        self.provider = provider or build_provider(settings.dialogue, self.fallbacks)
        self.prefiller = Prefiller(self)  # reads the next turn into a language model's cache ahead
        self._db = open_database(settings.db, settings.world, settings.durability)
        self.world: WorldExtension | None = None
        self.memory: MemoryExtension | None = None
        self.voice: VoiceExtension | None = None
        try:
            self.extensions: list[Extension] = (
                build_extensions(self) if extensions is None else [cls(self) for cls in extensions]
            )
        except BaseException:  # bad settings of a concern: do not leave the database open
            self._db.close()
            raise
        self._personas = PersonaStore(settings.personas_dir, checker=self._check_persona)
        self._personas.listeners.append(self._on_reload)
        self.connections: dict[bytes, Connection] = {}
        self.conversations: dict[str, Conversation] = {}
        self._routes = HostRoutes(self)
        self._handlers: dict[type[Message], Handler] = {}
        for r in [*self._routes.routes(), *(r for ext in self.extensions for r in ext.routes())]:
            self._add_route(r)
        self._zctx: zmq.asyncio.Context | None = None
        self.server: RouterServer | None = None
        self.exposure: str | None = None  # a non-loopback bind without CURVE: told to each client
        self._tasks: list[asyncio.Task[Any]] = []
        self._pending_notices: list[Message] = []
        self._background: set[asyncio.Future[None]] = set()
        self.started = asyncio.Event()
        self.endpoint = ""

    def _add_route(self, r: Route[Any]) -> None:
        if r.message in self._handlers:
            raise ConfigError(f"message type '{r.message.model_fields['type'].default}' is handled twice")
        self._handlers[r.message] = r.handler

    # -- the Host port ----------------------------------------------------------------------------
    @property
    def settings(self) -> Settings:
        return self._settings

    @property
    def clock(self) -> Clock:
        return self._clock

    @property
    def db(self) -> SqlDatabase:
        return self._db

    @property
    def personas(self) -> PersonaStore:
        return self._personas

    @property
    def game_time(self) -> float:
        return self._game_time

    def set_game_time(self, hours: float) -> None:
        self._game_time = hours

    async def send(self, peer: Peer, msg: Message) -> None:
        conn = self._connection_of(peer)
        if conn is not None:
            self.send_now(conn, msg)

    async def broadcast(self, msg: Message) -> None:
        for conn in list(self.connections.values()):
            if conn.introduced:
                self.send_now(conn, msg)

    def conversation(self, peer: Peer, conversation_id: str, ref: Any) -> Conversation:
        conv = self.conversations.get(conversation_id)
        if conv is None or conv.connection is not peer:
            raise ProtocolError(
                ErrorCode.UNKNOWN_CONVERSATION, f"no open conversation '{conversation_id}'", ref=ref
            )
        return conv

    def new_conversation_id(self, msg: ConversationStart) -> str:
        """The id of the conversation ``msg`` starts (a cluster worker takes its gateway's)."""
        return uuid.uuid4().hex[:12]

    def refresh_personas(self, force: bool = False) -> None:
        self._personas.refresh(force=force)

    async def preview_reply(self, conv: ConversationView, player_text: str) -> tuple[str, str] | None:
        if conv.closed or len(conv.npc_ids) != 1:
            return None
        persona = self._personas.get(conv.npc_ids[0])
        if persona is None:
            return None
        # Read-only apart from the world's catch-up of rumours already due by game time.
        ctx = await self.context_for(persona, conv.player_id, player_text, history=conv.history)
        provider = self.pick_provider(ctx)
        if not isinstance(provider, AuthoredProvider):
            return None
        line = provider.peek(ctx).text
        return (persona.id, line) if line else None

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        task.add_done_callback(_log_failure)

    # -- dialogue ------------------------------------------------------------------------------------
    async def context_for(
        self,
        persona: Persona,
        player_id: str,
        player_text: str,
        *,
        history: Sequence[HistoryEntry] = (),
        others: Sequence[str] = (),
    ) -> DialogueContext:
        """One turn's dialogue context: every concern's part, merged in one place. Conditions are
        judged in the order of ``self.extensions`` (see :func:`build_extensions`)."""
        request = ContextRequest(persona, player_id, player_text)
        parts = []
        for ext in self.extensions:
            try:
                part = await ext.context_part(request)
            except Exception:
                log.exception("%s failed to add to the context; continuing without it", ext.name)
                continue
            if part is not None:
                parts.append(part)
        return build_context(persona, player_id, player_text, parts, history=history, others=others)

    def pick_provider(self, ctx: DialogueContext) -> DialogueProvider:
        """With an LLM provider, a strong match on an authored topic still gets the authored line."""
        if self.provider is self.authored or self.provider.name == "authored":
            return self.provider
        _topic, score = self.authored.match(ctx)
        return self.authored if score >= self._settings.prefer_authored else self.provider

    # -- lifecycle ----------------------------------------------------------------------------------
    async def start(self) -> str:
        # Bind first: a second runtime on the same address fails at once, before loading models.
        # Clients that connect meanwhile are queued by ZeroMQ and answered once serving starts.
        self._zctx = zmq.asyncio.Context()
        self.server = RouterServer(
            self._zctx,
            heartbeat_ms=int(self._settings.heartbeat_interval * 1000),
            max_frame_bytes=frame_cap(self._settings.max_message_bytes),
        )
        if self._settings.curve_secret_file is not None:
            self.server.enable_curve(self._settings.curve_secret_file, self._settings.curve_clients_dir)
        self.endpoint = self.server.bind(self._settings.bind)
        self.exposure = exposure_warning(self.endpoint, curve=self._settings.curve_secret_file is not None)
        if self.exposure is not None:
            log.warning(self.exposure)
        try:
            for ext in self.extensions:
                await ext.start()
        except BaseException:
            self.server.close()
            self._zctx.term()
            self.server, self._zctx = None, None
            raise
        await self._personas.refresh_async()
        if not self._personas.ids():
            log.warning("no personas found in %s", self._settings.personas_dir)
        # A local model loads now (in its own process by default), then reads each NPC's prompt
        # into its cache in the background, giving way to players.
        await self.provider.prepare(
            self._personas.all(), context=lambda persona: self.context_for(persona, "player", "")
        )
        self._pending_notices.clear()  # start-up problems are logged; clients get later ones
        self._tasks = [
            asyncio.create_task(self.server.serve(self._on_frame), name="router"),
            asyncio.create_task(self._reaper(), name="reaper"),
            asyncio.create_task(self._reloader(), name="reloader"),
        ]
        log.info(
            "npc-runtime %s serving %d NPCs on %s", __version__, len(self._personas.ids()), self.endpoint
        )
        self.started.set()
        return self.endpoint

    async def stop(self) -> None:
        for conv in list(self.conversations.values()):
            await conv.close("shutdown")
        for task in self._tasks:
            task.cancel()
        for conn in self.connections.values():
            if conn.worker:
                conn.worker.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for ext in reversed(self.extensions):
            try:
                await ext.stop()
            except Exception:
                log.exception("extension %s failed to stop", ext.name)
        await self.provider.aclose()
        if self.server:
            self.server.close()
        if self._zctx:
            self._zctx.term()
        self._db.close()

    # -- frames ----------------------------------------------------------------------------------------
    def send_now(self, conn: Connection, msg: Message) -> None:
        if self.server is None or conn.gone or conn.identity not in self.connections:
            return
        if self.metrics is not None:
            self.metrics.sent(msg, self.provider.name)
        try:
            self.server.send(conn.identity, codec.encode(msg))
        except PeerGone:
            conn.gone = True  # further sends to it are skipped; logged once
            log.info("client %s is gone; freeing its conversations", conn.name or conn.id)
            asyncio.get_running_loop().call_soon(self._schedule_drop, conn, "disconnect")
        except PeerOverloaded:
            log.warning("client %s is not reading; dropped a %s message", conn.name or conn.id, msg.type)

    def _send_direct(self, conn: Connection, msg: Message) -> None:
        """Send to a client this host no longer tracks (e.g. after its bye)."""
        if self.server is not None and not conn.gone:
            try:
                self.server.send(conn.identity, codec.encode(msg))
            except (PeerGone, PeerOverloaded):
                conn.gone = True

    def _connection_of(self, peer: Peer) -> Connection | None:
        return peer if isinstance(peer, Connection) else None

    def input_pending(self) -> bool:
        if any(not conn.inbox.empty() for conn in self.connections.values()):
            return True
        return self.server is not None and self.server.input_pending()

    def own(self, peer: Peer) -> Connection:
        """The connection behind a peer this host handed out."""
        if not isinstance(peer, Connection):
            raise TypeError(f"not a connection of this runtime: {peer!r}")
        return peer

    def _on_frame(self, identity: bytes, data: bytes) -> None:
        now = self._clock.monotonic()
        conn = self.connections.get(identity)
        if conn is None:
            conn = self.connections[identity] = Connection(identity, now)
        conn.last_seen = now
        try:
            msg = codec.decode_client(data, self._settings.max_message_bytes)
        except ProtocolError as exc:
            self.reply_error(conn, exc)
            return
        if isinstance(msg, Ping):
            self.send_now(conn, Pong(ref=msg.id, t=msg.t))
            return
        idle = conn.worker is None or conn.worker.done()
        if isinstance(msg, ListNpcs) and conn.introduced and idle:
            self.send_now(conn, Npcs(ref=msg.id, npcs=self.npc_infos()))
            return
        # Everything else is handled in arrival order by the connection's worker, which also
        # checks for 'hello' there: a message right behind a 'hello' in one burst is its session's.
        conn.inbox.put_nowait(msg)
        if idle:
            conn.worker = asyncio.create_task(self._connection_worker(conn))

    async def _connection_worker(self, conn: Connection) -> None:
        while not conn.inbox.empty():
            msg = conn.inbox.get_nowait()
            if conn.identity not in self.connections:  # sent after bye: answered, not dropped
                self._send_direct(conn, Error(code=ErrorCode.NOT_INTRODUCED, message=_AFTER_BYE, ref=msg.id))
                continue
            handler = self._handlers.get(type(msg))
            try:
                if not conn.introduced and not isinstance(msg, Hello):
                    raise ProtocolError(ErrorCode.NOT_INTRODUCED, _NO_HELLO, ref=msg.id)
                if isinstance(msg, ListNpcs):
                    self.send_now(conn, Npcs(ref=msg.id, npcs=self.npc_infos()))
                    continue
                if handler is None:
                    raise ProtocolError(ErrorCode.UNKNOWN_TYPE, f"no handler for '{msg.type}'", ref=msg.id)
                await handler(conn, msg)
            except ProtocolError as exc:
                self.reply_error(conn, exc)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.exception("handler for %s failed", msg.type)
                self.reply_error(
                    conn,
                    ProtocolError(ErrorCode.INTERNAL, f"internal error: {type(exc).__name__}", ref=msg.id),
                )

    def reply_error(self, conn: Connection, exc: ProtocolError) -> None:
        self.send_now(conn, Error(code=exc.code, message=exc.message, ref=exc.ref, field=exc.field))

    def npc_infos(self) -> list[NpcInfo]:
        return [NpcInfo(id=p.id, name=p.name, role=p.role) for p in self._personas.all()]

    # -- conversations and connections -------------------------------------------------------------
    async def end_conversation(
        self, conv: Conversation, reason: str, *, notify: bool = True, ref: Any = None
    ) -> None:
        if self.conversations.pop(conv.id, None) is not None and self.metrics is not None:
            self.metrics.conversation_ended(conv.mode, reason)
        conv.connection.conversations.discard(conv.id)
        await conv.close(reason, notify=notify, ref=ref)

    def _schedule_drop(self, conn: Connection, reason: str) -> None:
        if conn.identity in self.connections:
            self.spawn(self.drop_connection(conn, reason))

    async def drop_connection(self, conn: Connection, reason: str) -> None:
        if self.connections.pop(conn.identity, None) is None:
            return
        if conn.introduced and self.metrics is not None:
            self.metrics.client_gone()
        for conv_id in list(conn.conversations):
            conv = self.conversations.get(conv_id)
            if conv is not None and conv.connection is conn:  # (a cluster id may have moved on)
                await self.end_conversation(conv, reason, notify=False)
        if conn.worker and conn.worker is not asyncio.current_task():
            conn.worker.cancel()

    async def _reaper(self) -> None:
        interval = min(self._settings.heartbeat_interval, self._settings.client_timeout) / 2
        while True:
            await asyncio.sleep(interval)
            now = self._clock.monotonic()
            for conn in list(self.connections.values()):
                if now - conn.last_seen > self._settings.client_timeout:
                    log.info(
                        "client %s silent for %.1fs; dropping it", conn.name or conn.id, now - conn.last_seen
                    )
                    await self.drop_connection(conn, "timeout")

    # -- personas ----------------------------------------------------------------------------------------
    async def _reloader(self) -> None:
        while True:
            await asyncio.sleep(self._settings.reload_interval)
            await self._personas.refresh_async()  # files are read and parsed off the event loop
            await self._flush_notices()

    def _on_reload(self, report: ReloadReport) -> None:
        for npc_id, file in report.loaded:
            self._pending_notices.append(PersonaReloaded(npc_id=npc_id, file=file))
        for file, live_id, problems in report.failed:
            self._pending_notices.append(
                PersonaError(
                    file=file,
                    npc_id=live_id,
                    problems=[ContentProblem(**p.as_dict()) for p in problems],
                )
            )
        for npc_id, file in report.removed:
            for conv in list(self.conversations.values()):
                if npc_id in conv.npc_ids and self._personas.get(npc_id) is None:
                    log.info("persona %s removed (%s): ending conversation %s", npc_id, file, conv.id)
                    self.spawn(self.end_conversation(conv, "persona_removed"))
        changed = [npc_id for npc_id, _ in report.loaded]
        for ext in self.extensions:
            try:
                ext.on_personas_changed(changed)
            except Exception:
                log.exception("extension %s failed on persona reload", ext.name)
        if self.started.is_set():
            self.spawn(self._flush_notices())

    async def _flush_notices(self) -> None:
        notices, self._pending_notices = self._pending_notices, []
        for notice in notices:
            await self.broadcast(notice)

    def _check_persona(self, persona: Persona) -> list[tuple[str, str]]:
        problems: list[tuple[str, str]] = []
        for ext in self.extensions:
            problems.extend(ext.check_persona(persona))
        return problems


def _log_failure(task: asyncio.Future[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("background task failed", exc_info=task.exception())


async def run_forever(runtime: Runtime, stop: asyncio.Event) -> None:
    await runtime.start()
    try:
        await stop.wait()
    finally:
        await runtime.stop()


__all__ = [
    "Connection",
    "Runtime",
    "build_extensions",
    "build_provider",
    "default_expression_names",
    "route",
    "run_forever",
]
