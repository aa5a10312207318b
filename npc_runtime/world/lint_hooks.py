"""Hooks for ``npc-runtime persona lint --world FILE``: check personas against a world file.

Persona conditions and effects may also use names other concerns own (``relationship.trust``);
the command line passes them in (name -> type name), from the settings the runtime would use.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from ..errors import ConfigError
from ..expr import Type, simple_type
from ..personas.loader import ConditionChecker
from ..personas.schema import Persona
from .compiled import load_world
from .personas import check_persona


def expression_types(names: Mapping[str, str]) -> dict[str, Type]:
    """Name -> type name, as other concerns declare them, to types of the expression language."""
    out: dict[str, Type] = {}
    for name, type_name in names.items():
        try:
            out[name] = simple_type(type_name)
        except ValueError as exc:
            raise ConfigError(f"expression name '{name}': {exc}") from None
    return out


def persona_checker_for(path: Path, external: Mapping[str, str]) -> ConditionChecker:
    """A checker of persona conditions and effects; raises WorldContentError if the world is invalid.

    ``external``: names other concerns own (name -> type name)."""
    world = load_world(path)
    types = expression_types(external)

    def check(persona: Persona) -> list[tuple[str, str]]:
        return check_persona(world, persona, types)

    return check


def world_beside(paths: list[Path]) -> Path | None:
    """The one ``*.world.yaml`` in the folders of the given persona files and folders (the runtime
    finds its world the same way); None when there is none or more than one."""
    from .compiled import WORLD_SUFFIX

    folders = {p if p.is_dir() else p.parent for p in paths}
    found = sorted({w for folder in folders for w in folder.glob(f"*{WORLD_SUFFIX}")})
    return found[0] if len(found) == 1 else None
