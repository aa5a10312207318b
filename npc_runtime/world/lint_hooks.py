"""Hooks for ``npc-runtime persona lint --world FILE``: check personas against a world file."""

from __future__ import annotations

from pathlib import Path

from ..personas.loader import ConditionChecker
from ..personas.schema import Persona
from .compiled import load_world
from .personas import check_persona


def persona_checker_for(path: Path) -> ConditionChecker:
    """A checker of persona conditions and effects; raises WorldContentError if the world is invalid."""
    world = load_world(path)

    def check(persona: Persona) -> list[tuple[str, str]]:
        return check_persona(world, persona)

    return check
