"""Checking persona files against a world: conditions and action effects. No I/O.

Persona ``when:`` conditions are evaluated on the NPC's *view*, so besides unknown names and type
errors, a name the NPC can never see (not in its ``visible_to`` and exposed by no fact) is reported:
such a condition would always be false.

Names other concerns own (``relationship.trust``, from :meth:`Extension.expression_names`) are
passed in as ``external``: they are type-checked here like world variables; their values come from
the turn's dialogue context, and effects on them are applied by their owner.
"""

from __future__ import annotations

import difflib

from ..expr import ExprError, Scope, Type, check_condition, check_effect, param_type
from ..personas.schema import ActionSpec, Line, Persona
from ..personas.templates import BUILTIN_NAMES, template_names
from .compiled import World

External = dict[str, Type] | None


def can_ever_see(world: World, npc: str) -> set[str]:
    """Keys (v:<var>, q:<quest>) the NPC sees now or could see after learning some fact."""
    keys = {"v:" + v for v in world.var_visible.get(npc, ())}
    keys |= {"q:" + q for q in world.quest_visible.get(npc, ())}
    for fact in world.file.facts.values():
        for name in fact.exposes:
            keys.add("q:" + name[len("quest.") :] if name.startswith("quest.") else "v:" + name)
    return keys


def _action_scope(world: World, action: ActionSpec, external: External) -> Scope:
    params = {k: param_type(p) for k, p in action.params.items()}
    return world.scope(params, npc=True, prefix="arg", external=external)


def _conditions(world: World, persona: Persona, external: External) -> list[tuple[str, str, Scope]]:
    """(path, expression, scope) of every condition; an action's ``when`` may read its arguments."""
    scope: Scope = world.scope(npc=True, external=external)
    out: list[tuple[str, str, Scope]] = []
    for path, src in persona.conditions():
        parts = path.split(".")
        if parts[0] == "actions" and parts[-1] == "when":
            out.append((path, src, _action_scope(world, persona.actions[int(parts[1])], external)))
        else:
            out.append((path, src, scope))
    return out


def check_persona(world: World, persona: Persona, external: External = None) -> list[tuple[str, str]]:
    """Errors as (field path, message): unknown names, type errors in conditions and effects, and
    unknown names in line templates (``{player.gold}``)."""
    out: list[tuple[str, str]] = []
    for path, src, scope in _conditions(world, persona, external):
        try:
            check_condition(src, scope)
        except ExprError as exc:
            out.append((path, _msg(exc, src)))
    for i, action in enumerate(persona.actions):
        out.extend(check_action_effects(world, action, f"actions.{i}", external))
    known = set(world.var_types) | {f"quest.{q}" for q in world.quest_types} | set(external or {})
    for path, name in template_fields(persona):
        if name in known or name in BUILTIN_NAMES or name.startswith("arg."):
            continue  # arg.<param> is checked by the schema against the line's actions
        hits = difflib.get_close_matches(name, [*known, *BUILTIN_NAMES], n=1, cutoff=0.6)
        hint = f"; did you mean '{hits[0]}'?" if hits else ""
        out.append((path, f"unknown name '{{{name}}}' in the line's template{hint}"))
    return out


def template_fields(persona: Persona) -> list[tuple[str, str]]:
    """(field path, name) of every template field in the persona's lines."""
    out: list[tuple[str, str]] = []
    groups: list[tuple[str, list[Line]]] = [
        (f"topics.{i}.lines", t.lines) for i, t in enumerate(persona.topics)
    ]
    groups += [(g, getattr(persona, g)) for g in ("greeting", "farewell", "fallback")]
    for prefix, lines in groups:
        for j, line in enumerate(lines):
            out.extend((f"{prefix}.{j}", name) for name in template_names(line.text))
    return out


def persona_warnings(world: World, persona: Persona, external: External = None) -> list[tuple[str, str]]:
    """Warnings: a persona that is no character of the world, conditions the NPC can never satisfy
    because it can never see what they read."""
    npc = persona.id
    if npc not in world.npcs:
        return [("id", f"'{npc}' is not a character of world '{world.file.world}': it sees no world state")]
    out = []
    seeable = can_ever_see(world, npc)
    for path, src, scope in _conditions(world, persona, external):
        try:
            checked = check_condition(src, scope)
        except ExprError:
            continue
        blind = sorted(k for k in checked.reads if k[:2] in ("v:", "q:") and k not in seeable)
        if blind:
            names = ", ".join(("quest." + k[2:]) if k.startswith("q:") else k[2:] for k in blind)
            out.append((path, f"{npc} can never see {names} (not in its visible_to, no fact exposes it)"))
    for path, name in template_fields(persona):
        key = "q:" + name[len("quest.") :] if name.startswith("quest.") else "v:" + name
        if (name in world.var_types or name.startswith("quest.")) and key not in seeable:
            out.append((path, f"{npc} can never see {name}: so the line says its default or is skipped"))
    return out


def check_action_effects(
    world: World, action: ActionSpec, path: str, external: External = None
) -> list[tuple[str, str]]:
    out = []
    params = {k: param_type(p) for k, p in action.params.items()}
    scope = world.scope(params, npc=True, prefix="arg", external=external)
    for j, src in enumerate(action.effects):
        try:
            check_effect(src, scope)
        except ExprError as exc:
            out.append((f"{path}.effects.{j}", _msg(exc, src)))
    return out


def action_writes(world: World, personas: list[Persona]) -> set[str]:
    """Keys persona actions may write (for lint's 'can never fire' analysis)."""
    keys: set[str] = set()
    for persona in personas:
        for action in persona.actions:
            scope = world.scope({k: param_type(p) for k, p in action.params.items()}, npc=True, prefix="arg")
            for src in action.effects:
                try:
                    keys |= check_effect(src, scope).writes
                except ExprError:
                    continue
    return keys


def _msg(exc: ExprError, src: str) -> str:
    col = f" (column {exc.col})" if exc.col else ""
    return f"{exc.message}{col} in '{src}'"
