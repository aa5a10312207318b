"""World messages: game events in, what changed out, state queries (docs/protocol.md, docs/world.md).

The game reports what happened (``world_event``); the runtime validates it against the world file,
applies it atomically, fires quest transitions, and answers ``world_event_applied`` once the event
is durable (in SQLite). Every change, whatever caused it (a game event, an NPC's action in
dialogue, a rumour, a load), is also sent to every client as ``world_changed``.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

from .base import Message, MessageId
from .conversation import ContentProblem
from .numbers import INT64_MAX, INT64_MIN, GameHours

# The built-in kinds of world event and their fields (name -> expression type). The one
# definition: the world file's rules, the engine and this message all read it.
BUILTIN_EVENT_FIELDS: dict[str, dict[str, str]] = {
    "item_given": {"item": "string", "giver": "string", "receiver": "string"},
    "enemy_killed": {"enemy": "string", "count": "int", "by": "string"},
    "location_entered": {"location": "string", "who": "string"},
}
EVENT_FIELD_NAMES: tuple[str, ...] = tuple(
    dict.fromkeys(f for fields in BUILTIN_EVENT_FIELDS.values() for f in fields)
)
WORLD_EVENT_KINDS: tuple[str, ...] = (*BUILTIN_EVENT_FIELDS, "custom")


# -- client -> runtime ---------------------------------------------------------------------------
class WorldEventMsg(Message):
    """Something happened in the game. Which fields apply depends on ``kind``:

    - ``item_given``: ``item`` (required), ``receiver`` (default "player"), ``giver`` (optional);
    - ``enemy_killed``: ``enemy`` (required), ``count`` (default 1), ``by`` (default "player");
    - ``location_entered``: ``location`` (required), ``who`` (default "player");
    - ``custom``: ``name`` of an event declared in the world file, and its ``payload``.
    """

    type: Literal["world_event"] = "world_event"
    kind: str = Field(json_schema_extra={"enum": list(WORLD_EVENT_KINDS)})
    item: str | None = Field(default=None, max_length=100)
    giver: str | None = Field(default=None, max_length=100)
    receiver: str | None = Field(default=None, max_length=100)
    enemy: str | None = Field(default=None, max_length=100)
    count: int | None = Field(default=None, ge=1, le=1_000_000, strict=True)
    by: str | None = Field(default=None, max_length=100)
    location: str | None = Field(default=None, max_length=100)
    who: str | None = Field(default=None, max_length=100)
    name: str | None = Field(default=None, max_length=100, description="custom: the declared event name")
    payload: dict[str, Any] = Field(default_factory=dict, description="custom: the event's fields")
    witnesses: list[str] = Field(
        default_factory=list, max_length=64, description="NPC ids who saw it happen (they learn of it)"
    )
    game_time: GameHours | None = Field(default=None, description="Game hours; default: the last game_time")

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, value: str) -> str:
        if value not in WORLD_EVENT_KINDS:
            raise ValueError(f"unknown kind {value!r}; one of {', '.join(WORLD_EVENT_KINDS)}")
        return value

    @field_validator("payload")
    @classmethod
    def _plain_payload(cls, payload: dict[str, Any]) -> dict[str, Any]:
        check_plain(payload, "payload")
        return payload


def check_plain(value: Any, path: str, depth: int = 0) -> None:
    """A custom event payload holds plain values: finite numbers, 64-bit ints, short strings, and
    lists and maps of those, nested at most 8 deep with at most 256 items each."""
    if depth > 8:
        raise ValueError(f"{path}: nested deeper than 8 levels")
    if isinstance(value, bool) or value is None:
        return
    if isinstance(value, int):
        if not INT64_MIN <= value <= INT64_MAX:
            raise ValueError(f"{path}: integer out of the 64-bit range")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{path}: not a finite number")
    elif isinstance(value, str):
        if len(value) > 1000:
            raise ValueError(f"{path}: string longer than 1000 characters")
    elif isinstance(value, list | dict):
        if len(value) > 256:
            raise ValueError(f"{path}: more than 256 items")
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, item in items:
            if not isinstance(key, str | int):
                raise ValueError(f"{path}: keys must be strings")
            check_plain(item, f"{path}.{key}", depth + 1)
    else:
        raise ValueError(f"{path}: {type(value).__name__} is not a plain value")


class WorldStateQuery(Message):
    """Ask for the world state: the whole of it, or what one NPC knows (``npc_id``)."""

    type: Literal["world_state"] = "world_state"
    npc_id: str | None = Field(default=None, max_length=100)


class WorldTell(Message):
    """An NPC was told a fact (in dialogue the game scripted, by a letter, ...)."""

    type: Literal["world_tell"] = "world_tell"
    npc_id: str = Field(min_length=1, max_length=100)
    fact: str = Field(min_length=1, max_length=100, description="A fact id of the world file")
    by: str | None = Field(default=None, max_length=100, description="Who told it (default: the player)")
    game_time: GameHours | None = None


class WorldReset(Message):
    """Start a new game: the world returns to the world file's initial state."""

    type: Literal["world_reset"] = "world_reset"


