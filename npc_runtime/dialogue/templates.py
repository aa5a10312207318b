"""Filling authored lines' templates from the turn's dialogue context (see
:mod:`npc_runtime.personas.templates` for the syntax and the fallback rules)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..personas.templates import Lookup, render
from .context import DialogueContext

__all__ = ["context_lookup", "render"]


def context_lookup(ctx: DialogueContext, args: Mapping[str, Any] | None = None) -> Lookup:
    """Values for templates from the turn's context and the line's action arguments."""

    def lookup(name: str) -> Any:
        if name.startswith("arg."):
            return (args or {}).get(name[4:])
        if name in ctx.values:
            return ctx.values[name]
        if name in ctx.world_state:
            return ctx.world_state[name]
        if name.startswith("relationship."):
            return ctx.relationship.get(name[len("relationship.") :])
        if name == "player.name":
            return ctx.player_name
        return None

    return lookup
