"""The expression language is exercised on the sample village's world (its names and types)."""

from __future__ import annotations

from pathlib import Path

import pytest

from npc_runtime.world.compiled import World, load_world

VILLAGE = Path(__file__).resolve().parents[2] / "personas" / "village.world.yaml"


@pytest.fixture(scope="session")
def village() -> World:
    return load_world(VILLAGE)
