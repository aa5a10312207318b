"""What a dialogue provider gets for one turn: pure data, no I/O.

The runtime builds a :class:`DialogueContext` and lets each extension add to it (the world adds
the NPC's view and a condition checker, memory adds retrieved memories and the relationship);
providers only read it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..personas.schema import Persona


def _always(_expr: str) -> bool:
    return True


@dataclass
class HistoryEntry:
    speaker: str  # "player" or an npc id
    text: str


@dataclass
class DialogueContext:
    persona: Persona
    player_id: str
    player_text: str
    history: list[HistoryEntry] = field(default_factory=list)
    # Filled by extensions:
    world_facts: list[str] = field(default_factory=list)  # what this NPC knows of the world, as prose
    world_state: dict[str, Any] = field(default_factory=dict)  # variables visible to this NPC
    memories: list[str] = field(default_factory=list)  # retrieved memories, best first
    relationship: dict[str, float] = field(default_factory=dict)  # e.g. {"trust": 0.2}
    player_facts: list[str] = field(default_factory=list)  # what the NPC knows about this player
    condition: Callable[[str], bool] = _always  # evaluates a persona `when:` on the NPC's view
    # Values of names other extensions own in conditions (Extension.expression_names), e.g.
    # {"relationship.trust": 0.2}; condition checkers read it when they evaluate.
    values: dict[str, Any] = field(default_factory=dict)
    others: list[str] = field(default_factory=list)  # other NPC ids in a group conversation
    extra: dict[str, Any] = field(default_factory=dict)

    def allows(self, when: str | None) -> bool:
        """True when a `when:` condition is absent or holds on this NPC's view."""
        if not when:
            return True
        try:
            return bool(self.condition(when))
        except Exception:  # a broken condition hides the content rather than crash a turn
            return False
