"""Session messages: hello/welcome, ping/pong, errors and warnings, the NPC list, bye."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from .base import Message, MessageId
from .numbers import FiniteFloat, GameHours, ProtocolVersion


class NpcInfo(BaseModel):
    id: str
    name: str
    role: str = ""


# -- client -> runtime ---------------------------------------------------------------------------
class Hello(Message):
    type: Literal["hello"] = "hello"
    protocol: ProtocolVersion = Field(description="Major protocol version the client speaks")
    client: str = Field(default="unknown", max_length=200)


class Ping(Message):
    type: Literal["ping"] = "ping"
    t: FiniteFloat | None = Field(default=None, description="Any finite number; echoed in pong")


class ListNpcs(Message):
    type: Literal["list_npcs"] = "list_npcs"


class Bye(Message):
    type: Literal["bye"] = "bye"


class GameTime(Message):
    """The game's clock, in game hours since the start of the story (memory recency uses it)."""

    type: Literal["game_time"] = "game_time"
    hours: GameHours


class Save(Message):
    """Ask for a save blob of the whole runtime state (world and memory) for the game's save slot."""

    type: Literal["save"] = "save"


class Load(Message):
    """Restore a save blob; all or nothing."""

    type: Literal["load"] = "load"
    blob: bytes


# -- runtime -> client ---------------------------------------------------------------------------
class Welcome(Message):
    type: Literal["welcome"] = "welcome"
    ref: MessageId | None = None
    protocol: int
    runtime: str
    session: str
    npcs: list[NpcInfo]
    heartbeat_interval: float
    client_timeout: float
    max_message_bytes: int


class Pong(Message):
    type: Literal["pong"] = "pong"
    ref: MessageId | None = None
    t: float | None = None


class Npcs(Message):
    type: Literal["npcs"] = "npcs"
    ref: MessageId | None = None
    npcs: list[NpcInfo]


class Error(Message):
    type: Literal["error"] = "error"
    code: str
    message: str
    ref: MessageId | None = None
    conversation_id: str | None = None
    field: str | None = Field(default=None, description="invalid_fields: the first offending field's path")


class WarningMessage(Message):
    type: Literal["warning"] = "warning"
    code: str
    message: str
    ref: MessageId | None = None
    conversation_id: str | None = None


class SaveData(Message):
    type: Literal["save_data"] = "save_data"
    ref: MessageId | None = None
    blob: bytes
    parts: list[str] = Field(default_factory=list, description="Which concerns the blob holds")


class Loaded(Message):
    type: Literal["loaded"] = "loaded"
    ref: MessageId | None = None
    parts: list[str] = Field(default_factory=list)


CLIENT_MESSAGES = (Hello, Ping, ListNpcs, Bye, GameTime, Save, Load)
SERVER_MESSAGES = (Welcome, Pong, Npcs, Error, WarningMessage, SaveData, Loaded)

__all__ = [
    "Bye",
    "Error",
    "GameTime",
    "Hello",
    "ListNpcs",
    "Load",
    "Loaded",
    "NpcInfo",
    "Npcs",
    "Ping",
    "Pong",
    "Save",
    "SaveData",
    "WarningMessage",
    "Welcome",
]
