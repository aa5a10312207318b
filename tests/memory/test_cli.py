"""`npc-runtime memory show` on a real database file, run as the installed command."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from npc_runtime.memory import MemoryService, NewMemory
from npc_runtime.storage import Database


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "npc_runtime.cli", "memory", "show", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_show_explains_retrieval(tmp_path: Path) -> None:
    path = tmp_path / "runtime.sqlite3"
    db = Database(path)
    svc = MemoryService(db)
    svc.remember_turn(
        "mira", "hero", player_text="My name is Aldric; my brother is lost.", heard_text="Oh no.", game_time=9
    )
    svc.observe("mira", "The mill burned down.", importance=8, game_time=2)
    svc.adjust_relationship("mira", "hero", {"trust": 0.2}, game_time=9)
    reflection = svc.store.add(
        NewMemory(
            "mira", "The hero grieves.", kind="reflection", game_time=9, player_id="hero", evidence=(1,)
        )
    )
    db.close()

    res = _run("mira", "--player", "hero", "--query", "who lost a sibling?", "--db", str(path))
    assert res.returncode == 0, res.stderr
    assert "relationship with hero: trust +0.20, affinity +0.00" in res.stdout
    assert "knows: Their name is Aldric." in res.stdout
    assert "score  recency  importance  relevance" in res.stdout
    assert f"#{reflection}" in res.stdout and "because of: #1" in res.stdout

    res = _run("mira", "--query", "a fire", "--db", str(path), "--json", "--at", "12")
    out = json.loads(res.stdout)
    top = out["query"]["results"][0]
    assert top["text"] == "The mill burned down." and top["relevance"] == 1.0
    assert set(top) >= {"score", "recency", "importance_score", "relevance"}
    assert out["memories"] == 4 and out["game_time"] == 12


def test_show_refuses_a_missing_or_foreign_file(tmp_path: Path) -> None:
    res = _run("mira", "--db", str(tmp_path / "missing.sqlite3"))
    assert res.returncode == 2 and "no such database" in res.stderr
    foreign = tmp_path / "foreign.sqlite3"
    foreign.write_bytes(b"not a database at all" * 100)
    res = _run("mira", "--db", str(foreign))
    assert res.returncode == 2 and "npc-runtime:" in res.stderr


def test_show_takes_db_and_weights_from_the_runtime_config(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    db = Database(path)
    svc = MemoryService(db)
    svc.observe("bram", "A wolf pelt hangs by the door.", importance=3, game_time=1)
    db.close()
    config = tmp_path / "runtime.toml"
    config.write_text(
        f'db = "{path}"\n\n[memory.weights]\nrecency = 0.0\nrelevance = 2.0\n', encoding="utf-8"
    )
    res = _run("bram", "--config", str(config), "--query", "wolves", "--json")
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["query"]["weights"] == {"recency": 0.0, "importance": 1.0, "relevance": 2.0}
    assert out["query"]["results"][0]["text"] == "A wolf pelt hangs by the door."


def test_show_reads_a_clusters_postgresql(pg_dsn: str) -> None:
    """In cluster mode the memories live in PostgreSQL: ``--db postgresql://...`` reads them there."""
    pytest.importorskip("psycopg", reason="the cluster extra (psycopg) is not installed")
    from npc_runtime.storage.shared import SharedDatabase

    db = SharedDatabase(pg_dsn, name="writer")
    svc = MemoryService(db)
    svc.remember_turn("mira", "hero", player_text="My name is Aldric.", heard_text="Welcome.", game_time=3)
    svc.observe("mira", "The mill burned down.", importance=8, game_time=2)
    db.close()

    res = _run("mira", "--query", "a fire", "--db", pg_dsn, "--json")
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["memories"] == 3 and out["game_time"] == 3  # heard, said, observed
    best = max(out["query"]["results"], key=lambda r: r["relevance"])
    assert best["text"] == "The mill burned down." and best["relevance"] == 1.0
