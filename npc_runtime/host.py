"""The host seam: what a concern (world, memory, voice) may ask of the runtime, and how it plugs in.

The runtime (:mod:`npc_runtime.runtime`) is the only host. It builds each concern's
:class:`Extension` with a :class:`Host` (a narrow, typed port, never the runtime itself) and wires
the few links between concerns explicitly, in ``runtime/app.py`` (``build_extensions``): the world
feeds memory its committed changes (:class:`WorldFeed`), memory lends the world the values it owns
in persona conditions (:class:`ValueSource`), the world tells voice the scene's names. No concern
looks another up by name.

An extension:

- answers its own wire messages: :meth:`Extension.routes`, one typed :func:`route` per message class;
- adds to each turn's dialogue context by returning a :class:`ContextPart` (the runtime merges the
  parts in one place, :func:`npc_runtime.dialogue.context.build_context`);
- observes conversations and finished turns, checks and applies actions, owns a part of the save.

Rules for implementers:
- Handlers must not block the event loop for long; run heavy work with ``asyncio.to_thread``.
- ``on_turn_done`` and ``apply_action`` are shielded from cancellation by the caller: what they
  write must land even when the player barges in.
- Errors a client caused are raised as :class:`~npc_runtime.protocol.ProtocolError`; the host
  answers them with a typed ``error`` and keeps serving.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from .dialogue.actions import ActionRejected
from .dialogue.base import DialogueProvider
from .dialogue.context import ContextPart, DialogueContext, HistoryEntry
from .personas.schema import ActionSpec, Persona
from .protocol.messages import Message

if TYPE_CHECKING:
    from .clock import Clock
    from .settings import Settings
    from .storage.shared import SqlConnection, SqlDatabase

__all__ = [
    "ActionRejected",
    "ContextPart",
    "ConversationControl",
    "ConversationView",
    "Extension",
    "Host",
    "Peer",
    "PersonaCatalog",
    "ReplyWith",
    "Route",
    "TurnRecord",
    "TurnSink",
    "ValueSource",
    "WorldFeed",
    "route",
]

M = TypeVar("M", bound=Message)


# -- what the host offers ----------------------------------------------------------------------------
class Peer(Protocol):
    """A connected game client, as a concern sees it (to address replies)."""

    @property
    def id(self) -> str: ...

    @property
    def name(self) -> str: ...


class PersonaCatalog(Protocol):
    """The live personas (read-only; the host reloads them)."""

    def get(self, npc_id: str) -> Persona | None: ...

    def ids(self) -> list[str]: ...

    def all(self) -> list[Persona]: ...


class ConversationView(Protocol):
    """A conversation, read-only."""

    @property
    def id(self) -> str: ...

    @property
    def npc_ids(self) -> list[str]: ...

    @property
    def player_id(self) -> str: ...

    @property
    def mode(self) -> str: ...

    @property
    def s2s(self) -> str | None:
        """The speech-to-speech profile the client asked for (``none``: the cascade; None: not asked)."""
        ...

    @property
    def closed(self) -> bool: ...

    @property
    def history(self) -> Sequence[HistoryEntry]: ...

    @property
    def turn_context(self) -> DialogueContext | None:
        """The dialogue context of the turn in flight, or of the last one (e.g. for a voice's mood)."""
        ...


ReplyWith = Callable[[DialogueContext, DialogueProvider], DialogueProvider]
"""Given a turn's context and the provider the host picked for it, the provider that answers the
turn instead (e.g. a speech-to-speech model that falls back to the host's pick)."""


class ConversationControl(ConversationView, Protocol):
    """A conversation as the concern that feeds it turns (voice) drives it."""

    async def send(self, msg: Message) -> None:
        """Send a message to the conversation's client."""
        ...

    async def run_turn(self, player_text: str, *, reply_with: ReplyWith | None = None) -> TurnRecord | None:
        """Run one NPC reply to ``player_text`` (waits for a reply in flight to finish first).
        ``reply_with``: answer through another provider (see :data:`ReplyWith`); its text, actions
        and the record go the usual way (deltas, the world's checks, memory)."""
        ...

    def interrupt(self) -> bool:
        """Cancel the reply in flight; False when nothing was streaming."""
        ...

    def prefill(self, player_text: str) -> None:
        """The player's words so far (an interim transcript): a language model may read the next
        turn ahead with them, so little is left to read when the player stops. Returns at once."""
        ...

    def add_sink(self, sink: TurnSink) -> None:
        """Receive every turn's text as it streams (see :class:`TurnSink`)."""
        ...


class Host(Protocol):
    """What an extension may ask of the runtime."""

    @property
    def settings(self) -> Settings: ...

    @property
    def clock(self) -> Clock: ...

    @property
    def db(self) -> SqlDatabase: ...

    @property
    def personas(self) -> PersonaCatalog: ...

    @property
    def game_time(self) -> float:
        """The game's clock in game hours, as the game last reported it."""
        ...

    async def send(self, peer: Peer, msg: Message) -> None: ...

    async def broadcast(self, msg: Message) -> None:
        """Send to every introduced client."""
        ...

    def conversation(self, peer: Peer, conversation_id: str, ref: Any) -> ConversationControl:
        """The peer's open conversation, or a ``ProtocolError`` (unknown_conversation)."""
        ...

    def refresh_personas(self, force: bool = False) -> None:
        """Check the persona files now (``force``: re-check unchanged files, e.g. after a world edit)."""
        ...

    async def preview_reply(self, conv: ConversationView, player_text: str) -> tuple[str, str] | None:
        """Without side effects: (npc id, text) of the authored line a turn would answer with now,
        or None when it cannot tell (an LLM reply, a group conversation)."""
        ...

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run a coroutine in the background; the host keeps it alive and logs its failure."""
        ...

    def input_pending(self) -> bool:
        """True while client messages have arrived that the host has not handled yet: it is
        behind its clients (a busy machine), so a client's silence is not the client's yet."""
        ...


# -- links between concerns, wired once by the host ------------------------------------------------
class ValueSource(Protocol):
    """A concern that owns names in persona conditions and effects (``relationship.trust``)."""

    def expression_values(self, npc_id: str, player_id: str) -> dict[str, Any]: ...


WorldListener = Callable[[Any, str], None]  # (committed change set, cause)


class WorldFeed(Protocol):
    """The world as another concern follows it."""

    @property
    def active(self) -> bool:
        """True when a world is loaded (it then checks and evaluates every persona condition)."""
        ...

    def subscribe(self, listener: WorldListener) -> None:
        """Call ``listener`` after every committed change."""
        ...

    def fact_text(self, fact_id: str) -> str | None: ...


# -- routes ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Route(Generic[M]):
    """A wire message class and the coroutine that answers it."""

    message: type[M]
    handler: Callable[[Peer, M], Awaitable[None]]


def route(message: type[M], handler: Callable[[Peer, M], Awaitable[None]]) -> Route[M]:
    """Pair a message class with its handler; the type checker sees the handler's message type."""
    return Route(message, handler)


# -- turns ---------------------------------------------------------------------------------------------
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


class TurnSink:
    """Receives a turn's text as it streams (the voice extension turns it into speech).

    ``on_end`` may wait a little (e.g. for the client's playback report) and return the text the
    player actually heard; ``None`` means "all of it".
    """

    async def on_start(self, turn_id: int, npc_id: str) -> None:
        return None

    async def on_text(self, turn_id: int, npc_id: str, text: str) -> None:
        return None

    async def on_end(self, turn_id: int, npc_id: str, full_text: str, interrupted: bool) -> str | None:
        return None

    async def on_interrupt(self) -> None:
        """The game asked the NPC to stop (``interrupt``): stop what is being spoken, even when
        the reply's text is complete and only its audio is still playing."""
        return None


@dataclass(frozen=True)
class ContextRequest:
    """What a concern is asked to contribute to: one NPC's turn with one player."""

    persona: Persona
    player_id: str
    player_text: str  # empty for greetings and farewells


# -- the extension base ------------------------------------------------------------------------------
class Extension:
    """A concern plugged into the host. Everything has a do-nothing default."""

    name: str = "extension"

    def __init__(self, host: Host) -> None:
        self.host = host

    # lifecycle -----------------------------------------------------------------------------------
    async def start(self) -> None:
        """Open storage, load files; called once before the server accepts messages."""

    async def stop(self) -> None:
        """Flush and close; called once at shutdown."""

    # wire ------------------------------------------------------------------------------------------
    def routes(self) -> list[Route[Any]]:
        """The client messages this extension answers."""
        return []

    # conversations -----------------------------------------------------------------------------------
    async def on_conversation_start(self, conv: ConversationControl) -> None:
        """A conversation began (a concern that speaks adds its sink here)."""

    async def on_conversation_end(self, conv: ConversationView, reason: str) -> None:
        """A conversation ended (by the client, a time-out or a disconnect)."""

    async def context_part(self, request: ContextRequest) -> ContextPart | None:
        """This concern's share of a turn's dialogue context (None: nothing to add)."""
        return None

    async def on_turn_done(self, conv: ConversationView, record: TurnRecord) -> None:
        """A turn finished; persist what must be remembered (shielded from cancellation). Runs
        before the turn's ``npc_text_final`` is sent: what it wrote is durable when the client
        sees the final. Raising :class:`~npc_runtime.errors.FencedError` (the conversation moved
        to another worker) withholds the final."""

    async def apply_action(
        self, conv: ConversationView, npc_id: str, spec: ActionSpec, args: dict[str, Any]
    ) -> None:
        """Check the action against this concern's rules and apply its effects, or raise
        :class:`ActionRejected`. Called after the persona's own checks passed."""

    # content ------------------------------------------------------------------------------------------
    @classmethod
    def expression_names(cls, settings: Settings) -> dict[str, str]:
        """Names this concern owns in persona conditions and effects -> type (bool | int | float |
        string), e.g. ``{"relationship.trust": "float"}``. A classmethod of the settings, so tools
        (persona lint) can check personas without a running runtime."""
        return {}

    def check_persona(self, persona: Persona) -> list[tuple[str, str]]:
        """Problems in a persona as (field path, message), e.g. unknown names in conditions."""
        return []

    def on_personas_changed(self, npc_ids: list[str]) -> None:
        """Persona files were (re)loaded; e.g. seed new memories."""

    # saves -----------------------------------------------------------------------------------------------
    def save_part(self) -> Any:
        """This concern's part of the save blob (msgpack-able), or None for nothing."""
        return None

    def load_part(self, data: Any, conn: SqlConnection) -> None:
        """Write a save part into storage inside the host's load transaction; raise
        :class:`~npc_runtime.errors.SaveFormatError` to refuse the whole load."""

    def after_load(self) -> None:
        """Refresh in-memory state after a load committed."""


def expression_types(extensions: Sequence[type[Extension]], settings: Settings) -> Mapping[str, str]:
    """Name -> type name of every name the given extension classes own in persona expressions."""
    out: dict[str, str] = {}
    for cls in extensions:
        out.update(cls.expression_names(settings))
    return out
