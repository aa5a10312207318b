"""The world's part of a save blob, and reconciling a save with a changed world file. No I/O.

A part is ``{"format": 1, "min_reader": 1, "world": <id>, "world_hash": <hash>, "state": {...}}``.
The hash is of the world file's *content* (comments and layout do not count). When it differs
from the running world's, the save was made with another version of the story:

- ``policy="refuse"``: refuse it, naming both hashes;
- ``policy="reconcile"`` (default): keep what still fits, start new variables and quests at their
  initial values, drop what the world no longer declares (listed in the notes), and refuse with one
  message listing every conflict when a kept value no longer fits (a quest state that was removed,
  a value out of a new bound, a changed type). A save is never silently corrupted.
"""

from __future__ import annotations

from typing import Any, Literal

from ..errors import SaveFormatError
from .compiled import World, value_fits
from .save_check import check_against_world, check_shape
from .state import STATE_FORMAT, WorldState, initial_state

PART_FORMAT = 1
PART_MIN_FORMAT = 1
Policy = Literal["reconcile", "refuse"]


def save_part(world: World, state: WorldState) -> dict[str, Any]:
    return {
        "format": PART_FORMAT,
        "min_reader": PART_MIN_FORMAT,
        "world": world.file.world,
        "world_hash": world.hash,
        "state": state.to_dict(),
    }


def read_part(part: Any, world: World, policy: Policy = "reconcile") -> tuple[WorldState, list[str], bool]:
    """A save part -> (state, notes, reconciled). Raises :class:`SaveFormatError` with a precise message."""
    if not isinstance(part, dict) or not isinstance(part.get("state"), dict):
        raise SaveFormatError("the save's world part is not a map with a 'state'; the blob is damaged")
    fmt, min_reader = part.get("format"), part.get("min_reader", part.get("format"))
    if not isinstance(fmt, int) or not isinstance(min_reader, int):
        raise SaveFormatError("the save's world part has no integer format version; the blob is damaged")
    if min_reader > PART_FORMAT:
        raise SaveFormatError(
            f"the save's world part needs reader format {min_reader}; this runtime reads {PART_FORMAT}: "
            "upgrade npc-runtime"
        )
    if fmt < PART_MIN_FORMAT:
        raise SaveFormatError(
            f"the save's world part has format {fmt}, older than the oldest this runtime loads "
            f"({PART_MIN_FORMAT}); load and save it again with an older npc-runtime"
        )
    doc = _migrate(dict(part["state"]))
    saved_world, saved_hash = part.get("world"), part.get("world_hash")
    if saved_world != world.file.world:
        raise SaveFormatError(
            f"the save is from world '{saved_world}', but this runtime runs world '{world.file.world}'"
        )
    _refuse(check_shape(doc))
    if saved_hash == world.hash:
        _refuse(check_against_world(doc, world))
        return _build(doc, world), [], False
    if policy == "refuse":
        raise SaveFormatError(
            f"the save was made with another version of world '{world.file.world}' (content hash "
            f"{saved_hash}, now {world.hash}) and world.reconcile is 'refuse'; load it with the world "
            "file it was made with, or set world.reconcile to 'reconcile'"
        )
    fixed, notes = reconcile(doc, world, str(saved_hash))
    _refuse(check_against_world(fixed, world))
    return _build(fixed, world), notes, True


def _refuse(problems: list[str]) -> None:
    """Refuse a save naming every problem (the first few in full), before anything changed."""
    if problems:
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        raise SaveFormatError(
            "the save's world state is damaged or was edited: " + "; ".join(problems[:5]) + more
        )


def _migrate(doc: dict[str, Any]) -> dict[str, Any]:
    version = doc.get("format", STATE_FORMAT)
    if version != STATE_FORMAT:
        raise SaveFormatError(f"unknown world state layout {version}; this runtime knows {STATE_FORMAT}")
    return doc


def _build(doc: dict[str, Any], world: World) -> WorldState:
    try:
        return WorldState.from_dict(doc, world)
    except (KeyError, TypeError, ValueError) as exc:
        raise SaveFormatError(f"the save's world state is damaged ({type(exc).__name__}: {exc})") from None


def reconcile(
    doc: dict[str, Any], world: World, saved_hash: str, what: str = "the save was"
) -> tuple[dict[str, Any], list[str]]:
    """Fit a state document to ``world``; raises SaveFormatError listing every conflict.

    ``what`` names the state in messages ("the save was", "the stored state was", ...)."""
    fresh = initial_state(world).to_dict()
    notes: list[str] = []
    conflicts: list[str] = []
    f = world.file
    saved_vars: dict[str, Any] = doc.get("vars", {})
    out_vars = {}
    for name, decl in f.variables.items():
        if name not in saved_vars:
            out_vars[name] = fresh["vars"][name]
            notes.append(f"variable '{name}' is new: starts at {out_vars[name]!r}")
            continue
        problem = value_fits(saved_vars[name], decl)
        if problem:
            conflicts.append(f"variable '{name}': the saved value {problem} (it is now a {decl.type})")
        value = saved_vars[name]
        out_vars[name] = float(value) if decl.type == "float" and not problem else value
    for name in sorted(set(saved_vars) - set(f.variables)):
        notes.append(f"variable '{name}' is no longer declared: dropped")
    saved_quests: dict[str, str] = doc.get("quests", {})
    out_quests = {}
    for q, quest in f.quests.items():
        if q not in saved_quests:
            out_quests[q] = quest.initial
            notes.append(f"quest '{q}' is new: starts in '{quest.initial}'")
        elif saved_quests[q] not in quest.states:
            conflicts.append(
                f"quest '{q}' is in state '{saved_quests[q]}', which the world file no longer declares "
                "(add the state back, or rename it back)"
            )
        else:
            out_quests[q] = saved_quests[q]
    for q in sorted(set(saved_quests) - set(f.quests)):
        notes.append(f"quest '{q}' is no longer declared: dropped")
    relations = []
    for a, t, b in doc.get("relations", []):
        if a in world.kinds and b in world.kinds and t in world.relation_types:
            relations.append([a, t, b])
        else:
            notes.append(f"relation {a} -{t}-> {b} refers to something no longer declared: dropped")
    event_facts = dict(doc.get("event_facts", {}))
    knowledge: dict[str, dict[str, Any]] = {}
    for npc, facts in doc.get("knowledge", {}).items():
        if npc not in world.npcs:
            notes.append(f"'{npc}' is no longer a character: what it knew is dropped")
            continue
        for fid, known in facts.items():
            if fid in f.facts or fid in event_facts:
                knowledge.setdefault(npc, {})[fid] = known
            else:
                notes.append(f"fact '{fid}' is no longer declared: {npc} forgets it")
    pending = [p for p in doc.get("pending", []) if p[1] in world.npcs and p[2] in f.facts]
    if conflicts:
        raise SaveFormatError(
            f"{what} made with another version of world '{f.world}' (content hash {saved_hash}, now "
            f"{world.hash}) and cannot be reconciled: " + "; ".join(conflicts)
        )
    out = dict(doc)
    out.update(
        vars=out_vars, quests=out_quests, relations=relations, knowledge=knowledge, pending=pending,
        event_facts=event_facts,
    )  # fmt: skip
    return out, notes
