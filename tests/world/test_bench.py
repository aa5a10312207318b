"""The benchmark tool runs end to end on its generated 10,000-entity / 1,000-quest world."""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))

import bench_world  # noqa: E402


def test_bench_world_writes_its_figures(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    assert bench_world.main(["--events", "300", "--db-events", "50", "--json", str(out)]) == 0
    figures = json.loads(out.read_text())
    assert figures["world"]["entities"] == 10_000 and figures["world"]["quests"] == 1_000
    assert figures["apply_and_transitions"]["count"] == 300
    assert figures["apply_transitions_and_sqlite_commit"]["count"] == 50
    assert figures["events_rejected"] == 0
    assert 0 < figures["apply_and_transitions"]["p50_us"] <= figures["apply_and_transitions"]["p99_us"]
