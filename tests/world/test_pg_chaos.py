"""Real worker subprocesses on one shared world log (PostgreSQL): kill -9 during writes loses no
acknowledged write and duplicates none; a paused (SIGSTOP) owner's late writes are refused after its
conversation moved. The long runs (1,000 trials) are ``tools/cluster_chaos.py``; CI runs 20."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))

import cluster_chaos


def test_kill_9_during_writes_loses_and_duplicates_nothing(pg_dsn: str) -> None:
    report = cluster_chaos.chaos(pg_dsn, trials=20, writers=3, seed=5)
    assert report.trials == 20
    assert report.acked >= 20  # every trial waited for at least one acknowledgement
    assert (report.lost, report.duplicated) == (0, 0), report
    assert report.replay_agrees
    assert report.logged >= report.acked


def test_a_paused_owner_cannot_write_after_its_conversation_moved(pg_dsn: str) -> None:
    report = cluster_chaos.stale_owner(pg_dsn)
    assert (
        report.notes
        and report.notes[0].startswith("old owner: fenced ")
        and report.notes[0].endswith("exit 3")
    )
    assert report.late_writes == 0
    assert (report.lost, report.duplicated) == (0, 0) and report.replay_agrees
