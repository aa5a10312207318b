"""Hooks for ``npc-runtime persona lint --world FILE``: check personas against a world file.

Persona conditions and effects may also use names other concerns own (``relationship.trust``);
without a running runtime they are collected from the default extensions'
:meth:`~npc_runtime.runtime.extension.Extension.expression_names`, with the settings the runtime
would use (``NPC_RUNTIME_*`` environment variables, else the defaults).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ..personas.loader import ConditionChecker
from ..personas.schema import Persona
from .compiled import load_world
from .expr import Type
from .personas import check_persona

if TYPE_CHECKING:
    from ..runtime.extension import Extension
    from ..runtime.settings import Settings


def external_types(extensions: list[type[Extension]], settings: Settings) -> dict[str, Type]:
    """Name -> type of every name the given extensions own in persona conditions and effects."""
    from ..errors import ConfigError
    from .expr import simple_type

    out: dict[str, Type] = {}
    for cls in extensions:
        for name, type_name in cls.expression_names(settings).items():
            try:
                out[name] = simple_type(type_name)
            except ValueError as exc:
                raise ConfigError(f"extension {cls.name}: expression name '{name}': {exc}") from None
    return out


def extension_types(settings: Settings | None = None) -> dict[str, Type]:
    """Names the default extensions own, with ``settings`` (default: environment, else defaults)."""
    from ..runtime.app import default_extensions
    from ..runtime.settings import load_settings

    return external_types(default_extensions(), settings or load_settings())


def persona_checker_for(path: Path, external: dict[str, Type] | None = None) -> ConditionChecker:
    """A checker of persona conditions and effects; raises WorldContentError if the world is invalid.

    ``external``: names other concerns own (default: those of the default extensions)."""
    world = load_world(path)
    names = extension_types() if external is None else external

    def check(persona: Persona) -> list[tuple[str, str]]:
        return check_persona(world, persona, names)

    return check
