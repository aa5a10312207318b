"""The embeddings-provider interface: one module per provider in this package.

A provider implements :meth:`Embedder._embed` for a batch of texts; the base class returns
float32 rows with unit length (so a dot product is the cosine similarity) and checks the shape.
``model_id`` names the exact model: vectors stored under another ``model_id`` are recomputed.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import ClassVar

import numpy as np

from ...errors import ProviderError


class Embedder(ABC):
    name: ClassVar[str] = "base"

    def __init__(self, dim: int, model_id: str) -> None:
        self.dim = dim
        self.model_id = model_id

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-length float32 vectors, one row per text (a zero row for text with no known token)."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        try:
            out = np.asarray(self._embed(texts), dtype=np.float32)
        except ProviderError:
            raise
        except Exception as exc:
            raise ProviderError(f"embeddings.{self.name}", f"{type(exc).__name__}: {exc}") from exc
        if out.shape != (len(texts), self.dim):
            raise ProviderError(
                f"embeddings.{self.name}", f"returned shape {out.shape}, expected {(len(texts), self.dim)}"
            )
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        np.divide(out, norms, out=out, where=norms > 0)
        return out

    def embed_one(self, text: str) -> np.ndarray:
        return self.embed([text])[0]

    @abstractmethod
    def _embed(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors (any scale) for a non-empty batch of texts."""
