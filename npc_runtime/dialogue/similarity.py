"""Matching what a player said against authored topics. Pure (caches aside).

:func:`similarity` is the lexical measure. It blends two scores that fail differently: word overlap
after light normalisation (Jaccard blended with containment, so a short phrasing matches a longer
sentence that contains it; robust to word order and filler words) and character-trigram cosine
(robust to typos, plurals and STT slips such as "smith" vs "smithy"). Both are in [0, 1].

:class:`TopicMatcher` scores a topic: the lexical score blended with the cosine of static sentence
embeddings (the model the memory ships, ``npc_runtime/memory/models/minilm-static``, passed in by
the host), which knows
that "any rumors?" asks what "heard any rumours" asks and "where can I sleep tonight" what "I need
a bed for the night" does. A topic's ``require`` and ``exclude`` words or phrases gate it first.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Protocol

import numpy as np

from ..text import FILLERS, STOPWORDS
from ..text import words as text_words

if TYPE_CHECKING:
    from ..personas.schema import Topic

_IGNORED = STOPWORDS | FILLERS  # words that carry no topic


def _stem(word: str) -> str:
    for suffix in ("ing", "ed", "es", "s", "'s"):
        if len(word) > len(suffix) + 2 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


@lru_cache(maxsize=4096)
def words(text: str) -> frozenset[str]:
    tokens = [_stem(w) for w in text_words(text)]
    content = [t for t in tokens if t not in _IGNORED]
    return frozenset(content or tokens)


@lru_cache(maxsize=4096)
def trigrams(text: str) -> tuple[Counter[str], float]:
    norm = " " + " ".join(text_words(text)) + " "
    grams = Counter(norm[i : i + 3] for i in range(max(len(norm) - 2, 0)))
    return grams, math.sqrt(sum(v * v for v in grams.values())) or 1.0


def similarity(a: str, b: str) -> float:
    wa, wb = words(a), words(b)
    common = len(wa & wb)
    jaccard = common / len(wa | wb) if (wa or wb) else 0.0
    containment = common / min(len(wa), len(wb)) if (wa and wb) else 0.0
    overlap = 0.5 * jaccard + 0.5 * containment
    ga, na = trigrams(a)
    gb, nb = trigrams(b)
    if len(ga) > len(gb):
        ga, gb = gb, ga
    cosine = sum(v * gb.get(k, 0) for k, v in ga.items()) / (na * nb)
    return 0.5 * overlap + 0.5 * cosine


@lru_cache(maxsize=4096)
def stems(text: str) -> tuple[str, ...]:
    """Every word of ``text``, lower-cased and lightly stemmed (stopwords kept), in order."""
    return tuple(_stem(w) for w in text_words(text))


def mentions(text: str, phrases: Sequence[str]) -> bool:
    """True when ``text`` contains one of the words or phrases (whole words, plurals match)."""
    words = stems(text)
    for phrase in phrases:
        target = stems(phrase)
        n = len(target)
        if n and any(words[i : i + n] == target for i in range(len(words) - n + 1)):
            return True
    return False


def gate(text: str, topic: Topic) -> bool:
    """A topic's ``require`` (one of them must be said) and ``exclude`` (none may be) words."""
    if topic.require and not mentions(text, topic.require):
        return False
    return not (topic.exclude and mentions(text, topic.exclude))


class SentenceEmbedder(Protocol):
    """What the matcher needs of an embedding model: unit-length rows, one per text (the memory's
    ``StaticEmbedder`` is one; the host passes it in, as dialogue sits below memory)."""

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...

    def embed_one(self, text: str) -> np.ndarray: ...


class TopicMatcher:
    """Scores how well what the player said asks a topic, in [0, 1].

    score = ``lexical_weight`` x lexical + (1 - ``lexical_weight``) x semantic (+ ``argument_bonus``
    when the player named a value one of the topic's actions takes from their words, such as the
    ``ale`` of ``drink: [ale, cider, brandy]``), where semantic is the best cosine between the
    player's words and a phrasing, rescaled so that ``cosine_floor`` (about what unrelated short
    sentences reach with this model) maps to 0. Without an embedder the score is the lexical one.
    The weights were chosen on the dev half of ``tests/dialogue/data/topic_matching.yaml``
    (``tools/bench_topics.py`` reports both halves). Phrasing vectors are computed once per text.
    """

    def __init__(
        self,
        embedder: SentenceEmbedder | None,
        *,
        lexical_weight: float = 0.5,
        cosine_floor: float = 0.4,
        argument_bonus: float = 0.3,
        gates: bool = True,
    ) -> None:
        self.embedder = embedder
        self.lexical_weight = lexical_weight if embedder is not None else 1.0
        self.cosine_floor = cosine_floor
        self.argument_bonus = argument_bonus
        self.gates = gates  # False: ignore require/exclude (only to measure the matcher before them)
        self._vectors: dict[str, np.ndarray] = {}
        self._text_vector = lru_cache(maxsize=1024)(self._embed)

    def _embed(self, text: str) -> np.ndarray:
        assert self.embedder is not None
        return self.embedder.embed_one(text)

    def _phrasing_vectors(self, phrasings: Sequence[str]) -> np.ndarray:
        missing = [p for p in phrasings if p not in self._vectors]
        if missing and self.embedder is not None:
            if len(self._vectors) > 20_000:  # personas edited for hours: start afresh
                self._vectors.clear()
            for p, vec in zip(missing, self.embedder.embed(missing), strict=True):
                self._vectors[p] = vec
        return np.stack([self._vectors[p] for p in phrasings])

    def semantic(self, text: str, phrasings: Sequence[str]) -> float:
        """The best phrasing's cosine, rescaled to [0, 1] above the floor."""
        if self.embedder is None or not phrasings:
            return 0.0
        cos = float(np.max(self._phrasing_vectors(phrasings) @ self._text_vector(text)))
        return min(max((cos - self.cosine_floor) / (1.0 - self.cosine_floor), 0.0), 1.0)

    def score(self, text: str, topic: Topic, names_argument: bool = False) -> float:
        """The topic's score; 0 when its ``require``/``exclude`` words rule it out."""
        if not text.strip() or (self.gates and not gate(text, topic)):
            return 0.0
        lexical = max(similarity(text, p) for p in topic.phrasings)
        if self.lexical_weight >= 1.0:
            return lexical
        w = self.lexical_weight
        score = w * lexical + (1.0 - w) * self.semantic(text, topic.phrasings)
        if names_argument:
            score += self.argument_bonus
        return min(score, 1.0)
