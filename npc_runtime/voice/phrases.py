"""Which phrases of a persona are worth synthesising ahead: the first thing each authored line says.

The first piece of a reply is what the player waits for (the rest is synthesised while it plays),
so it is what the phrase cache (:mod:`.tts.cache`) is warmed with: the first sentence of every
greeting, farewell, fallback and topic line, cut as the speaker cuts it (:func:`.sentences.split_first`).
Lines whose first sentence has a template field (``{arg.kind}``) are left out: their text is only
known in the turn.
"""

from __future__ import annotations

from ..personas.schema import Persona
from .sentences import SentenceSplitter, speakable, split_first


def first_piece(line: str) -> str:
    """The text the speaker synthesises first for a reply that is ``line`` ('' if none)."""
    splitter = SentenceSplitter()
    sentences = splitter.feed(line) + splitter.flush()
    for i, sentence in enumerate(sentences):
        # only the reply's first sentence is cut; one that is only a stage direction is skipped
        spoken = speakable(split_first(sentence)[0] if i == 0 else sentence)
        if spoken:
            return spoken
    return ""


def first_phrases(persona: Persona) -> list[str]:
    """The first pieces of the persona's authored lines, greetings first, without repeats."""
    lines = [line.text for group in (persona.greeting, persona.farewell, persona.fallback) for line in group]
    lines += [line.text for topic in persona.topics for line in topic.lines]
    out: dict[str, None] = {}
    for text in lines:
        piece = first_piece(text)
        if piece and "{" not in piece:
            out[piece] = None
    return list(out)
