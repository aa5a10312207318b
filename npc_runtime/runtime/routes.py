"""The host's own wire messages: the session (hello, bye, game time), conversations and saves."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from .. import __version__
from ..dialogue.providers.authored import pick_line
from ..errors import SaveFormatError
from ..host import Peer, Route, route
from ..protocol import codec
from ..protocol.errors import ErrorCode, ProtocolError
from ..protocol.messages import (
    Bye,
    ConversationEnd,
    ConversationStart,
    ConversationStarted,
    GameTime,
    Hello,
    Interrupt,
    Load,
    Loaded,
    PlayerText,
    Save,
    SaveData,
    WarningMessage,
    Welcome,
)
from ..storage import SaveBlob, decode_save, encode_save
from .conversations import Conversation
from .telemetry import TurnTimer

if TYPE_CHECKING:
    from .app import Runtime

log = logging.getLogger(__name__)


class HostRoutes:
    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime

    def routes(self) -> list[Route[Any]]:
        return [
            route(Hello, self._on_hello),
            route(Bye, self._on_bye),
            route(GameTime, self._on_game_time),
            route(ConversationStart, self._on_conversation_start),
            route(PlayerText, self._on_player_text),
            route(Interrupt, self._on_interrupt),
            route(ConversationEnd, self._on_conversation_end),
            route(Save, self._on_save),
            route(Load, self._on_load),
        ]

    # -- session ----------------------------------------------------------------------------------
    async def _on_hello(self, peer: Peer, msg: Hello) -> None:
        conn = self.rt.own(peer)
        if msg.protocol not in codec.SUPPORTED_PROTOCOLS:
            raise ProtocolError(
                ErrorCode.UNSUPPORTED_PROTOCOL,
                f"protocol {msg.protocol} is not supported; this runtime speaks {sorted(codec.SUPPORTED_PROTOCOLS)}",
                ref=msg.id,
            )
        if not conn.introduced and self.rt.metrics is not None:
            self.rt.metrics.client_connected()
        conn.introduced = True
        conn.name = msg.client
        conn.protocol = msg.protocol
        settings = self.rt.settings
        self.rt.send_now(
            conn,
            Welcome(
                ref=msg.id,
                protocol=codec.PROTOCOL_VERSION,
                runtime=__version__,
                session=conn.id,
                npcs=self.rt.npc_infos(),
                heartbeat_interval=settings.heartbeat_interval,
                client_timeout=settings.client_timeout,
                max_message_bytes=settings.max_message_bytes,
            ),
        )
        if self.rt.exposure is not None:  # every client hears it, not only the server's log
            self.rt.send_now(
                conn, WarningMessage(code=ErrorCode.INSECURE_TRANSPORT, message=self.rt.exposure)
            )

    async def _on_bye(self, peer: Peer, msg: Bye) -> None:
        conn = self.rt.own(peer)
        await self.rt.drop_connection(conn, "client")

    async def _on_game_time(self, peer: Peer, msg: GameTime) -> None:
        self.rt.set_game_time(msg.hours)

    # -- conversations --------------------------------------------------------------------------------
    async def _on_conversation_start(self, peer: Peer, msg: ConversationStart) -> None:
        conn = self.rt.own(peer)
        rt = self.rt
        missing = [n for n in msg.npc_ids if rt.personas.get(n) is None]
        if missing:
            raise ProtocolError(
                ErrorCode.UNKNOWN_NPC,
                f"unknown NPC id(s): {', '.join(missing)}; known: {', '.join(rt.personas.ids())}",
                ref=msg.id,
            )
        conv_id = rt.new_conversation_id(msg)
        conv = Conversation(rt, conn, conv_id, list(dict.fromkeys(msg.npc_ids)), msg.player_id, msg.mode)
        conv.s2s = msg.s2s
        rt.conversations[conv_id] = conv
        conn.conversations.add(conv_id)
        if rt.metrics is not None:
            rt.metrics.conversation_started(conv.mode)
            conv.add_sink(TurnTimer(rt.metrics, rt.clock, conv.mode))  # before voice's sink
        try:
            for ext in rt.extensions:
                await ext.on_conversation_start(conv)
        except Exception as exc:
            if isinstance(exc, ProtocolError):  # refused for the client's reason (e.g. no voice here)
                log.warning("conversation %s could not start: %s", conv_id, exc.message)
            else:
                log.exception("conversation %s could not start", conv_id)
            await rt.end_conversation(conv, "client", notify=False)
            if isinstance(exc, ProtocolError):
                raise ProtocolError(exc.code, exc.message, ref=msg.id) from exc
            raise ProtocolError(
                ErrorCode.INTERNAL, f"the conversation could not start: {type(exc).__name__}", ref=msg.id
            ) from exc
        await rt.send(
            conn,
            ConversationStarted(
                ref=msg.id,
                conversation_id=conv_id,
                npc_ids=conv.npc_ids,
                player_id=conv.player_id,
                mode=conv.mode,
            ),
        )
        rt.prefiller.request(conv, conv.npc_ids[0])  # an LLM reads the NPC's context while the player thinks
        if msg.ambient is not None:
            conv.start_ambient(msg.ambient)
        elif msg.greet:
            persona = rt.personas.get(conv.npc_ids[0])
            if persona is not None and persona.greeting:
                ctx = await rt.context_for(persona, conv.player_id, "")
                line = pick_line(persona.greeting, ctx, 0)
                if line is not None:
                    conv.submit(None, to=persona.id, scripted=(line.text, "greeting"))

    async def _on_player_text(self, peer: Peer, msg: PlayerText) -> None:
        self.rt.conversation(peer, msg.conversation_id, msg.id).submit(msg.text, to=msg.to, ref=msg.id)

    async def _on_interrupt(self, peer: Peer, msg: Interrupt) -> None:
        await self.rt.conversation(peer, msg.conversation_id, msg.id).interrupt_all()

    async def _on_conversation_end(self, peer: Peer, msg: ConversationEnd) -> None:
        conv = self.rt.conversation(peer, msg.conversation_id, msg.id)
        await conv.say_farewell(ref=msg.id)
        await self.rt.end_conversation(conv, "client", ref=msg.id)

    # -- saves -------------------------------------------------------------------------------------------
    async def _on_save(self, peer: Peer, msg: Save) -> None:
        parts: dict[str, Any] = {}
        for ext in self.rt.extensions:
            part = ext.save_part()
            if part is not None:
                parts[ext.name] = part
        blob = encode_save(SaveBlob(parts=parts))
        await self.rt.send(peer, SaveData(ref=msg.id, blob=blob, parts=sorted(parts)))

    async def _on_load(self, peer: Peer, msg: Load) -> None:
        extensions = self.rt.extensions
        try:
            blob = decode_save(msg.blob, self.rt.settings.save_integrity)
            with self.rt.db.transaction() as db:
                for ext in extensions:
                    if ext.name in blob.parts:
                        ext.load_part(blob.parts[ext.name], db)
        except SaveFormatError as exc:
            raise ProtocolError(ErrorCode.SAVE_INVALID, str(exc), ref=msg.id) from None
        for ext in extensions:
            if ext.name in blob.parts:
                ext.after_load()
        await self.rt.send(peer, Loaded(ref=msg.id, parts=sorted(blob.parts)))
        if blob.altered and self.rt.settings.save_integrity == "warn":
            log.warning("loaded a save blob altered outside the runtime (its checksum does not match)")
            await self.rt.send(
                peer,
                WarningMessage(
                    code=ErrorCode.SAVE_ALTERED,
                    message="the save blob was altered after npc-runtime wrote it (its checksum does "
                    "not match); it was loaded because save_integrity is 'warn'",
                    ref=msg.id,
                ),
            )
