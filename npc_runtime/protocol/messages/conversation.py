"""Conversation messages: start/end, player text, streamed NPC text, actions, persona notices."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from .base import Message, MessageId

ConversationMode = Literal["text", "push_to_talk", "hands_free"]


# -- client -> runtime ---------------------------------------------------------------------------
class ConversationStart(Message):
    type: Literal["conversation_start"] = "conversation_start"
    npc_ids: list[str] = Field(min_length=1, max_length=8, description="One NPC, or a group")
    player_id: str = Field(default="player", min_length=1, max_length=100)
    mode: ConversationMode = "text"
    greet: bool = Field(default=True, description="Have the NPC say its greeting line first")


class PlayerText(Message):
    type: Literal["player_text"] = "player_text"
    conversation_id: str
    text: str = Field(max_length=2000)
    to: str | None = Field(default=None, description="NPC id addressed in a group conversation")


class Interrupt(Message):
    """Cancel the NPC's reply in flight (the text equivalent of a barge-in)."""

    type: Literal["interrupt"] = "interrupt"
    conversation_id: str


class ConversationEnd(Message):
    type: Literal["conversation_end"] = "conversation_end"
    conversation_id: str


# -- runtime -> client ---------------------------------------------------------------------------
class ConversationStarted(Message):
    type: Literal["conversation_started"] = "conversation_started"
    ref: MessageId | None = None
    conversation_id: str
    npc_ids: list[str]
    player_id: str
    mode: ConversationMode


class NpcTextDelta(Message):
    type: Literal["npc_text_delta"] = "npc_text_delta"
    conversation_id: str
    turn_id: int
    npc_id: str
    seq: int
    text: str


class ActionOut(BaseModel):
    name: str
    args: dict[str, Any] = Field(default_factory=dict)


class NpcTextFinal(Message):
    type: Literal["npc_text_final"] = "npc_text_final"
    ref: MessageId | None = None
    conversation_id: str
    turn_id: int
    npc_id: str
    text: str
    source: Literal["authored", "llm", "fallback", "greeting", "farewell"]
    interrupted: bool = False
    actions: list[ActionOut] = Field(default_factory=list)


class NpcAction(Message):
    type: Literal["npc_action"] = "npc_action"
    conversation_id: str
    turn_id: int
    npc_id: str
    name: str
    args: dict[str, Any] = Field(default_factory=dict)


class ConversationEnded(Message):
    type: Literal["conversation_ended"] = "conversation_ended"
    ref: MessageId | None = None
    conversation_id: str
    reason: Literal["client", "timeout", "disconnect", "shutdown", "persona_removed"]


class ContentProblem(BaseModel):
    file: str
    line: int | None = None
    field: str = ""
    message: str


class PersonaReloaded(Message):
    type: Literal["persona_reloaded"] = "persona_reloaded"
    npc_id: str
    file: str


class PersonaError(Message):
    """A persona file failed to load; the last good version (if any) stays live."""

    type: Literal["persona_error"] = "persona_error"
    file: str
    npc_id: str | None = None
    problems: list[ContentProblem]


CLIENT_MESSAGES = (ConversationStart, PlayerText, Interrupt, ConversationEnd)
SERVER_MESSAGES = (
    ConversationStarted,
    NpcTextDelta,
    NpcTextFinal,
    NpcAction,
    ConversationEnded,
    PersonaReloaded,
    PersonaError,
)

__all__ = [
    "ActionOut",
    "ContentProblem",
    "ConversationEnd",
    "ConversationEnded",
    "ConversationStart",
    "ConversationStarted",
    "Interrupt",
    "NpcAction",
    "NpcTextDelta",
    "NpcTextFinal",
    "PersonaError",
    "PersonaReloaded",
    "PlayerText",
]
