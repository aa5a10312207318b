"""Embedding providers for memory relevance, chosen by name in ``settings.memory.embeddings``."""

from __future__ import annotations

from functools import lru_cache

from ...errors import ConfigError
from .base import Embedder
from .hashed import HashedNgramEmbedder
from .static import DEFAULT_MODEL_DIR, StaticEmbedder

PROVIDERS = ("static", "hashed", "none")


def make_embedder(name: str, *, model_dir: str | None = None) -> Embedder | None:
    """The embedder named ``name``; ``none`` means lexical (FTS5) relevance only."""
    if name == "static":
        return shared_static(model_dir)  # read-only: one copy per process (0.3 s and 15 MB each)
    if name == "hashed":
        return HashedNgramEmbedder()
    if name == "none":
        return None
    raise ConfigError(f"unknown memory embeddings provider '{name}'; use one of {', '.join(PROVIDERS)}")


@lru_cache(maxsize=4)
def shared_static(model_dir: str | None = None) -> StaticEmbedder:
    """The static model, loaded once per process and shared (it is read-only); raises ConfigError
    when it cannot be loaded. Authored topic matching uses it too."""
    return StaticEmbedder(model_dir)


__all__ = [
    "DEFAULT_MODEL_DIR",
    "PROVIDERS",
    "Embedder",
    "HashedNgramEmbedder",
    "StaticEmbedder",
    "make_embedder",
    "shared_static",
]
