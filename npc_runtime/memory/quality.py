"""Retrieval quality on a paraphrase set (tests/memory/data/paraphrases.yaml; docs/memory.md).

Each query is a paraphrase of exactly one memory; a query scores top-1 when that memory is ranked
first by relevance alone, top-3 when it is among the first three. A memory counts as found only
with a relevance above zero, so a lexical search that finds nothing scores nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..storage import Database
from .embeddings import Embedder, HashedNgramEmbedder, StaticEmbedder
from .service import MemoryService
from .settings import MemorySettings, Weights
from .types import NewMemory

MODES = {
    "static": ("static", 0.0),
    "fts5": ("none", 1.0),
    "static+fts5 (0.1)": ("static", 0.1),
    "static+fts5 (0.3)": ("static", 0.3),
    "hashed": ("hashed", 0.0),
}


@dataclass(frozen=True)
class Score:
    mode: str
    queries: str
    top1: int
    top3: int
    n: int


def load_set(path: str | Path) -> dict[str, Any]:
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    if not isinstance(data, dict) or "memories" not in data or "queries" not in data:
        raise ValueError(f"{path}: expected 'memories' and 'queries'")
    return data


def evaluate(
    data: dict[str, Any], mode: str, queries: str = "queries", embedder: Embedder | None = None
) -> Score:
    provider, lam = MODES[mode]
    if embedder is None and provider == "static":
        embedder = StaticEmbedder()
    elif embedder is None and provider == "hashed":
        embedder = HashedNgramEmbedder()
    settings = MemorySettings(
        embeddings=provider,
        lexical_weight=lam,
        weights=Weights(recency=0.0, importance=0.0, relevance=1.0),
    )
    db = Database(":memory:")
    try:
        svc = MemoryService(db, settings, embedder=embedder if provider != "none" else None)
        keys = list(data["memories"])
        ids = svc.store.add_many([NewMemory("npc", str(data["memories"][k])) for k in keys])
        key_of = dict(zip(ids, keys, strict=True))
        top1 = top3 = 0
        for q in data[queries]:
            found = [r for r in svc.retrieve("npc", str(q["q"]), now=0.0, k=3) if r.relevance > 0.0]
            got = [key_of[r.memory.id] for r in found]
            top1 += int(got[:1] == [q["a"]])
            top3 += int(q["a"] in got)
        return Score(mode, queries, top1, top3, len(data[queries]))
    finally:
        db.close()
