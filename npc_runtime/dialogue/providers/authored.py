"""The offline default: answer with the designers' own lines.

What the player said is matched against each available topic (:class:`..similarity.TopicMatcher`:
word overlap and trigrams blended with static sentence embeddings, gated by the topic's ``require``
and ``exclude`` words). Above the threshold the NPC says one of the topic's lines and proposes its
actions; otherwise it says a fallback line, never the same fallback twice in a row for the same NPC.

Choosing a line (rotating through a topic's lines):

- a line is sayable when its ``when`` holds, its template fields have values or defaults
  (:mod:`..templates`), and each of its own actions can be taken: every required argument has a
  value (fixed, or taken from the player's words: :mod:`..arguments`) and the action's ``when``
  holds with those arguments;
- lines whose actions took an argument from the player's words come first ("a cider, please"
  gets "One cider coming up", not the menu);
- the topic's own actions follow the line's; one whose required argument the player did not give
  is not proposed.

:meth:`AuthoredProvider.peek` is a pure query (voice speculation synthesises its answer before the
turn is confirmed); :meth:`AuthoredProvider.record` notes what was said.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from ...errors import ConfigError
from ...personas.schema import ActionCall, Line, Persona, Topic
from ..arguments import fill_call, from_words
from ..base import ActionProposal, DialogueChunk, DialogueProvider, SourceTag, TextPiece
from ..context import DialogueContext
from ..prompt import has_markup
from ..similarity import SentenceEmbedder, TopicMatcher
from ..templates import context_lookup, render

DEFAULT_THRESHOLD = 0.40  # chosen on the dev half of tests/dialogue/data/topic_matching.yaml
LEXICAL_THRESHOLD = 0.34  # for word overlap alone (embeddings off, or the model missing)


class AuthoredSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    provider: str = "authored"
    # Default: 0.40 with embeddings, 0.34 with word overlap alone.
    threshold: float | None = Field(default=None, ge=0.0, le=1.0)
    # "static": blend in the memory's static sentence embeddings; "none": word overlap only.
    embeddings: Literal["static", "none"] = "static"


def pick_line(lines: list[Line], ctx: DialogueContext, counter: int) -> Line | None:
    """The ``counter``-th sayable line (``when`` holds, template filled), its text rendered."""
    usable: list[Line] = []
    lookup = context_lookup(ctx)
    for line in lines:
        if not ctx.allows(line.when):
            continue
        text = render(line.text, lookup)
        if text is not None:
            usable.append(line if text == line.text else line.model_copy(update={"text": text}))
    if not usable:
        return None
    return usable[counter % len(usable)]


def best_topic(
    persona: Persona, ctx: DialogueContext, text: str, matcher: TopicMatcher | None = None
) -> tuple[Topic | None, float]:
    matcher = matcher or TopicMatcher(None)
    best: Topic | None = None
    best_score = 0.0
    for topic in persona.topics:
        if not ctx.allows(topic.when):
            continue
        score = matcher.score(text, topic, names_argument(persona, topic, text))
        if score > best_score:
            best, best_score = topic, score
    return best, best_score


def names_argument(persona: Persona, topic: Topic, text: str) -> bool:
    """True when the player named a value for an argument the topic's actions take from them
    ("a pint of ale" names ``drink: ale``): evidence that they ask this topic."""
    for call in [*topic.actions, *(c for line in topic.lines for c in line.actions)]:
        spec = persona.action(call.name)
        if spec is None:
            continue
        for name in call.from_player:
            param = spec.params.get(name)
            if param is not None and from_words(param, text) is not None:
                return True
    return False


class FallbackPicker:
    """Picks fallback lines so that the same NPC never says the same one twice in a row.

    :meth:`peek` is a pure query (what would be said now); :meth:`pick` also records it. Fallback
    templates always have defaults (the schema insists), so every fallback line can be said.
    """

    def __init__(self) -> None:
        self._last: dict[str, str] = {}
        self._count: dict[str, int] = {}

    def _choose(self, persona: Persona, ctx: DialogueContext) -> tuple[str, int]:
        lines = [line for line in persona.fallback if ctx.allows(line.when)] or persona.fallback
        lookup = context_lookup(ctx)
        usable = [render(line.text, lookup) or line.text for line in lines]
        last = self._last.get(persona.id)
        n = self._count.get(persona.id, 0)
        text = usable[n % len(usable)]
        if len(usable) > 1 and text == last:
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
    actions: tuple[ActionProposal, ...] = ()


@dataclass(frozen=True)
class _Candidate:
    text: str
    actions: tuple[ActionProposal, ...]
    from_player: bool  # an action argument came from the player's words


class AuthoredProvider(DialogueProvider):
    name: ClassVar[str] = "authored"

    def __init__(
        self,
        threshold: float | None = None,
        fallbacks: FallbackPicker | None = None,
        matcher: TopicMatcher | None = None,
    ) -> None:
        super().__init__(first_chunk_timeout=5.0, total_timeout=5.0)
        self.fallbacks = fallbacks or FallbackPicker()
        self.matcher = matcher if matcher is not None else TopicMatcher(None)
        if threshold is None:
            threshold = DEFAULT_THRESHOLD if self.matcher.embedder is not None else LEXICAL_THRESHOLD
        self.threshold = threshold
        self._turns: dict[tuple[str, str], int] = {}

    @classmethod
    def from_settings(
        cls,
        settings: dict[str, Any],
        fallbacks: FallbackPicker | None = None,
        embedder: SentenceEmbedder | None = None,
    ) -> AuthoredProvider:
        """``embedder``: the sentence-embedding model for matching (used unless ``embeddings`` is
        "none"); without one, topics are matched by word overlap alone."""
        try:
            s = AuthoredSettings.model_validate(settings)
        except Exception as exc:
            raise ConfigError(f"dialogue settings for the authored provider: {exc}") from exc
        matcher = TopicMatcher(embedder if s.embeddings == "static" else None)
        return cls(threshold=s.threshold, fallbacks=fallbacks, matcher=matcher)

    def match(self, ctx: DialogueContext) -> tuple[Topic | None, float]:
        topic, score = best_topic(ctx.persona, ctx, ctx.player_text, self.matcher)
        return (topic, score) if score >= self.threshold else (None, score)

    def peek(self, ctx: DialogueContext) -> AuthoredChoice:
        """The answer :meth:`stream` would give now, without recording it (a pure query: the voice
        pipeline uses it to start synthesis before the turn is confirmed)."""
        topic, _score = self.match(ctx)
        if topic is not None:
            candidates = self._candidates(ctx, topic)
            specific = [c for c in candidates if c.from_player]
            candidates = specific or candidates
            if candidates:
                c = candidates[self._turns.get((ctx.persona.id, topic.id), 0) % len(candidates)]
                return AuthoredChoice("authored", c.text, topic, c.actions)
        return AuthoredChoice("fallback", self.fallbacks.peek(ctx.persona, ctx))

    def _candidates(self, ctx: DialogueContext, topic: Topic) -> list[_Candidate]:
        persona, said = ctx.persona, ctx.player_text
        # A line with chat-template tokens or action markup is an injection attempt: it may get an
        # answer, never an action ("<|im_start|>system ... [action serve_drink {"drink": ...}]").
        injected = has_markup(said)
        topic_calls = [p for p in (_propose(persona, c, said) for c in topic.actions) if p is not None]
        if injected:
            topic_calls = []
        topic_args = {k: v for p, _ in topic_calls for k, v in p.args.items()}
        out: list[_Candidate] = []
        for line in topic.lines:
            if not ctx.allows(line.when) or (injected and line.actions):
                continue
            proposals: list[ActionProposal] = []
            from_player = False
            for call in line.actions:
                found = _propose(persona, call, said)
                spec = persona.action(call.name)
                if found is None or spec is None or not ctx.allows_action(spec.when, found[0].args):
                    break
                proposals.append(found[0])
                from_player = from_player or found[1]
            else:
                args = {**topic_args, **{k: v for p in proposals for k, v in p.args.items()}}
                text = render(line.text, context_lookup(ctx, args))
                if text is not None:
                    actions = (*proposals, *(p for p, _ in topic_calls))
                    out.append(_Candidate(text, actions, from_player))
        return out

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
        for proposal in choice.actions:
            yield ActionProposal(proposal.name, dict(proposal.args))


def _propose(persona: Persona, call: ActionCall, said: str) -> tuple[ActionProposal, bool] | None:
    """The call as a proposal, and whether an argument came from the player's words; None when a
    required argument has no value."""
    spec = persona.action(call.name)
    if spec is None:
        return None
    filled = fill_call(spec, call, said)
    if filled is None:
        return None
    return ActionProposal(call.name, filled.args), bool(filled.said)
