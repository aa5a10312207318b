"""Retrieval scoring on a fixed set: recent vs important vs relevant; pruning; context budget."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from npc_runtime.memory import MemoryService, NewMemory, scoring

MakeService = Callable[..., MemoryService]

# (text, importance, game hours): at now=100 the first is recent and dull, the second old and
# important, the third old, dull and about wolves.
FIXED = [
    ("I swept the floor of the common room.", 2.0, 99.0),
    ("The baron was murdered in his bed.", 9.0, 20.0),
    ("Wolves have been taking sheep from the farms.", 3.0, 20.0),
    ("A merchant asked for directions to the market.", 3.0, 60.0),
]
NOW = 100.0


def _fill(svc: MemoryService) -> dict[str, int]:
    ids = svc.store.add_many([NewMemory("mira", t, importance=i, game_time=g) for t, i, g in FIXED])
    return {t.split()[1]: mid for (t, _, _), mid in zip(FIXED, ids, strict=True)}


@pytest.mark.parametrize(
    ("weights", "query", "first"),
    [
        ({"recency": 1, "importance": 0, "relevance": 0}, None, "swept"),
        ({"recency": 0, "importance": 1, "relevance": 0}, None, "baron"),
        ({"recency": 0, "importance": 0, "relevance": 1}, "Are beasts attacking the flocks?", "have"),
        # defaults: a relevant memory wins over a recent one and an important one
        (None, "Are beasts attacking the flocks?", "have"),
        # defaults, no query: the murder (important) beats sweeping (recent but dull)
        (None, None, "baron"),
    ],
)
def test_each_score_ranks_the_fixed_set(
    make_service: MakeService, weights: dict[str, float] | None, query: str | None, first: str
) -> None:
    svc = make_service(**({"weights": weights} if weights else {}))
    ids = _fill(svc)
    found = svc.retrieve("mira", query, now=NOW, k=4)
    assert found[0].memory.id == ids[first]
    assert len(found) == 4 and all(0.0 <= r.recency <= 1.0 and 0.0 <= r.importance <= 1.0 for r in found)


def test_recency_halves_per_half_life_of_game_time() -> None:
    r = scoring.recency(100.0, np.array([100.0, 52.0, 4.0, 130.0]), half_life_hours=48.0)
    assert r == pytest.approx([1.0, 0.5, 0.25, 1.0])


def test_near_ties_are_not_stretched_to_the_full_range() -> None:
    # plain min-max would turn importance 5 vs 5.5 into 0 vs 1 (as strong as 1 vs 10)
    assert scoring.normalise(np.array([5.0, 5.5]), scoring.MIN_SPAN_IMPORTANCE) == pytest.approx([0.0, 0.25])
    assert scoring.normalise(np.array([1.0, 10.0]), scoring.MIN_SPAN_IMPORTANCE) == pytest.approx([0.0, 1.0])
    assert scoring.normalise(np.array([3.0, 3.0]), scoring.MIN_SPAN_IMPORTANCE) == pytest.approx([0.0, 0.0])


def test_top_k_is_ordered_and_prefers_newer_on_ties() -> None:
    assert scoring.top_k(np.array([0.5, 0.9, 0.5, 0.1]), 3).tolist() == [1, 2, 0]
    assert scoring.top_k(np.array([]), 3).tolist() == []


def test_player_filter(service: MemoryService) -> None:
    service.remember_turn("mira", "hero", player_text="I like apples.", heard_text="Good.", game_time=1)
    service.remember_turn("mira", "rogue", player_text="I like pears.", heard_text="Fine.", game_time=1)
    found = service.retrieve("mira", "fruit", now=2, player_id="rogue")
    assert {r.memory.player_id for r in found} == {"rogue"} and len(found) == 2


def test_pruning_keeps_capacity_seeds_and_what_matters(make_service: MakeService) -> None:
    svc = make_service(capacity=10, prune_slack=0.0)
    svc.seed("mira", [("I was born in this inn.", 2.0, None, 0.0)])
    for i in range(30):
        svc.observe("mira", f"Unremarkable event number {i}.", importance=1 + (i % 3), game_time=float(i))
    svc.observe("mira", "The old king died.", importance=10, game_time=1.0)
    assert svc.store.count("mira") == 10
    texts = {m.text for m in svc.store.recent("mira", limit=100)}
    assert "I was born in this inn." in texts  # seeds are never pruned
    assert "The old king died." in texts  # old but important
    assert "Unremarkable event number 0." not in texts  # old and dull
    # the index was rebuilt: retrieval sees exactly what is stored
    assert len(svc.retrieve("mira", "king", now=31, k=50)) == 10


def test_old_unimportant_memories_are_forgotten(make_service: MakeService) -> None:
    svc = make_service(forget_after_hours=24.0, forget_below_importance=3.0)
    svc.observe("mira", "A dull thing.", importance=2, game_time=0.0)
    svc.observe("mira", "A terrible fire.", importance=8, game_time=0.0)
    svc.observe("mira", "Another dull thing, today.", importance=2, game_time=30.0)
    assert {m.text for m in svc.store.recent("mira")} == {"A terrible fire.", "Another dull thing, today."}


def test_context_respects_the_token_budget(make_service: MakeService) -> None:
    svc = make_service(context_token_budget=40, context_max_memories=8)
    for i in range(8):
        svc.observe(
            "mira", f"Memory {i}: the blacksmith's apprentice forged another horseshoe today.", game_time=i
        )
    part = svc.context("mira", "hero", "horseshoes", now=10)
    tok = svc.store.embedder.tokenizer  # type: ignore[union-attr]
    assert 1 <= len(part.memories) < 8
    assert sum(tok.count(line) for line in part.memories) <= 40
    assert part.relationship == {"trust": 0.0, "affinity": 0.0}


def test_context_shows_relationship_and_facts(service: MemoryService) -> None:
    service.remember_turn(
        "mira",
        "hero",
        player_text="My name is Aldric. I promise to pay you back tomorrow.",
        heard_text="Hm.",
        game_time=1,
    )
    service.adjust_relationship("mira", "hero", {"trust": -0.2}, game_time=1)
    part = service.context("mira", "hero", "Do you remember me?", now=2)
    assert part.relationship["trust"] == pytest.approx(-0.2)
    assert part.player_facts == [
        "Their name is Aldric.",
        "They promised: I promise to pay you back tomorrow.",
    ]
    assert any("Aldric" in line for line in part.memories)


def test_top_k_on_large_arrays_is_exact() -> None:
    rng = np.random.default_rng(3)
    for values in (
        rng.random(100_000),
        np.round(rng.random(50_000), 2),
        np.zeros(20_000),
        -rng.random(30_000),
    ):
        values = values.astype(np.float32)
        for k in (1, 10, 512):
            got = scoring.top_k(values, k)
            want = np.sort(values)[::-1][:k]
            assert values[got].tolist() == want.tolist()  # the k best values, best first
            assert len(set(got.tolist())) == k


def test_memories_about_the_player_being_talked_to_are_favoured(service: MemoryService) -> None:
    service.observe("mira", "A traveller asked about the road to the coast.", game_time=1, player_id="hero")
    service.observe("mira", "A traveller asked about the road to the coast.", game_time=1, player_id="rogue")
    service.observe("mira", "A traveller asked about the road to the coast.", game_time=1)
    for who in ("hero", "rogue"):
        found = service.store.retrieve("mira", "the coast road", now=2, k=3, about=who)
        assert found[0].memory.player_id == who
    assert (
        service.store.retrieve("mira", "the coast road", now=2, k=3, about="stranger")[0].memory.player_id
        is None
    )
