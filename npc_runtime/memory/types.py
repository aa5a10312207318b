"""Plain data of the memory concern, and its input error."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

from ..errors import NpcRuntimeError

Kind = Literal["heard", "said", "observed", "told", "seed", "reflection"]
KINDS: tuple[str, ...] = ("heard", "said", "observed", "told", "seed", "reflection")
MAX_TEXT_CHARS = 4000
MAX_ID_CHARS = 100


class InvalidMemoryError(NpcRuntimeError, ValueError):
    """A memory, query, relationship or fact given by a caller is malformed."""


@dataclass(frozen=True)
class NewMemory:
    """A memory to write. ``importance`` is on Generative Agents' 1-10 scale (poignancy)."""

    npc_id: str
    text: str
    kind: str = "observed"
    importance: float = 5.0
    game_time: float = 0.0
    player_id: str | None = None
    speaker: str | None = None
    conversation_id: str | None = None
    evidence: tuple[int, ...] = ()

    def validate(self) -> None:
        check_id(self.npc_id, "npc_id")
        if self.player_id is not None:
            check_id(self.player_id, "player_id")
        if not isinstance(self.text, str) or not self.text.strip():
            raise InvalidMemoryError("memory text must be a non-empty string")
        if len(self.text) > MAX_TEXT_CHARS:
            raise InvalidMemoryError(
                f"memory text is {len(self.text)} characters; the limit is {MAX_TEXT_CHARS}: split it"
            )
        if self.kind not in KINDS:
            raise InvalidMemoryError(f"unknown memory kind '{self.kind}'; use one of {', '.join(KINDS)}")
        if not _finite(self.importance) or not 1.0 <= float(self.importance) <= 10.0:
            raise InvalidMemoryError(f"importance must be a number from 1 to 10, got {self.importance!r}")
        if not _finite(self.game_time):
            raise InvalidMemoryError(
                f"game_time must be a finite number of game hours, got {self.game_time!r}"
            )


@dataclass(frozen=True)
class Memory:
    id: int
    npc_id: str
    kind: str
    text: str
    importance: float
    game_time: float
    wall_time: float
    player_id: str | None = None
    speaker: str | None = None
    conversation_id: str | None = None
    evidence: tuple[int, ...] = field(default=())


@dataclass(frozen=True)
class Retrieved:
    """A retrieved memory with the three normalised scores (each 0..1) and the weighted total."""

    memory: Memory
    score: float
    recency: float
    importance: float
    relevance: float


def check_id(value: object, what: str) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_ID_CHARS:
        raise InvalidMemoryError(f"{what} must be a non-empty string of at most {MAX_ID_CHARS} characters")
    return value


def _finite(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def describe(m: Memory, now: float | None = None) -> str:
    """A memory as one line of prose from the NPC's point of view, for prompts and tools."""
    who = m.speaker or m.player_id or "someone"
    if m.kind == "heard" and m.speaker and m.player_id and m.speaker != m.player_id:
        body = f'{m.speaker} said to {m.player_id}: "{m.text}"'
    elif m.kind == "heard":
        body = f'{who} said to me: "{m.text}"'
    elif m.kind == "said":
        body = f'I said to {m.player_id or "someone"}: "{m.text}"'
    elif m.kind == "told":
        body = f"I was told: {m.text}"
    elif m.kind == "reflection":
        body = f"I concluded: {m.text}"
    else:
        body = m.text
    if now is None:
        return body
    return f"({ago(now - m.game_time)}) {body}"


def ago(hours: float) -> str:
    if hours < 1.0:
        return "just now"
    if hours < 36.0:
        return f"{round(hours)} hours ago"
    return f"{round(hours / 24.0)} days ago"
