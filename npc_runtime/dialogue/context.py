"""What a dialogue provider gets for one turn: pure data, no I/O.

Each concern contributes one :class:`ContextPart` (the world: the NPC's view and a judge of
conditions; memory: retrieved memories, the relationship and its values); :func:`build_context`
merges them in one place. Providers only read the resulting :class:`DialogueContext`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

from ..expr import EvalError, ExprError
from ..personas.schema import Persona

log = logging.getLogger(__name__)
_warned: set[str] = set()  # conditions already reported as broken (one warning each)

# Judges a persona ``when:`` condition with the turn's values of other concerns' names; returns
# None when the condition is not this judge's to decide.
Judge = Callable[[str, Mapping[str, Any]], bool | None]
# Judges an action's ``when:``, which may read the action's arguments (``arg.<param>``): (condition,
# values, arguments) -> verdict, or None when it is not this judge's to decide.
ActionJudge = Callable[[str, Mapping[str, Any], Mapping[str, Any]], bool | None]


def _always(_expr: str) -> bool:
    return True


@dataclass
class HistoryEntry:
    speaker: str  # "player" or an npc id
    text: str


@dataclass
class ContextPart:
    """One concern's share of a turn's context. Every data field has one owner: two parts that
    set the same field are a wiring error (:func:`build_context` raises)."""

    world_facts: list[str] | None = None  # what this NPC knows of the world, as prose
    hidden_facts: list[str] | None = None  # world facts this NPC does not know (for the output guard)
    world_state: dict[str, Any] | None = None  # variables and quest states visible to this NPC
    memories: list[str] | None = None  # retrieved memories, best first
    relationship: dict[str, float] | None = None  # e.g. {"trust": 0.2}
    player_facts: list[str] | None = None  # what the NPC knows about this player
    player_name: str | None = None  # the name the player told this NPC, for {player.name}
    # Values of names this concern owns in conditions (Extension.expression_names), e.g.
    # {"relationship.trust": 0.2}; every judge sees the values of all parts.
    values: dict[str, Any] = field(default_factory=dict)
    judge: Judge | None = None
    action_judge: ActionJudge | None = None


_DATA_FIELDS = tuple(f.name for f in fields(ContextPart) if f.name not in ("values", "judge", "action_judge"))


@dataclass
class DialogueContext:
    persona: Persona
    player_id: str
    player_text: str
    history: list[HistoryEntry] = field(default_factory=list)
    world_facts: list[str] = field(default_factory=list)
    # World facts this NPC does NOT know, as prose: never put in a prompt, only used by the output
    # guard (dialogue/guard.py) to catch a reply that reveals one.
    hidden_facts: list[str] = field(default_factory=list)
    world_state: dict[str, Any] = field(default_factory=dict)
    memories: list[str] = field(default_factory=list)
    relationship: dict[str, float] = field(default_factory=dict)
    player_facts: list[str] = field(default_factory=list)
    player_name: str | None = None  # the name the player told this NPC (memory), for {player.name}
    condition: Callable[[str], bool] = _always  # evaluates a persona `when:` on the NPC's view
    # Evaluates an action's `when:` that may read the action's arguments (arg.<param>); None: the
    # arguments are unreadable and `condition` decides.
    action_condition: Callable[[str, Mapping[str, Any]], bool] | None = None
    values: dict[str, Any] = field(default_factory=dict)
    others: list[str] = field(default_factory=list)  # other NPC ids in a group conversation
    extra: dict[str, Any] = field(default_factory=dict)

    def allows(self, when: str | None) -> bool:
        """True when a `when:` condition is absent or holds on this NPC's view."""
        if not when:
            return True
        try:
            return bool(self.condition(when))
        except Exception as exc:  # a broken condition hides the content rather than crash a turn
            _broken(self.persona.id, when, exc)
            return False

    def allows_action(self, when: str | None, args: Mapping[str, Any]) -> bool:
        """True when an action's `when:` is absent or holds with these arguments."""
        if not when:
            return True
        if self.action_condition is None:
            return self.allows(when)
        try:
            return bool(self.action_condition(when, args))
        except Exception as exc:  # a broken condition refuses the action rather than crash a turn
            _broken(self.persona.id, when, exc)
            return False


def _broken(npc_id: str, when: str, exc: Exception) -> None:
    """Report a condition that failed to evaluate: once per condition for the known failures (a
    bad expression or value, a name the world no longer has; ``persona lint`` finds them first),
    with the traceback for anything else (a bug)."""
    key = f"{npc_id}\0{when}"
    if key in _warned:
        return
    if len(_warned) < 10_000:
        _warned.add(key)
    if isinstance(exc, ExprError | EvalError | LookupError | TypeError | ValueError):
        log.warning("%s: condition %r failed (%s: %s); taken as false", npc_id, when, type(exc).__name__, exc)
    else:
        log.exception("%s: condition %r failed; taken as false", npc_id, when)


def build_context(
    persona: Persona,
    player_id: str,
    player_text: str,
    parts: Sequence[ContextPart],
    *,
    history: Sequence[HistoryEntry] = (),
    others: Sequence[str] = (),
) -> DialogueContext:
    """Merge the concerns' parts into one context.

    Data fields are order-free (one owner each). Conditions go to the parts' judges in the order
    of ``parts``: the first judge that claims a condition decides it; one nobody claims holds. The
    host states that order where it gathers the parts (``Runtime.context_for``).
    """
    ctx = DialogueContext(
        persona=persona,
        player_id=player_id,
        player_text=player_text,
        history=list(history),
        others=list(others),
    )
    owners: dict[str, int] = {}
    judges: list[Judge] = []
    action_judges: list[ActionJudge] = []
    for i, part in enumerate(parts):
        for name in _DATA_FIELDS:
            value = getattr(part, name)
            if value is None:
                continue
            if name in owners:
                raise ValueError(f"context field '{name}' is set by parts {owners[name]} and {i}")
            owners[name] = i
            setattr(ctx, name, value)
        ctx.values.update(part.values)
        if part.judge is not None:
            judges.append(part.judge)
        if part.action_judge is not None:
            action_judges.append(part.action_judge)
    if judges:
        values = ctx.values

        def condition(src: str) -> bool:
            for judge in judges:
                verdict = judge(src, values)
                if verdict is not None:
                    return verdict
            return True

        ctx.condition = condition
    if action_judges:
        action_values = ctx.values

        def action_condition(src: str, args: Mapping[str, Any]) -> bool:
            for judge in action_judges:
                verdict = judge(src, action_values, args)
                if verdict is not None:
                    return verdict
            return ctx.condition(src)

        ctx.action_condition = action_condition
    return ctx
