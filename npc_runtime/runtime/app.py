"""The runtime: wiring of settings, storage, personas, providers, extensions and the server.

Frames come in through :class:`~npc_runtime.transport.server.RouterServer`; each is decoded through
the protocol's tagged union and dispatched. ``ping`` and ``list_npcs`` are answered inline (the
fast path); every other message of a client goes through that client's ordered inbox, so a
client's messages are handled in the order sent while clients never wait on each other. Turns run
in their conversation's own task.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import zmq
import zmq.asyncio

from .. import __version__
from ..clock import Clock, SystemClock
from ..dialogue.base import DialogueProvider
from ..dialogue.context import DialogueContext
from ..dialogue.providers.authored import AuthoredProvider, FallbackPicker
from ..errors import ConfigError, SaveFormatError
from ..personas.schema import Persona
from ..personas.store import PersonaStore, ReloadReport
from ..protocol import codec
from ..protocol.errors import ErrorCode, ProtocolError
from ..protocol.messages import (
    Bye,
    ContentProblem,
    ConversationEnd,
    ConversationStart,
    ConversationStarted,
    Error,
    GameTime,
    Hello,
    Interrupt,
    ListNpcs,
    Load,
    Loaded,
    Message,
    NpcInfo,
    Npcs,
    PersonaError,
    PersonaReloaded,
    Ping,
    PlayerText,
    Pong,
    Save,
    SaveData,
    Welcome,
)
from ..storage import Database, SaveBlob, decode_save, encode_save
from ..transport.server import PeerGone, PeerOverloaded, RouterServer
from .conversations import Conversation
from .extension import Extension, Handler
from .settings import Settings

log = logging.getLogger(__name__)


class Session:
    """One connected game client (one DEALER routing id)."""

    __slots__ = (
        "client",
        "conversations",
        "gone",
        "id",
        "identity",
        "inbox",
        "introduced",
        "last_seen",
        "protocol",
        "worker",
    )

    def __init__(self, identity: bytes, now: float) -> None:
        self.identity = identity
        self.id = uuid.uuid4().hex[:12]
        self.client = ""
        self.protocol = 0
        self.introduced = False
        self.gone = False  # the connection is gone; the session is being dropped
        self.last_seen = now
        self.conversations: set[str] = set()
        self.inbox: asyncio.Queue[Message] = asyncio.Queue()
        self.worker: asyncio.Task[None] | None = None


def build_provider(settings: dict[str, Any], fallbacks: FallbackPicker) -> DialogueProvider:
    name = settings.get("provider", "authored")
    if name == "authored":
        return AuthoredProvider.from_settings(settings, fallbacks)
    if name == "openai":
        from ..dialogue.providers.openai import OpenAIProvider

        return OpenAIProvider.from_settings(settings)
    raise ConfigError(f"unknown dialogue provider '{name}'; use 'authored' or 'openai'")


def default_extensions() -> list[type[Extension]]:
    from .memory_ext import MemoryExtension
    from .voice_ext import VoiceExtension
    from .world_ext import WorldExtension

    # Order matters: the world's view and conditions first, then memory, then voice sinks.
    return [WorldExtension, MemoryExtension, VoiceExtension]


class Runtime:
    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock | None = None,
        provider: DialogueProvider | None = None,
        extensions: list[type[Extension]] | None = None,
    ) -> None:
        self.settings = settings
        self.clock: Clock = clock or SystemClock()
        self.game_time = 0.0
        self.fallbacks = FallbackPicker()
        self.authored = AuthoredProvider.from_settings(
            {k: v for k, v in settings.dialogue.items() if k in ("threshold",)}, self.fallbacks
        )
        self.provider = provider or build_provider(settings.dialogue, self.fallbacks)
        self.db = Database(settings.db, durability=settings.durability)  # type: ignore[arg-type]
        self.extensions: list[Extension] = [
            cls(self) for cls in (extensions if extensions is not None else default_extensions())
        ]
        self.personas = PersonaStore(settings.personas_dir, checker=self._check_persona)
        self.personas.listeners.append(self._on_reload)
        self.sessions: dict[bytes, Session] = {}
        self.conversations: dict[str, Conversation] = {}
        self._handlers: dict[str, Handler] = {
            "hello": self._on_hello,
            "bye": self._on_bye,
            "game_time": self._on_game_time,
            "conversation_start": self._on_conversation_start,
            "player_text": self._on_player_text,
            "interrupt": self._on_interrupt,
            "conversation_end": self._on_conversation_end,
            "save": self._on_save,
            "load": self._on_load,
        }
        for ext in self.extensions:
            for mtype, handler in ext.handlers().items():
                if mtype in self._handlers:
                    raise ConfigError(f"message type '{mtype}' is handled twice (extension {ext.name})")
                self._handlers[mtype] = handler
        self._zctx: zmq.asyncio.Context | None = None
        self.server: RouterServer | None = None
        self._tasks: list[asyncio.Task[Any]] = []
        self._pending_notices: list[Message] = []
        self._background: set[asyncio.Future[None]] = set()
        self.started = asyncio.Event()
        self.endpoint = ""

    # -- lifecycle ----------------------------------------------------------------------------
    async def start(self) -> str:
        for ext in self.extensions:
            await ext.start()
        self.personas.refresh()
        if not self.personas.ids():
            log.warning("no personas found in %s", self.settings.personas_dir)
        self._pending_notices.clear()  # start-up problems are logged; clients get later ones
        self._zctx = zmq.asyncio.Context()
        self.server = RouterServer(self._zctx, heartbeat_ms=int(self.settings.heartbeat_interval * 1000))
        if self.settings.curve_secret_file is not None:
            self.server.enable_curve(self.settings.curve_secret_file, self.settings.curve_clients_dir)
        self.endpoint = self.server.bind(self.settings.bind)
        self._tasks = [
            asyncio.create_task(self.server.serve(self._on_frame), name="router"),
            asyncio.create_task(self._reaper(), name="reaper"),
            asyncio.create_task(self._reloader(), name="reloader"),
        ]
        log.info("npc-runtime %s serving %d NPCs on %s", __version__, len(self.personas.ids()), self.endpoint)
        self.started.set()
        return self.endpoint

    async def stop(self) -> None:
        for conv in list(self.conversations.values()):
            await conv.close("shutdown")
        for task in self._tasks:
            task.cancel()
        for session in self.sessions.values():
            if session.worker:
                session.worker.cancel()
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
        self.db.close()

    # -- helpers for extensions -----------------------------------------------------------------
    def extension(self, name: str) -> Extension | None:
        for ext in self.extensions:
            if ext.name == name:
                return ext
        return None

    def personas_refresh(self) -> None:
        self.personas.refresh()

    def pick_provider(self, ctx: DialogueContext) -> DialogueProvider:
        """With an LLM provider, a strong match on an authored topic still gets the authored line."""
        if self.provider is self.authored or self.provider.name == "authored":
            return self.provider
        _topic, score = self.authored.match(ctx)
        return self.authored if score >= self.settings.prefer_authored else self.provider

    async def send(self, session: Session, msg: Message) -> None:
        self.send_now(session, msg)

    def send_now(self, session: Session, msg: Message) -> None:
        if self.server is None or session.gone or session.identity not in self.sessions:
            return
        try:
            self.server.send(session.identity, codec.encode(msg))
        except PeerGone:
            session.gone = True  # further sends to it are skipped; logged once
            log.info("client %s is gone; freeing its conversations", session.client or session.id)
            asyncio.get_running_loop().call_soon(self._schedule_drop, session, "disconnect")
        except PeerOverloaded:
            log.warning(
                "client %s is not reading; dropped a %s message",
                session.client or session.id,
                msg.model_fields["type"].default if "type" in msg.model_fields else "?",
            )

    async def broadcast(self, msg: Message) -> None:
        for session in list(self.sessions.values()):
            if session.introduced:
                self.send_now(session, msg)

    # -- frames ---------------------------------------------------------------------------------
    def _on_frame(self, identity: bytes, data: bytes) -> None:
        now = self.clock.monotonic()
        session = self.sessions.get(identity)
        if session is None:
            session = self.sessions[identity] = Session(identity, now)
        session.last_seen = now
        try:
            msg = codec.decode_client(data, self.settings.max_message_bytes)
        except ProtocolError as exc:
            self._reply_error(session, exc)
            return
        mtype: str = msg.type  # type: ignore[attr-defined]
        if mtype == "ping":
            assert isinstance(msg, Ping)
            self.send_now(session, Pong(ref=msg.id, t=msg.t))
            return
        if not session.introduced and mtype != "hello":
            self._reply_error(
                session,
                ProtocolError(
                    ErrorCode.NOT_INTRODUCED, "send 'hello' first (see docs/protocol.md)", ref=msg.id
                ),
            )
            return
        if mtype == "list_npcs":
            assert isinstance(msg, ListNpcs)
            self.send_now(session, Npcs(ref=msg.id, npcs=self._npc_infos()))
            return
        session.inbox.put_nowait(msg)
        if session.worker is None or session.worker.done():
            session.worker = asyncio.create_task(self._session_worker(session))

    async def _session_worker(self, session: Session) -> None:
        while not session.inbox.empty():
            msg = session.inbox.get_nowait()
            handler = self._handlers.get(msg.type)  # type: ignore[attr-defined]
            try:
                if handler is None:
                    raise ProtocolError(ErrorCode.UNKNOWN_TYPE, f"no handler for '{msg.type}'", ref=msg.id)  # type: ignore[attr-defined]
                await handler(session, msg)
            except ProtocolError as exc:
                self._reply_error(session, exc)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.exception("handler for %s failed", msg.type)  # type: ignore[attr-defined]
                self._reply_error(
                    session,
                    ProtocolError(ErrorCode.INTERNAL, f"internal error: {type(exc).__name__}", ref=msg.id),
                )

    def _reply_error(self, session: Session, exc: ProtocolError) -> None:
        self.send_now(session, Error(code=exc.code, message=exc.message, ref=exc.ref))

    def _npc_infos(self) -> list[NpcInfo]:
        return [NpcInfo(id=p.id, name=p.name, role=p.role) for p in self.personas.all()]

    # -- handlers ---------------------------------------------------------------------------------
    async def _on_hello(self, session: Session, msg: Message) -> None:
        assert isinstance(msg, Hello)
        if msg.protocol not in codec.SUPPORTED_PROTOCOLS:
            raise ProtocolError(
                ErrorCode.UNSUPPORTED_PROTOCOL,
                f"protocol {msg.protocol} is not supported; this runtime speaks {sorted(codec.SUPPORTED_PROTOCOLS)}",
                ref=msg.id,
            )
        session.introduced = True
        session.client = msg.client
        session.protocol = msg.protocol
        self.send_now(
            session,
            Welcome(
                ref=msg.id,
                protocol=codec.PROTOCOL_VERSION,
                runtime=__version__,
                session=session.id,
                npcs=self._npc_infos(),
                heartbeat_interval=self.settings.heartbeat_interval,
                client_timeout=self.settings.client_timeout,
                max_message_bytes=self.settings.max_message_bytes,
            ),
        )

    async def _on_bye(self, session: Session, msg: Message) -> None:
        assert isinstance(msg, Bye)
        await self.drop_session(session, "client")

    async def _on_game_time(self, session: Session, msg: Message) -> None:
        assert isinstance(msg, GameTime)
        self.game_time = msg.hours

    def conversation_of(self, session: Session, conversation_id: str, ref: Any) -> Conversation:
        conv = self.conversations.get(conversation_id)
        if conv is None or conv.session is not session:
            raise ProtocolError(
                ErrorCode.UNKNOWN_CONVERSATION, f"no open conversation '{conversation_id}'", ref=ref
            )
        return conv

    async def _on_conversation_start(self, session: Session, msg: Message) -> None:
        assert isinstance(msg, ConversationStart)
        self.personas_refresh()
        missing = [n for n in msg.npc_ids if self.personas.get(n) is None]
        if missing:
            raise ProtocolError(
                ErrorCode.UNKNOWN_NPC,
                f"unknown NPC id(s): {', '.join(missing)}; known: {', '.join(self.personas.ids())}",
                ref=msg.id,
            )
        conv_id = uuid.uuid4().hex[:12]
        conv = Conversation(self, session, conv_id, list(dict.fromkeys(msg.npc_ids)), msg.player_id, msg.mode)
        self.conversations[conv_id] = conv
        session.conversations.add(conv_id)
        try:
            for ext in self.extensions:
                await ext.on_conversation_start(conv)
        except Exception as exc:
            log.exception("conversation %s could not start", conv_id)
            await self.end_conversation(conv, "client", notify=False)
            if isinstance(exc, ProtocolError):
                raise
            raise ProtocolError(
                ErrorCode.INTERNAL, f"the conversation could not start: {type(exc).__name__}", ref=msg.id
            ) from exc
        await self.send(
            session,
            ConversationStarted(
                ref=msg.id,
                conversation_id=conv_id,
                npc_ids=conv.npc_ids,
                player_id=conv.player_id,
                mode=conv.mode,
            ),
        )
        if msg.greet:
            persona = self.personas.get(conv.npc_ids[0])
            assert persona is not None
            greeting = await self._greeting(conv, persona)
            if greeting:
                conv.submit(None, to=persona.id, scripted=(greeting, "greeting"))

    async def _greeting(self, conv: Conversation, persona: Persona) -> str | None:
        from ..dialogue.providers.authored import pick_line

        ctx = DialogueContext(persona=persona, player_id=conv.player_id, player_text="")
        for ext in self.extensions:
            await ext.contribute_context(conv, ctx)
        line = pick_line(persona.greeting, ctx, 0)
        return line.text if line else None

    async def _on_player_text(self, session: Session, msg: Message) -> None:
        assert isinstance(msg, PlayerText)
        conv = self.conversation_of(session, msg.conversation_id, msg.id)
        conv.submit(msg.text, to=msg.to, ref=msg.id)

    async def _on_interrupt(self, session: Session, msg: Message) -> None:
        assert isinstance(msg, Interrupt)
        self.conversation_of(session, msg.conversation_id, msg.id).interrupt()

    async def _on_conversation_end(self, session: Session, msg: Message) -> None:
        assert isinstance(msg, ConversationEnd)
        conv = self.conversation_of(session, msg.conversation_id, msg.id)
        await conv.say_farewell()
        await self.end_conversation(conv, "client")

    async def end_conversation(self, conv: Conversation, reason: str, *, notify: bool = True) -> None:
        self.conversations.pop(conv.id, None)
        conv.session.conversations.discard(conv.id)
        await conv.close(reason, notify=notify)

    async def _on_save(self, session: Session, msg: Message) -> None:
        assert isinstance(msg, Save)
        parts: dict[str, Any] = {}
        for ext in self.extensions:
            part = ext.save_part()
            if part is not None:
                parts[ext.name] = part
        blob = encode_save(SaveBlob(parts=parts))
        await self.send(session, SaveData(ref=msg.id, blob=blob, parts=sorted(parts)))

    async def _on_load(self, session: Session, msg: Message) -> None:
        assert isinstance(msg, Load)
        try:
            blob = decode_save(msg.blob)
            with self.db.transaction() as conn:
                for ext in self.extensions:
                    if ext.name in blob.parts:
                        ext.load_part(blob.parts[ext.name], conn)
        except SaveFormatError as exc:
            raise ProtocolError(ErrorCode.SAVE_INVALID, str(exc), ref=msg.id) from None
        for ext in self.extensions:
            if ext.name in blob.parts:
                ext.after_load()
        await self.send(session, Loaded(ref=msg.id, parts=sorted(blob.parts)))

    # -- liveness and reload ------------------------------------------------------------------
    def _schedule_drop(self, session: Session, reason: str) -> None:
        if session.identity in self.sessions:
            self._spawn(self.drop_session(session, reason))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run a background coroutine, keeping a reference until it finishes."""
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def drop_session(self, session: Session, reason: str) -> None:
        if self.sessions.pop(session.identity, None) is None:
            return
        for conv_id in list(session.conversations):
            conv = self.conversations.get(conv_id)
            if conv is not None:
                await self.end_conversation(conv, reason, notify=False)
        if session.worker and session.worker is not asyncio.current_task():
            session.worker.cancel()

    async def _reaper(self) -> None:
        interval = min(self.settings.heartbeat_interval, self.settings.client_timeout) / 2
        while True:
            await asyncio.sleep(interval)
            now = self.clock.monotonic()
            for session in list(self.sessions.values()):
                if now - session.last_seen > self.settings.client_timeout:
                    log.info(
                        "client %s silent for %.1fs; dropping it",
                        session.client or session.id,
                        now - session.last_seen,
                    )
                    await self.drop_session(session, "timeout")

    async def _reloader(self) -> None:
        while True:
            await asyncio.sleep(self.settings.reload_interval)
            self.personas.refresh()
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
        changed = [npc_id for npc_id, _ in report.loaded]
        for ext in self.extensions:
            try:
                ext.on_personas_changed(changed)
            except Exception:
                log.exception("extension %s failed on persona reload", ext.name)
        if self.started.is_set():
            self._spawn(self._flush_notices())

    async def _flush_notices(self) -> None:
        notices, self._pending_notices = self._pending_notices, []
        for notice in notices:
            await self.broadcast(notice)

    def _check_persona(self, persona: Persona) -> list[tuple[str, str]]:
        problems: list[tuple[str, str]] = []
        for ext in self.extensions:
            problems.extend(ext.check_persona(persona))
        return problems


async def run_forever(runtime: Runtime, stop: asyncio.Event) -> None:
    await runtime.start()
    try:
        await stop.wait()
    finally:
        await runtime.stop()


Callback = Callable[[], Awaitable[None]]
