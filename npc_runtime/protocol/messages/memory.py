"""Memory messages: what an NPC remembers, and its relationship with a player (docs/protocol.md).

The game may tell an NPC something it witnessed or heard as rumour (``memory_add``), ask what an
NPC would recall (``memory_query``), and read or change relationships (``relationship_get``,
``relationship_adjust``, ``relationship_set``) and facts about a player (``player_fact_add``).
The runtime sends ``relationship_changed`` to every client whenever a relationship value moves,
whether the game, a dialogue action or the world changed it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from .base import Message, MessageId
from .numbers import Delta, GameHours, Importance


# -- client -> runtime ---------------------------------------------------------------------------
class MemoryAdd(Message):
    type: Literal["memory_add"] = "memory_add"
    npc_id: str = Field(min_length=1, max_length=100)
    text: str = Field(min_length=1, max_length=4000, description="What the NPC perceived, as prose")
    kind: Literal["observed", "told"] = Field(default="observed", description="Witnessed, or heard as rumour")
    importance: Importance = Field(default=5.0, description="1 (mundane) to 10 (life-changing)")
    player_id: str | None = Field(default=None, max_length=100, description="The player it concerns")
    game_time: GameHours | None = Field(default=None, description="Game hours; default: the last game_time")


class MemoryQuery(Message):
    type: Literal["memory_query"] = "memory_query"
    npc_id: str = Field(min_length=1, max_length=100)
    query: str | None = Field(default=None, max_length=2000, description="Omit for the most salient memories")
    player_id: str | None = Field(default=None, max_length=100, description="Only memories about this player")
    limit: int = Field(default=10, ge=1, le=50, strict=True)


class RelationshipGet(Message):
    type: Literal["relationship_get"] = "relationship_get"
    npc_id: str = Field(min_length=1, max_length=100)
    player_id: str = Field(min_length=1, max_length=100)


class RelationshipAdjust(Message):
    type: Literal["relationship_adjust"] = "relationship_adjust"
    npc_id: str = Field(min_length=1, max_length=100)
    player_id: str = Field(min_length=1, max_length=100)
    changes: dict[str, Delta] = Field(
        min_length=1, max_length=64, description="Dimension -> amount to add (clamped)"
    )
    reason: str | None = Field(default=None, max_length=200)


class RelationshipSet(Message):
    type: Literal["relationship_set"] = "relationship_set"
    npc_id: str = Field(min_length=1, max_length=100)
    player_id: str = Field(min_length=1, max_length=100)
    values: dict[str, Delta] = Field(
        min_length=1, max_length=64, description="Dimension -> new value (clamped)"
    )
    reason: str | None = Field(default=None, max_length=200)


class PlayerFactAdd(Message):
    type: Literal["player_fact_add"] = "player_fact_add"
    npc_id: str = Field(min_length=1, max_length=100)
    player_id: str = Field(min_length=1, max_length=100)
    kind: Literal["name", "promise", "deed", "fact"] = "fact"
    text: str = Field(min_length=1, max_length=500)


# -- runtime -> client ---------------------------------------------------------------------------
class MemoryOut(BaseModel):
    id: int
    kind: str
    text: str
    importance: float
    game_time: float
    player_id: str | None = None
    score: float | None = Field(default=None, description="Weighted total (retrieval only)")
    recency: float | None = Field(default=None, description="Normalised 0..1")
    importance_score: float | None = Field(default=None, description="Normalised 0..1")
    relevance: float | None = Field(default=None, description="Normalised 0..1")


class MemoryAdded(Message):
    type: Literal["memory_added"] = "memory_added"
    ref: MessageId | None = None
    npc_id: str
    memory_id: int


class MemoryResults(Message):
    type: Literal["memory_results"] = "memory_results"
    ref: MessageId | None = None
    npc_id: str
    memories: list[MemoryOut]


class Relationship(Message):
    type: Literal["relationship"] = "relationship"
    ref: MessageId | None = None
    npc_id: str
    player_id: str
    values: dict[str, float]
    facts: list[str] = Field(default_factory=list)


class RelationshipChanged(Message):
    type: Literal["relationship_changed"] = "relationship_changed"
    npc_id: str
    player_id: str
    values: dict[str, float] = Field(description="Every dimension after the change")
    changes: dict[str, float] = Field(description="Dimension -> applied change, after clamping")
    reason: str | None = None


CLIENT_MESSAGES: tuple[type[Message], ...] = (
    MemoryAdd,
    MemoryQuery,
    RelationshipGet,
    RelationshipAdjust,
    RelationshipSet,
    PlayerFactAdd,
)
SERVER_MESSAGES: tuple[type[Message], ...] = (MemoryAdded, MemoryResults, Relationship, RelationshipChanged)
