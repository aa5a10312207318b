"""Voice messages (owned by the voice work; see docs/protocol.md)."""

from __future__ import annotations

from .base import Message

CLIENT_MESSAGES: tuple[type[Message], ...] = ()
SERVER_MESSAGES: tuple[type[Message], ...] = ()
