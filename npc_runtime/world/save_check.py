"""Check a world state document from a save blob before anything is changed. No I/O.

A save blob is a file on the player's disk: it may have been edited, cut or made by another tool.
:func:`check_shape` makes sure every part has the type the state layout needs (so reconciling and
rebuilding cannot crash); :func:`check_against_world` makes sure every name exists in the running
world and every value has its declared type and bounds. Both return every problem found, each
with its path in the blob (``parts.world.state.quests.wolves``), and never raise.
"""

from __future__ import annotations

import math
from typing import Any

from ..protocol.messages.numbers import INT64_MAX, MAX_GAME_HOURS
from .compiled import World, value_fits

ROOT = "parts.world.state"


def _num(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _hours(value: Any) -> bool:
    return _num(value) and 0 <= value <= MAX_GAME_HOURS


def _strs(value: Any, n: int) -> bool:
    return isinstance(value, list) and len(value) == n and all(isinstance(v, str) for v in value)


def _str_map(doc: dict[str, Any], key: str, problems: list[str]) -> dict[str, Any]:
    value = doc.get(key, {})
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        problems.append(f"{ROOT}.{key}: must be a map with string keys")
        return {}
    return value


def check_shape(doc: dict[str, Any]) -> list[str]:
    """Types of the state layout (any world version): maps, lists, finite times, ids as strings."""
    problems: list[str] = []
    variables = _str_map(doc, "vars", problems)
    for name, value in variables.items():
        if not (value is None or isinstance(value, bool | str) or _num(value)):
            problems.append(f"{ROOT}.vars.{name}: {value!r} is not a plain value")
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > INT64_MAX:
            problems.append(f"{ROOT}.vars.{name}: {value} does not fit 64 bits")
    for q, state in _str_map(doc, "quests", problems).items():
        if not isinstance(state, str):
            problems.append(f"{ROOT}.quests.{q}: the state must be a string, got {state!r}")
    relations = doc.get("relations", [])
    if not isinstance(relations, list):
        problems.append(f"{ROOT}.relations: must be a list")
    else:
        for i, r in enumerate(relations):
            if not _strs(r, 3):
                problems.append(f"{ROOT}.relations.{i}: must be [from, type, to] (strings), got {r!r}")
    for npc, facts in _str_map(doc, "knowledge", problems).items():
        if not isinstance(facts, dict):
            problems.append(f"{ROOT}.knowledge.{npc}: must be a map of fact -> [since, source]")
            continue
        for fid, known in facts.items():
            ok = (
                isinstance(known, list) and len(known) == 2 and _hours(known[0]) and isinstance(known[1], str)
            )
            if not ok or not isinstance(fid, str):
                problems.append(
                    f"{ROOT}.knowledge.{npc}.{fid}: must be [game hours >= 0, source], got {known!r}"
                )
    for fid, text in _str_map(doc, "event_facts", problems).items():
        if not isinstance(text, str):
            problems.append(f"{ROOT}.event_facts.{fid}: must be a string")
    pending = doc.get("pending", [])
    if not isinstance(pending, list):
        problems.append(f"{ROOT}.pending: must be a list")
    else:
        for i, p in enumerate(pending):
            ok = isinstance(p, list) and len(p) == 3 and _hours(p[0]) and _strs(p[1:], 2)
            if not ok:
                problems.append(f"{ROOT}.pending.{i}: must be [due hours, npc, fact], got {p!r}")
    seq = doc.get("seq", 0)
    if not isinstance(seq, int) or isinstance(seq, bool) or not 0 <= seq <= INT64_MAX:
        problems.append(f"{ROOT}.seq: must be a whole number >= 0, got {seq!r}")
    if not _hours(doc.get("game_time", 0.0)):
        problems.append(
            f"{ROOT}.game_time: must be a finite number of game hours in 0..{MAX_GAME_HOURS:.0f}, "
            f"got {doc.get('game_time')!r}"
        )
    return problems


def check_against_world(doc: dict[str, Any], world: World) -> list[str]:
    """Every name declared by ``world``, every value of its declared type, within its bounds.

    Call after :func:`check_shape` found nothing (and after reconciling a save from another
    version of the world file)."""
    problems: list[str] = []
    f = world.file
    variables: dict[str, Any] = doc.get("vars", {})
    for name in sorted(set(f.variables) - set(variables)):
        problems.append(f"{ROOT}.vars.{name}: missing (the world declares it)")
    for name, value in variables.items():
        decl = f.variables.get(name)
        if decl is None:
            problems.append(f"{ROOT}.vars.{name}: the world declares no such variable")
            continue
        problem = value_fits(value, decl)
        if problem:
            problems.append(f"{ROOT}.vars.{name}: {problem}")
    quests: dict[str, Any] = doc.get("quests", {})
    for q in sorted(set(f.quests) - set(quests)):
        problems.append(f"{ROOT}.quests.{q}: missing (the world declares it)")
    for q, state in quests.items():
        quest = f.quests.get(q)
        if quest is None:
            problems.append(f"{ROOT}.quests.{q}: the world declares no such quest")
        elif state not in quest.states:
            states = ", ".join(quest.states)
            problems.append(f"{ROOT}.quests.{q}: '{state}' is not a state of quest '{q}' ({states})")
    for i, (a, t, b) in enumerate(doc.get("relations", [])):
        for end in (a, b):
            if end not in world.kinds:
                problems.append(f"{ROOT}.relations.{i}: unknown entity '{end}'")
        if t not in world.relation_types:
            problems.append(f"{ROOT}.relations.{i}: unknown relation type '{t}'")
    event_facts: dict[str, Any] = doc.get("event_facts", {})
    for npc, facts in doc.get("knowledge", {}).items():
        if npc not in world.npcs:
            problems.append(f"{ROOT}.knowledge.{npc}: not a character of this world")
            continue
        for fid in facts:
            if fid not in f.facts and fid not in event_facts:
                problems.append(f"{ROOT}.knowledge.{npc}.{fid}: unknown fact")
    for i, (_due, npc, fid) in enumerate(doc.get("pending", [])):
        if npc not in world.npcs:
            problems.append(f"{ROOT}.pending.{i}: '{npc}' is not a character of this world")
        if fid not in f.facts and fid not in event_facts:
            problems.append(f"{ROOT}.pending.{i}: unknown fact '{fid}'")
    return problems