# -- runtime -> client ---------------------------------------------------------------------------
class TransitionOut(BaseModel):
    quest: str
    transition: str
    from_state: str
    to_state: str
    silent: bool = Field(description="True: no NPC is made to speak")
    say_npc: str | None = None
    say_text: str | None = None


class LearnedOut(BaseModel):
    npc: str
    fact: str
    source: str = Field(description="start | witnessed | told:<who> | rumour:<npc> | effect")


class WorldDelta(Message):
    """Fields shared by ``world_event_applied`` and ``world_changed``: only what changed."""

    seq: int = Field(description="Number of the last applied world event")
    game_time: float = 0.0
    variables: dict[str, Any] = Field(default_factory=dict, description="Variable -> new value")
    quests: dict[str, str] = Field(default_factory=dict, description="Quest -> new state")
    transitions: list[TransitionOut] = Field(default_factory=list, description="In the order they fired")
    relations_added: list[list[str]] = Field(default_factory=list, description="[from, type, to]")
    relations_removed: list[list[str]] = Field(default_factory=list)
    learned: list[LearnedOut] = Field(default_factory=list)


class WorldEventApplied(WorldDelta):
    """The event was applied and is durable; what it changed."""

    type: Literal["world_event_applied"] = "world_event_applied"
    ref: MessageId | None = None


class WorldChanged(WorldDelta):
    """Sent to every client after any change of the world."""

    type: Literal["world_changed"] = "world_changed"
    cause: Literal["event", "action", "tell", "time", "load", "reset", "reload"]
    conversation_id: str | None = Field(default=None, description="For changes made by an NPC's action")
    npc_id: str | None = None
    notes: list[str] = Field(default_factory=list, description="load/reload: what reconciliation changed")
    world_hash: str | None = Field(
        default=None, description="load/reset/reload: the world file's content hash"
    )


class WorldFileError(Message):
    """The world file was edited but cannot be used; the last good version stays live."""

    type: Literal["world_file_error"] = "world_file_error"
    file: str
    problems: list[ContentProblem]


class FactOut(BaseModel):
    id: str
    text: str
    source: str
    since: float


class WorldStateReply(Message):
    type: Literal["world_state_reply"] = "world_state_reply"
    ref: MessageId | None = None
    world: str
    world_hash: str
    seq: int
    game_time: float
    npc_id: str | None = None
    variables: dict[str, Any]
    quests: dict[str, str]
    relations: list[list[str]] = Field(default_factory=list, description="Whole-world queries only")
    facts: list[FactOut] = Field(default_factory=list, description="NPC queries: what it knows")


CLIENT_MESSAGES: tuple[type[Message], ...] = (WorldEventMsg, WorldStateQuery, WorldTell, WorldReset)
SERVER_MESSAGES: tuple[type[Message], ...] = (
    WorldEventApplied,
    WorldChanged,
    WorldStateReply,
    WorldFileError,
)
