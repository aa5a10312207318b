"""Hashed character n-gram embeddings: no model file, a fallback when the static model is absent.

Each word contributes its character 3- to 5-grams (with boundary marks) hashed into ``dim``
buckets with a sign, the classic "hashing trick". It catches shared word stems ("wolves"/"wolf")
but knows nothing of synonyms; see docs/memory.md for how it compares.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from ..tokenizer import basic_split
from .base import Embedder


class HashedNgramEmbedder(Embedder):
    name = "hashed"

    def __init__(self, dim: int = 256) -> None:
        super().__init__(dim, f"hashed-ngram-3-5-d{dim}")
        self._word = lru_cache(maxsize=50_000)(self._word_vector)

    def _word_vector(self, word: str) -> np.ndarray:
        vec = np.zeros(self.dim, dtype=np.float32)
        marked = f"<{word}>"
        for n in (3, 4, 5):
            for i in range(max(len(marked) - n + 1, 1)):
                h = zlib.crc32(marked[i : i + n].encode("utf-8"))
                vec[h % self.dim] += 1.0 if (h >> 31) & 1 else -1.0
        return vec

    def _embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in basic_split(text):
                if word.isalnum():
                    out[row] += self._word(word)
        return out
