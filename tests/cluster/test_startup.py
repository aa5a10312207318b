"""Workers started at the same moment on a fresh database: real ``npc-runtime serve --mode worker``
subprocesses (and a gateway) on real PostgreSQL. Each must start, and the world be created once."""

from __future__ import annotations

import sys
from pathlib import Path

import psycopg
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))

from cluster_gateway import local_cluster

pytestmark = pytest.mark.timeout(400)


def test_three_workers_started_at_once_on_a_fresh_database_create_the_world_once(
    pg_dsn: str, tmp_path: Path
) -> None:
    with local_cluster(pg_dsn, tmp_path / "cluster", workers=3) as cluster:  # all three at once
        assert sorted(cluster.live()) == ["w1", "w2", "w3"]
        with psycopg.connect(pg_dsn, autocommit=True) as conn:
            epochs = conn.execute("SELECT epoch, reason FROM world_epochs").fetchall()
            live = conn.execute("SELECT count(*) FROM cluster_workers").fetchone()
        assert epochs == [(1, "new game")]
        assert live == (3,)
