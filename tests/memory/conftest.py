"""Fixtures of the memory tests: real SQLite files in tmp_path and the shipped static model."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from npc_runtime.clock import ManualClock
from npc_runtime.memory import MemoryService, MemorySettings
from npc_runtime.memory.embeddings import StaticEmbedder
from npc_runtime.storage import Database


@pytest.fixture(scope="session")
def static_embedder() -> StaticEmbedder:
    return StaticEmbedder()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "memory.sqlite3"


@pytest.fixture
def make_service(db_path: Path, static_embedder: StaticEmbedder) -> Iterator[Callable[..., MemoryService]]:
    opened: list[Database] = []

    def make(path: Path | None = None, embedder: Any = static_embedder, **settings: Any) -> MemoryService:
        db = Database(path or db_path)
        opened.append(db)
        return MemoryService(db, MemorySettings(**settings), clock=ManualClock(), embedder=embedder)

    yield make
    for db in opened:
        db.close()


@pytest.fixture
def service(make_service: Callable[..., MemoryService]) -> MemoryService:
    return make_service()
