"""Text similarity for matching what a player said against authored phrasings. Pure functions.

The score blends two measures that fail differently: word overlap after light normalisation
(Jaccard blended with containment, so a short phrasing
matches a longer sentence that contains it; robust to word order and filler words) and character-trigram cosine (robust to typos, plurals
and STT slips such as "smith" vs "smithy"). Both are in [0, 1].
"""

from __future__ import annotations

import math
from collections import Counter
from functools import lru_cache

from ..text import FILLERS, STOPWORDS
from ..text import words as text_words

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
