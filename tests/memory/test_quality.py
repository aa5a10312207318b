"""The shipped static model against FTS5 on the paraphrase set (numbers in docs/memory.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from npc_runtime.memory.embeddings import StaticEmbedder
from npc_runtime.memory.quality import evaluate, load_set

DATA = load_set(Path(__file__).parent / "data" / "paraphrases.yaml")


def test_the_set_is_big_enough() -> None:
    assert len(DATA["queries"]) >= 20
    assert all(q["a"] in DATA["memories"] for q in DATA["queries"] + DATA["name_queries"])


def test_static_model_beats_fts5_on_paraphrases(static_embedder: StaticEmbedder) -> None:
    static = evaluate(DATA, "static", embedder=static_embedder)
    fts = evaluate(DATA, "fts5")
    # measured: static 17/30 top-1, 24/30 top-3; FTS5 0/30 and 0/30
    assert static.top1 >= fts.top1 + 12
    assert static.top3 >= fts.top3 + 18
    assert static.top3 >= 20


@pytest.mark.parametrize("mode", ["static", "static+fts5 (0.1)"])
def test_names_are_found_with_and_without_bm25(static_embedder: StaticEmbedder, mode: str) -> None:
    score = evaluate(DATA, mode, "name_queries", embedder=static_embedder)
    assert score.top1 == score.n == 8  # measured: 8/8 for both; FTS5 alone 6/8
