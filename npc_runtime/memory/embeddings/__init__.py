"""Embedding providers for memory relevance, chosen by name in ``settings.memory.embeddings``."""

from __future__ import annotations

from ...errors import ConfigError
from .base import Embedder
from .hashed import HashedNgramEmbedder
from .static import DEFAULT_MODEL_DIR, StaticEmbedder

PROVIDERS = ("static", "hashed", "none")


def make_embedder(name: str, *, model_dir: str | None = None) -> Embedder | None:
    """The embedder named ``name``; ``none`` means lexical (FTS5) relevance only."""
    if name == "static":
        return StaticEmbedder(model_dir)
    if name == "hashed":
        return HashedNgramEmbedder()
    if name == "none":
        return None
    raise ConfigError(f"unknown memory embeddings provider '{name}'; use one of {', '.join(PROVIDERS)}")


__all__ = [
    "DEFAULT_MODEL_DIR",
    "PROVIDERS",
    "Embedder",
    "HashedNgramEmbedder",
    "StaticEmbedder",
    "make_embedder",
]
