"""Conversation messages: start/end, player text, streamed NPC text, actions, persona notices."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator

from .base import Message, MessageId

ConversationMode = Literal["text", "push_to_talk", "hands_free"]


# -- client -> runtime ---------------------------------------------------------------------------
class Ambient(BaseModel):
    """NPCs talking among themselves: the first opens (a seed line, or on a topic), the others
    answer in turn, for at most ``turns`` lines. The player may overhear and join by speaking."""

    topic: str | None = Field(default=None, max_length=500, description="The first NPC opens on this")
    seed_line: str | None = Field(
        default=None, max_length=2000, description="The first NPC's opening line, said as written"
    )
    turns: int = Field(default=6, ge=2, le=20, description="Lines at most, the opening included")


class ConversationStart(Message):
    type: Literal["conversation_start"] = "conversation_start"
    npc_ids: list[str] = Field(min_length=1, max_length=8, description="One NPC, or a group")
    player_id: str = Field(default="player", min_length=1, max_length=100)
    mode: ConversationMode = "text"
    greet: bool = Field(default=True, strict=True, description="Have the NPC say its greeting line first")
    ambient: Ambient | None = Field(default=None, description="Start the NPCs talking among themselves")
    s2s: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="Voice modes: a speech-to-speech profile of the runtime, or 'none' for the cascade "
        "(default: the persona's voice.s2s, else the runtime's voice.s2s.default)",
    )

    @model_validator(mode="after")
    def _ambient_needs_a_group(self) -> ConversationStart:
        if self.ambient is not None:
            if len(set(self.npc_ids)) < 2:
                raise ValueError("an ambient conversation needs at least two different npc_ids")
            if not (self.ambient.topic or self.ambient.seed_line):
                raise ValueError("ambient needs a topic or a seed_line")
        return self


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
    ambient: bool = Field(default=False, description="A line of NPCs talking among themselves")
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
    "Ambient",
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
