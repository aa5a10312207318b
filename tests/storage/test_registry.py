"""The worker registry on a real PostgreSQL server, and placement by the power of two choices."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator

import pytest

from npc_runtime.storage.postgres import PgDatabase
from npc_runtime.storage.registry import NoLiveWorker, Placements, Registry, WorkerInfo, pick


@pytest.fixture
def db(pg_dsn: str) -> Iterator[PgDatabase]:
    database = PgDatabase(pg_dsn)
    yield database
    database.close()


def test_live_workers_are_those_with_a_recent_heartbeat(db: PgDatabase) -> None:
    reg = Registry(db, max_age=30.0)
    reg.heartbeat("w1", "tcp://10.0.0.1:7600", 3)
    reg.heartbeat("w2", "tcp://10.0.0.2:7600", 1)
    reg.heartbeat("w1", "tcp://10.0.0.1:7600", 4)  # a later report replaces the earlier one
    # A worker that stopped reporting: its last heartbeat is a minute old (by the database's clock).
    reg.heartbeat("w3", "tcp://10.0.0.3:7600", 0)
    db.execute("UPDATE cluster_workers SET heartbeat_at = now() - interval '60 seconds' WHERE id='w3'")
    live = reg.live()
    assert [(w.id, w.endpoint, w.load) for w in live] == [
        ("w1", "tcp://10.0.0.1:7600", 4.0),
        ("w2", "tcp://10.0.0.2:7600", 1.0),
    ]
    assert all(0 <= w.age < 30 for w in live)
    reg.leave("w2")
    assert [w.id for w in reg.live()] == ["w1"]
    assert reg.place(random.Random(1)).id == "w1"
    with pytest.raises(NoLiveWorker):
        reg.place(random.Random(1), exclude=frozenset({"w1"}))  # the dead one is never chosen


def test_two_choices_never_pick_the_most_loaded_and_favour_the_least() -> None:
    workers = [WorkerInfo(f"w{i}", "", float(load), 0.0) for i, load in enumerate([0, 5, 10, 20])]
    rng = random.Random(7)
    counts = Counter(pick(workers, rng).id for _ in range(6000))
    assert "w3" not in counts  # the most loaded loses every pair it is drawn in
    # Each of the 6 pairs is equally likely: w0 wins 3 of them, w1 2, w2 1.
    assert counts["w0"] > counts["w1"] > counts["w2"] > 0
    assert abs(counts["w0"] / 6000 - 0.5) < 0.05
    assert pick(workers[:1], rng).id == "w0"
    with pytest.raises(NoLiveWorker):
        pick([], rng)


def test_a_burst_of_placements_spreads_over_workers_with_stale_heartbeats(db: PgDatabase) -> None:
    """64 conversations placed at once, all reading the same heartbeats (equal loads): counting the
    gateway's own placements since each heartbeat keeps them even; without it they follow chance."""
    registry = Registry(db, max_age=60.0)
    for k in range(4):
        registry.heartbeat(f"w{k}", f"tcp://127.0.0.1:{7601 + k}", 0.0)
    now = [1000.0]
    placed = Placements(clock=lambda: now[0])
    rng = random.Random(7)
    spread = Counter(registry.place(rng, placed=placed).id for _ in range(64))
    assert sorted(spread.values()) == [16, 16, 16, 16]
    rng = random.Random(7)
    blind = Counter(registry.place(rng).id for _ in range(64))
    assert max(blind.values()) - min(blind.values()) > 2  # (seeded: the same draw every run)
    # A heartbeat after the placements carries them in its load: they stop being counted twice.
    now[0] += 120.0
    for k in range(4):
        registry.heartbeat(f"w{k}", f"tcp://127.0.0.1:{7601 + k}", 16.0)
    adjusted = placed.adjust(registry.live())
    assert [w.load for w in adjusted] == [16.0, 16.0, 16.0, 16.0]
