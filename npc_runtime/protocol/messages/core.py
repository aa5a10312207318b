"""Session messages: hello/welcome, ping/pong, errors and warnings, the NPC list, bye."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from .base import Message, MessageId


class NpcInfo(BaseModel):
    id: str
    name: str
    role: str = ""


# -- client -> runtime ---------------------------------------------------------------------------
class Hello(Message):
    type: Literal["hello"] = "hello"
    protocol: int = Field(description="Major protocol version the client speaks")
    client: str = Field(default="unknown", max_length=200)


class Ping(Message):
    type: Literal["ping"] = "ping"
    t: float | None = Field(default=None, description="Any number; echoed in pong")


class ListNpcs(Message):
    type: Literal["list_npcs"] = "list_npcs"


class Bye(Message):
    type: Literal["bye"] = "bye"


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


class Warning(Message):
    type: Literal["warning"] = "warning"
    code: str
    message: str
    ref: MessageId | None = None
    conversation_id: str | None = None


CLIENT_MESSAGES = (Hello, Ping, ListNpcs, Bye)
SERVER_MESSAGES = (Welcome, Pong, Npcs, Error, Warning)
