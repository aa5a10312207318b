"""Fixtures for the world tests: the sample village world, engines on fresh state, real SQLite stores."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from npc_runtime.storage import Database
from npc_runtime.world.compiled import World, load_world
from npc_runtime.world.engine import Engine
from npc_runtime.world.service import WorldService
from npc_runtime.world.state import initial_state
from npc_runtime.world.store import WorldStore

REPO = Path(__file__).resolve().parents[2]
VILLAGE = REPO / "personas" / "village.world.yaml"


@pytest.fixture(scope="session")
def village() -> World:
    return load_world(VILLAGE)


@pytest.fixture
def engine(village: World) -> Engine:
    e = Engine(village, initial_state(village))
    e.start()
    return e


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(tmp_path / "world.sqlite3")
    yield database
    database.close()


@pytest.fixture
def service(village: World, db: Database) -> WorldService:
    return WorldService(village, WorldStore(db))
