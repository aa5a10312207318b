"""The two-stage relevance scan finds what the exact scan finds."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

from npc_runtime.memory import MemoryService, NewMemory
from npc_runtime.memory.quality import load_set

MakeService = Callable[..., MemoryService]
DATA = load_set(Path(__file__).parent / "data" / "paraphrases.yaml")
WORDS = [
    "bread",
    "cart",
    "river",
    "tower",
    "lantern",
    "goat",
    "smith",
    "ledger",
    "tax",
    "bell",
    "fog",
    "cellar",
    "barley",
    "rope",
    "road",
    "apple",
]


def test_two_stage_search_matches_exact_search(make_service: MakeService, tmp_path: Path) -> None:
    rng = random.Random(5)
    filler = [" ".join(rng.choice(WORDS) for _ in range(8)) for _ in range(3000)]
    items = [
        NewMemory("mira", t, importance=float(rng.randint(1, 10)), game_time=rng.random() * 100)
        for t in filler
    ]
    items += [NewMemory("mira", str(t), importance=5.0, game_time=50.0) for t in DATA["memories"].values()]
    only_relevance = {"weights": {"recency": 0, "importance": 0, "relevance": 1}}
    exact = make_service(tmp_path / "a.sqlite3", exact_search_below=10**9)
    fast = make_service(tmp_path / "b.sqlite3", exact_search_below=0, candidates=256)
    exact_rel = make_service(tmp_path / "a.sqlite3", exact_search_below=10**9, **only_relevance)
    fast_rel = make_service(tmp_path / "b.sqlite3", exact_search_below=0, candidates=256, **only_relevance)
    exact.store.add_many(items)
    fast.store.add_many(items)
    overlap: list[int] = []
    same_top = near = 0
    for q in DATA["queries"]:
        # by relevance alone the candidates hold the exact top 10
        a = [r.memory.id for r in exact_rel.retrieve("mira", q["q"], now=100.0, k=10)]
        b = [r.memory.id for r in fast_rel.retrieve("mira", q["q"], now=100.0, k=10)]
        same_top += a[0] == b[0]
        overlap.append(len(set(a) & set(b)))
        # with all three scores, relevance is normalised with an estimated minimum: near-ties may swap
        a = [r.memory.id for r in exact.retrieve("mira", q["q"], now=100.0, k=3)]
        b = [r.memory.id for r in fast.retrieve("mira", q["q"], now=100.0, k=3)]
        near += b[0] in a
    n = len(DATA["queries"])
    assert sum(overlap) >= 0.95 * 10 * n and same_top >= 0.9 * n and near >= 0.9 * n
    # the index keeps working as memories are appended after it was loaded
    fast.observe("mira", "A griffin nested on the chapel roof.", importance=9, game_time=100.0)
    assert fast.retrieve("mira", "Is there a winged beast on the church?", now=100.0, k=1)[
        0
    ].memory.text.startswith("A griffin")


def test_an_index_built_in_a_thread_catches_up_and_goes_stale(service: MemoryService) -> None:
    store = service.store
    service.observe("mira", "The smith forged a sword.", game_time=1)
    built = store.build_index("mira")  # as a worker thread would
    service.observe("mira", "The baker burned the bread.", game_time=2)  # written meanwhile
    store.install_index("mira", built)
    assert store.has_index("mira")
    assert {r.memory.text for r in service.retrieve("mira", "bread", now=2)} == {
        "The smith forged a sword.",
        "The baker burned the bread.",
    }
    store.invalidate()
    stale = store.build_index("bram")
    store.invalidate()  # e.g. a save was loaded meanwhile
    store.install_index("bram", stale)
    assert not store.has_index("bram")


def test_only_the_most_recently_searched_npcs_keep_vectors_in_ram(make_service: MakeService) -> None:
    svc = make_service(index_cache_npcs=2)
    for npc in ("mira", "bram", "elda"):
        svc.observe(npc, f"{npc} saw a comet.", game_time=0)
    for npc in ("mira", "bram", "elda"):
        assert svc.retrieve(npc, "comet", now=0)[0].memory.npc_id == npc
    assert [svc.store.has_index(n) for n in ("mira", "bram", "elda")] == [False, True, True]
    svc.observe("mira", "mira saw a second comet.", game_time=1)  # written without a loaded index
    assert len(svc.retrieve("mira", "comet", now=1)) == 2
    assert not svc.store.has_index("bram")
