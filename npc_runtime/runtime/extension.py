"""How a concern (world, memory, voice) plugs into the runtime.

An :class:`Extension` is created by the runtime at start-up (see ``runtime/app.py``), handles its
own wire messages, adds to each turn's dialogue context, observes finished turns, checks and
applies actions, and owns a part of the save blob. Everything has a do-nothing default, so an
extension overrides only what it needs.

Rules for implementers:
- Handlers must not block the event loop for long; run heavy work with ``asyncio.to_thread``.
- ``on_turn_done`` and ``apply_action`` are shielded from cancellation by the caller: what they
  write must land even when the player barges in.
- Errors a client caused are raised as :class:`~npc_runtime.protocol.ProtocolError`; the
  runtime answers them with a typed ``error`` and keeps serving.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..dialogue.context import DialogueContext
from ..personas.schema import ActionSpec, Persona
from ..protocol.messages import Message

if TYPE_CHECKING:
    from .app import Runtime, Session
    from .conversations import Conversation
    from .settings import Settings

Handler = Callable[["Session", Message], Awaitable[None]]


@dataclass
class TurnRecord:
    """One finished NPC turn, as the player perceived it."""

    conversation_id: str
    turn_id: int
    npc_id: str
    player_id: str
    player_text: str | None  # None for greetings/farewells
    npc_text: str  # the full reply the NPC produced
    heard_text: str  # what the player actually heard (shorter after an interruption)
    interrupted: bool
    source: str  # authored | llm | fallback | greeting | farewell
    actions: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    game_time: float | None = None  # game hours, when the game reported it


class ActionRejected(Exception):
    """Raised by :meth:`Extension.apply_action` when the world's rules refuse an action."""


class TurnSink:
    """Receives a turn's text as it streams (the voice extension turns it into speech).

    ``on_end`` may wait a little (e.g. for the client's playback report) and return the text the
    player actually heard; ``None`` means "all of it".
    """

    async def on_start(self, conv: Conversation, turn_id: int, npc_id: str) -> None:
        return None

    async def on_text(self, conv: Conversation, turn_id: int, npc_id: str, text: str) -> None:
        return None

    async def on_end(
        self, conv: Conversation, turn_id: int, npc_id: str, full_text: str, interrupted: bool
    ) -> str | None:
        return None


class Extension:
    name: str = "extension"

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    # lifecycle -----------------------------------------------------------------------------
    async def start(self) -> None:
        """Open storage, load files; called once before the server accepts messages."""

    async def stop(self) -> None:
        """Flush and close; called once at shutdown."""

    # wire ------------------------------------------------------------------------------------
    def handlers(self) -> dict[str, Handler]:
        """Message type -> handler for the client messages this extension owns."""
        return {}

    # conversations -----------------------------------------------------------------------------
    async def on_conversation_start(self, conv: Conversation) -> None:
        """A conversation began (its sinks can be added here)."""

    async def on_conversation_end(self, conv: Conversation, reason: str) -> None:
        """A conversation ended (by the client, a time-out or a disconnect)."""

    async def contribute_context(self, conv: Conversation, ctx: DialogueContext) -> None:
        """Add this concern's knowledge to the turn's dialogue context."""

    async def on_turn_done(self, conv: Conversation, record: TurnRecord) -> None:
        """A turn finished; persist what must be remembered (shielded from cancellation)."""

    async def apply_action(
        self, conv: Conversation, npc_id: str, spec: ActionSpec, args: dict[str, Any]
    ) -> None:
        """Check the action against this concern's rules and apply its effects, or raise
        :class:`ActionRejected`. Called after the persona's own checks passed."""

    # content ------------------------------------------------------------------------------------
    @classmethod
    def expression_names(cls, settings: Settings) -> dict[str, str]:
        """Names this concern owns in persona conditions and effects -> type (bool | int | float |
        string), e.g. ``{"relationship.trust": "float"}``. The world type-checks personas with
        them; this extension puts their values in ``ctx.values`` in :meth:`contribute_context`
        and applies effects on them in :meth:`apply_action`. A classmethod of the settings, so
        tools (persona lint) can check personas without a running runtime."""
        return {}

    def expression_values(self, npc_id: str, player_id: str) -> dict[str, Any]:
        """Current values of :meth:`expression_names` for one NPC and player (e.g. for the world
        to re-check an action's ``when`` right before applying it)."""
        return {}

    def check_persona(self, persona: Persona) -> list[tuple[str, str]]:
        """Problems in a persona as (field path, message), e.g. unknown names in conditions."""
        return []

    def on_personas_changed(self, npc_ids: list[str]) -> None:
        """Persona files were (re)loaded; e.g. seed new memories."""

    # saves ------------------------------------------------------------------------------------
    def save_part(self) -> Any:
        """This concern's part of the save blob (msgpack-able), or None for nothing."""
        return None

    def load_part(self, data: Any, conn: sqlite3.Connection) -> None:
        """Write a save part into storage inside the runtime's load transaction; raise
        :class:`~npc_runtime.errors.SaveFormatError` to refuse the whole load."""

    def after_load(self) -> None:
        """Refresh in-memory state after a load committed."""
