"""The offline default: answer with the designers' own lines.

What the player said is matched against each available topic's example phrasings
(:mod:`..similarity`); above the threshold the NPC says one of the topic's lines (rotating, skipping
lines whose ``when`` fails) and proposes the topic's actions. Otherwise it says a fallback line,
never the same fallback twice in a row for the same NPC.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from ...errors import ConfigError
from ...personas.schema import Line, Persona, Topic
from ..base import ActionProposal, DialogueChunk, DialogueProvider, SourceTag, TextPiece
from ..context import DialogueContext
from ..similarity import similarity


class AuthoredSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    provider: str = "authored"
    threshold: float = Field(default=0.34, ge=0.0, le=1.0)


def pick_line(lines: list[Line], ctx: DialogueContext, counter: int) -> Line | None:
    usable = [line for line in lines if ctx.allows(line.when)]
    if not usable:
        return None
    return usable[counter % len(usable)]


def best_topic(persona: Persona, ctx: DialogueContext, text: str) -> tuple[Topic | None, float]:
    best: Topic | None = None
    best_score = 0.0
    for topic in persona.topics:
        if not ctx.allows(topic.when):
            continue
        score = max(similarity(text, p) for p in topic.phrasings)
        if score > best_score:
            best, best_score = topic, score
    return best, best_score


class FallbackPicker:
    """Picks fallback lines so that the same NPC never says the same one twice in a row.

    :meth:`peek` is a pure query (what would be said now); :meth:`pick` also records it.
    """

    def __init__(self) -> None:
        self._last: dict[str, str] = {}
        self._count: dict[str, int] = {}

    def _choose(self, persona: Persona, ctx: DialogueContext) -> tuple[str, int]:
        usable = [line.text for line in persona.fallback if ctx.allows(line.when)] or [
            line.text for line in persona.fallback
        ]
        n = self._count.get(persona.id, 0)
        text = usable[n % len(usable)]
        if len(usable) > 1 and text == self._last.get(persona.id):
            n += 1
            text = usable[n % len(usable)]
        return text, n

    def peek(self, persona: Persona, ctx: DialogueContext) -> str:
        return self._choose(persona, ctx)[0]

    def pick(self, persona: Persona, ctx: DialogueContext) -> str:
        text, n = self._choose(persona, ctx)
        self._count[persona.id] = n + 1
        self._last[persona.id] = text
        return text


@dataclass(frozen=True)
class AuthoredChoice:
    """What the authored provider would answer: a topic line (with its actions) or a fallback."""

    source: Literal["authored", "fallback"]
    text: str
    topic: Topic | None = None


class AuthoredProvider(DialogueProvider):
    name: ClassVar[str] = "authored"

    def __init__(self, threshold: float = 0.34, fallbacks: FallbackPicker | None = None) -> None:
        super().__init__(first_chunk_timeout=5.0, total_timeout=5.0)
        self.threshold = threshold
        self.fallbacks = fallbacks or FallbackPicker()
        self._turns: dict[tuple[str, str], int] = {}

    @classmethod
    def from_settings(
        cls, settings: dict[str, Any], fallbacks: FallbackPicker | None = None
    ) -> AuthoredProvider:
        try:
            s = AuthoredSettings.model_validate(settings)
        except Exception as exc:
            raise ConfigError(f"dialogue settings for the authored provider: {exc}") from exc
        return cls(threshold=s.threshold, fallbacks=fallbacks)

    def match(self, ctx: DialogueContext) -> tuple[Topic | None, float]:
        topic, score = best_topic(ctx.persona, ctx, ctx.player_text)
        return (topic, score) if score >= self.threshold else (None, score)

    def peek(self, ctx: DialogueContext) -> AuthoredChoice:
        """The answer :meth:`stream` would give now, without recording it (a pure query: the voice
        pipeline uses it to start synthesis before the turn is confirmed)."""
        topic, _score = self.match(ctx)
        if topic is not None:
            line = pick_line(topic.lines, ctx, self._turns.get((ctx.persona.id, topic.id), 0))
            if line is not None:
                return AuthoredChoice("authored", line.text, topic)
        return AuthoredChoice("fallback", self.fallbacks.peek(ctx.persona, ctx))

    def record(self, ctx: DialogueContext, choice: AuthoredChoice) -> None:
        """Note that ``choice`` was said, so the next answer rotates."""
        if choice.topic is not None:
            key = (ctx.persona.id, choice.topic.id)
            self._turns[key] = self._turns.get(key, 0) + 1
        else:
            self.fallbacks.pick(ctx.persona, ctx)

    async def _stream(self, ctx: DialogueContext) -> AsyncIterator[DialogueChunk]:
        choice = self.peek(ctx)
        self.record(ctx, choice)
        yield SourceTag(choice.source)
        yield TextPiece(choice.text)
        if choice.topic is not None:
            for call in choice.topic.actions:
                yield ActionProposal(call.name, dict(call.args))
