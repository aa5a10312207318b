"""The cluster simulation (tools/simulate_cluster.py) against results known in closed form."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))

pytest.importorskip("simpy", reason="the cluster extra (simpy) is not installed")

from simulate_cluster import Model, simulate  # noqa: E402


def test_without_contention_throughput_is_conversations_over_the_turn_time() -> None:
    m = Model(
        workers=4, convs_per_worker=10, stage=1.0, cpu_per_turn=0.01, commits_per_turn=2, db_service=0.001
    )
    r = simulate(m, seconds=200.0)
    expected = 40 / (1.0 + 0.01 + 2 * 0.001)
    assert r["turns_per_s"] == pytest.approx(expected, rel=0.05)
    assert r["db_commits_per_s"] == pytest.approx(2 * r["turns_per_s"], rel=0.01)
    assert r["db_utilisation"] == pytest.approx(r["db_commits_per_s"] * 0.001 / 8, abs=0.001)


def test_a_saturated_database_bounds_throughput_and_latency_grows() -> None:
    # 1 database core at 10 ms per commit serves at most 100 commits/s = 50 turns/s
    m = Model(
        workers=10, convs_per_worker=20, stage=0.5, cpu_per_turn=0.001, commits_per_turn=2,
        db_service=0.01, db_cores=1,
    )  # fmt: skip
    r = simulate(m, seconds=100.0)
    assert r["turns_per_s"] == pytest.approx(50.0, rel=0.05)
    assert r["db_utilisation"] > 0.95
    assert r["turn_p50_ms"] > 2000  # 200 conversations queue for 50 turns/s


def test_world_events_of_one_instance_are_serialised_by_its_lock() -> None:
    m = Model(
        workers=50, convs_per_worker=20, stage=0.1, cpu_per_turn=0.0, commits_per_turn=0, db_service=0.0,
        events_per_turn=1.0, lock_hold=0.01,
    )  # fmt: skip
    one = simulate(m, seconds=50.0)
    assert one["world_events_per_s_per_instance"] == pytest.approx(100.0, rel=0.05)  # 1 / lock_hold
    four = simulate(Model(**{**m.__dict__, "instances": 4}), seconds=50.0)
    assert four["turns_per_s"] > 3.5 * one["turns_per_s"]
