"""A world file checked and compiled: names resolved, expressions type-checked and compiled,
and the dependency index that lets an event re-evaluate only the transitions it can affect.

:func:`compile_world` never raises for content problems: it collects every one of them (with the
field path) so lint can report them all at once; :func:`load_world` raises
:class:`WorldContentError` carrying them when the world cannot be used.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import math
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from .. import expr
from ..errors import ContentError
from ..expr import BOOL, FLOAT, INT, STRING, Checked, CheckedEffect, ExprError, Type
from ..expr.evaluate import Fn, compile_node
from ..personas.yamlfile import (
    Loc,
    Problem,
    YamlProblem,
    field_name,
    line_for,
    load_yaml,
    validation_problems,
)
from ..protocol.messages.world import BUILTIN_EVENT_FIELDS
from .model import BUILTIN_EVENTS, DEFAULT_RELATION_TYPES, PayloadField, Variable, Visibility, WorldFile

WORLD_SUFFIX = ".world.yaml"

# Fields of the built-in events, as seen by rule conditions (event.<field>).
BUILTIN_FIELDS: dict[str, dict[str, Type]] = {
    kind: {name: expr.simple_type(t) for name, t in fields.items()}
    for kind, fields in BUILTIN_EVENT_FIELDS.items()
}


class WorldContentError(ContentError):
    """The world file has problems; ``problems`` lists every one with file, line and field."""


@dataclass
class RawProblem:
    loc: Loc
    message: str
    severity: str = "error"


@dataclass
class CEffect:
    """A compiled effect: op is set | add | sub | relate | unrelate | reveal | external (a name
    another concern owns: checked here, applied by its owner)."""

    op: str
    src: str
    target: str = ""
    value: Fn | None = None
    args: list[Fn] = field(default_factory=list)


@dataclass
class CTransition:
    index: int  # global order: quests in file order, then transitions in file order
    quest: str
    label: str
    from_: str
    to: str
    cond: Fn | None
    effects: list[CEffect]
    reads: set[str]
    say: tuple[str, str] | None
    reveals: list[str]
    witnesses: list[str]
    loc: Loc
    when_src: str | None = None


@dataclass
class CRule:
    on: str
    cond: Fn | None
    effects: list[CEffect]
    reveals: list[str]
    witnesses: list[str]
    loc: Loc


class _Scope:
    def __init__(
        self,
        world: World,
        event_fields: dict[str, Type] | None = None,
        npc: bool = False,
        prefix: str = "event",
        external: dict[str, Type] | None = None,
    ) -> None:
        self.world = world
        self.event_fields = event_fields or {}
        self._npc = npc
        self.prefix = prefix + "."
        self.external = external or {}

    @property
    def npc_context(self) -> bool:
        return self._npc

    def name_type(self, name: str) -> tuple[str, Type] | None:
        if name in self.world.var_types:
            return "var", self.world.var_types[name]
        if name.startswith("quest."):
            q = name[len("quest.") :]
            if q in self.world.quest_types:
                return "quest", self.world.quest_types[q]
        if name.startswith(self.prefix):
            f = name[len(self.prefix) :]
            if f in self.event_fields:
                return "event", self.event_fields[f]
        if name in self.external:
            return "ext", self.external[name]
        if self._npc and name == "self":
            return "self", STRING
        return None

    def suggest(self, name: str) -> str | None:
        names = list(self.world.var_types) + [f"quest.{q}" for q in self.world.quest_types]
        names += [self.prefix + f for f in self.event_fields] + list(self.external)
        names += ["self"] if self._npc else []
        hits = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
        return hits[0] if hits else None

    def check_id(self, what: str, value: str) -> str | None:
        pools = {
            "fact": self.world.file.facts,
            "npc": self.world.npcs,
            "entity": self.world.file.entities,
            "relation": self.world.relation_types,
        }
        pool = pools[what]
        if value in pool:
            return None
        hits = difflib.get_close_matches(value, list(pool), n=1, cutoff=0.6)
        return f"unknown {what} '{value}'" + (f"; did you mean '{hits[0]}'?" if hits else "")


class World:
    """Immutable content compiled for the engine. Build with :func:`compile_world`."""

    def __init__(self, file: WorldFile, source: str = "<world>") -> None:
        self.file = file
        self.source = source
        self.problems: list[RawProblem] = []
        self.hash = content_hash(file)
        self.kinds = {eid: e.kind for eid, e in file.entities.items()}
        self.npcs = {eid for eid, e in file.entities.items() if e.kind == "character"}
        self.relation_types = set(DEFAULT_RELATION_TYPES) | set(file.relation_types)
        self.var_types = {name: var_type(v) for name, v in file.variables.items()}
        self.quest_types = {q: expr.enum(list(quest.states)) for q, quest in file.quests.items()}
        self.transitions: list[CTransition] = []
        self.rules: dict[str, list[CRule]] = defaultdict(list)
        self.by_read: dict[str, list[CTransition]] = defaultdict(list)  # v:/q:/r:/k: key -> transitions
        self.by_from: dict[tuple[str, str], list[CTransition]] = defaultdict(list)
        self.var_visible: dict[str, set[str]] = {}  # npc -> variables it always sees
        self.quest_visible: dict[str, set[str]] = {}
        self.writes: set[str] = set()  # keys any effect may write (for lint)

    # names -------------------------------------------------------------------------------------
    def entity_name(self, eid: str) -> str:
        e = self.file.entities.get(eid)
        return (e.name or eid) if e else eid

    def scope(
        self,
        event_fields: dict[str, Type] | None = None,
        npc: bool = False,
        prefix: str = "event",
        external: dict[str, Type] | None = None,
    ) -> _Scope:
        """Names for checking: world variables and quests, plus ``<prefix>.<field>`` (event fields
        in rules, ``arg.<param>`` in persona actions); ``npc`` allows ``knows(fact)``; ``external``
        are names other concerns own (persona conditions and effects only)."""
        return _Scope(self, event_fields, npc, prefix, external)

    def event_fields(self, on: str) -> dict[str, Type] | None:
        if on in BUILTIN_FIELDS:
            return BUILTIN_FIELDS[on]
        ev = self.file.events.get(on)
        if ev is None:
            return None
        return {name: payload_type(f) for name, f in ev.payload.items()}

    # compiling -----------------------------------------------------------------------------------
    def condition(self, src: str, scope: _Scope) -> tuple[Fn, Checked]:
        checked = expr.check_condition(src, scope)
        return compile_node(checked.node), checked

    def effect(self, src: str, scope: _Scope) -> tuple[CEffect, CheckedEffect]:
        ce = expr.check_effect(src, scope)
        eff = ce.effect
        if isinstance(eff, expr.Assign):
            if eff.target.kind == "ext":
                return CEffect("external", src, eff.target.name, compile_node(eff.value)), ce
            op = {"=": "set", "+=": "add", "-=": "sub"}[eff.op]
            return CEffect(op, src, eff.target.name, compile_node(eff.value)), ce
        return CEffect(eff.fn, src, args=[compile_node(a) for a in eff.args]), ce

    def visible_vars(self, npc: str) -> set[str]:
        return self.var_visible.get(npc, set())


def var_type(v: Variable | PayloadField) -> Type:
    if v.type == "bool":
        return BOOL
    if v.type == "int":
        return INT
    if v.type == "float":
        return FLOAT
    if v.type == "enum":
        return expr.enum(v.values or [])
    return STRING


def payload_type(f: PayloadField) -> Type:
    return STRING if f.type == "entity" else var_type(f)


def content_hash(file: WorldFile) -> str:
    """sha256 of the world's content (not its comments or layout), as 16 hex digits."""
    doc = file.model_dump(mode="json", by_alias=True)
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:16]


def value_fits(value: Any, v: Variable | PayloadField) -> str | None:
    """None when ``value`` is a valid value of the declaration, else why not."""
    if v.type == "bool":
        ok = isinstance(value, bool)
    elif v.type == "int":
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif v.type == "float":
        ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    else:
        ok = isinstance(value, str)
    if not ok:
        return f"{value!r} is not {'an' if v.type == 'int' else 'a'} {v.type}"
    if v.type == "enum" and value not in (v.values or []):
        return f"{value!r} is not one of {', '.join(v.values or [])}"
    if v.type in ("int", "float"):
        if v.min is not None and value < v.min:
            return f"{value} is below the minimum {v.min}"
        if v.max is not None and value > v.max:
            return f"{value} is above the maximum {v.max}"
    return None


# -- building ---------------------------------------------------------------------------------------


def compile_world(file: WorldFile, source: str = "<world>") -> World:
    w = World(file, source)
    _check_entities(w)
    _check_variables(w)
    _check_facts(w)
    _compile_quests(w)
    _compile_rules(w)
    return w


def _err(w: World, loc: Loc, message: str, severity: str = "error") -> None:
    w.problems.append(RawProblem(loc, message, severity))


def _npc_list(w: World, who: Visibility, loc: Loc) -> set[str]:
    if who == "all":
        return set(w.npcs)
    out = set()
    for i, npc in enumerate(who):
        if npc not in w.npcs:
            _err(w, (*loc, i), _unknown("character", npc, w.npcs))
        else:
            out.add(npc)
    return out


def _an(word: str) -> str:
    return ("an " if word[:1] in "aeiou" else "a ") + word


def _unknown(what: str, value: str, pool: Any) -> str:
    hits = difflib.get_close_matches(value, list(pool), n=1, cutoff=0.6)
    return f"unknown {what} '{value}'" + (f"; did you mean '{hits[0]}'?" if hits else "")


def _check_entities(w: World) -> None:
    f = w.file
    for i, r in enumerate(f.relations):
        for end, eid in (("from", r.from_), ("to", r.to)):
            if eid not in f.entities:
                _err(w, ("relations", i, end), _unknown("entity", eid, f.entities))
        if r.type not in w.relation_types:
            _err(w, ("relations", i, "type"), _unknown("relation type", r.type, w.relation_types))
            continue
        rt = f.relation_types.get(r.type)
        if rt:
            for end, eid, kinds in (("from", r.from_, rt.from_kinds), ("to", r.to, rt.to_kinds)):
                if kinds and eid in f.entities and f.entities[eid].kind not in kinds:
                    _err(
                        w,
                        ("relations", i, end),
                        f"'{r.type}' needs {_an(' or '.join(kinds))} here, '{eid}' is {_an(f.entities[eid].kind)}",
                    )
    if "player" not in f.entities:
        _err(w, ("entities",), "no 'player' entity: built-in events default to the player", "warning")


def _check_variables(w: World) -> None:
    for name, v in w.file.variables.items():
        if v.initial is not None:
            problem = value_fits(v.initial, v)
            if problem:
                _err(w, ("variables", name, "initial"), f"initial value {problem}")
        for npc in _npc_list(w, v.visible_to, ("variables", name, "visible_to")):
            w.var_visible.setdefault(npc, set()).add(name)
    for q, quest in w.file.quests.items():
        for npc in _npc_list(w, quest.visible_to, ("quests", q, "visible_to")):
            w.quest_visible.setdefault(npc, set()).add(q)


def _check_facts(w: World) -> None:
    for fid, fact in w.file.facts.items():
        _npc_list(w, fact.known_by, ("facts", fid, "known_by"))
        for i, name in enumerate(fact.exposes):
            q = name[len("quest.") :] if name.startswith("quest.") else None
            if (q is None and name not in w.var_types) or (q is not None and q not in w.quest_types):
                pool = list(w.var_types) + [f"quest.{x}" for x in w.quest_types]
                _err(w, ("facts", fid, "exposes", i), _unknown("variable", name, pool))
        if fact.rumour:
            for i, rt in enumerate(fact.rumour.along):
                if rt not in w.relation_types:
                    _err(
                        w,
                        ("facts", fid, "rumour", "along", i),
                        _unknown("relation type", rt, w.relation_types),
                    )


def _compile_effects(w: World, effects: list[str], scope: _Scope, loc: Loc) -> tuple[list[CEffect], set[str]]:
    out: list[CEffect] = []
    reads: set[str] = set()
    for i, src in enumerate(effects):
        try:
            ce, checked = w.effect(src, scope)
        except ExprError as exc:
            _err(w, (*loc, i), f"{exc.message}{_col(exc)} in '{src}'")
            continue
        w.writes |= checked.writes
        reads |= checked.reads
        out.append(ce)
    return out, reads


def _col(exc: ExprError) -> str:
    return f" (column {exc.col})" if exc.col else ""


def _check_facts_and_npcs(w: World, reveals: list[str], witnesses: list[str], loc: Loc) -> None:
    for i, fid in enumerate(reveals):
        if fid not in w.file.facts:
            _err(w, (*loc, "reveals", i), _unknown("fact", fid, w.file.facts))
    _npc_list(w, witnesses, (*loc, "witnesses"))
    if reveals:
        w.writes |= {"k:" + f for f in reveals}


def _compile_quests(w: World) -> None:
    scope = w.scope()
    for q, quest in w.file.quests.items():
        loc_q: Loc = ("quests", q)
        if quest.initial not in quest.states:
            _err(w, (*loc_q, "initial"), _unknown("state", quest.initial, quest.states))
        for i, t in enumerate(quest.transitions):
            loc: Loc = (*loc_q, "transitions", i)
            bad = False
            for end, s in (("from", t.from_), ("to", t.to)):
                if s not in quest.states:
                    _err(w, (*loc, end), _unknown("state", s, quest.states) + f" of quest '{q}'")
                    bad = True
            cond: Fn | None = None
            reads: set[str] = set()
            if t.when is not None:
                try:
                    cond, checked = w.condition(t.when, scope)
                    reads = checked.reads
                except ExprError as exc:
                    _err(w, (*loc, "when"), exc.message + _col(exc))
                    bad = True
            effects, _ = _compile_effects(w, t.effects, scope, (*loc, "effects"))
            if t.say and t.say.npc not in w.npcs:
                _err(w, (*loc, "say", "npc"), _unknown("character", t.say.npc, w.npcs))
            _check_facts_and_npcs(w, t.reveals, t.witnesses, loc)
            if len(effects) != len(t.effects):
                bad = True
            label = t.id or f"{t.from_}->{t.to}"
            ct = CTransition(
                len(w.transitions), q, label, t.from_, t.to, cond, effects, reads,
                (t.say.npc, t.say.text) if t.say else None, t.reveals, t.witnesses, loc, t.when,
            )  # fmt: skip
            if bad:
                continue
            w.transitions.append(ct)
            w.by_from[(q, t.from_)].append(ct)
            for key in reads:
                w.by_read[key].append(ct)
        w.writes.add("q:" + q)


def _compile_rules(w: World) -> None:
    for name in w.file.events:
        if name in BUILTIN_EVENTS:
            _err(w, ("events", name), f"'{name}' is a built-in event; give the custom event another name")
    for i, rule in enumerate(w.file.rules):
        loc: Loc = ("rules", i)
        fields = w.event_fields(rule.event)
        if fields is None:
            pool = list(BUILTIN_EVENTS) + list(w.file.events)
            _err(
                w,
                (*loc, "event"),
                _unknown("event", rule.event, pool) + " (declare custom events under 'events')",
            )
            continue
        scope = w.scope(fields)
        cond: Fn | None = None
        if rule.when is not None:
            try:
                cond, _ = w.condition(rule.when, scope)
            except ExprError as exc:
                _err(w, (*loc, "when"), exc.message + _col(exc))
                continue
        effects, _ = _compile_effects(w, rule.effects, scope, (*loc, "effects"))
        _check_facts_and_npcs(w, rule.reveals, rule.witnesses, loc)
        w.rules[rule.event].append(CRule(rule.event, cond, effects, rule.reveals, rule.witnesses, loc))
    for name, ev in w.file.events.items():
        for fname, f in ev.payload.items():
            if f.type == "enum" and not f.values:
                _err(w, ("events", name, "payload", fname), "an enum field needs 'values'")
            if f.default is not None and value_fits(f.default, f):
                _err(w, ("events", name, "payload", fname, "default"), f"default {value_fits(f.default, f)}")


# -- loading ------------------------------------------------------------------------------------------


def problems_with_lines(raw: list[RawProblem], file: str, lines: dict[Loc, int]) -> list[Problem]:
    return [Problem(file, line_for(lines, p.loc), field_name(p.loc), p.message, p.severity) for p in raw]


def compile_text(text: str, file: str) -> tuple[World | None, list[Problem], dict[Loc, int]]:
    """Parse and compile; the world is returned whenever the schema validated, even with problems."""
    try:
        data, lines = load_yaml(text, file)
    except YamlProblem as exc:
        return None, list(exc.problems), {}
    if not isinstance(data, dict):
        return None, [Problem(file, 1, "", "a world file must be a YAML map (world:, entities:, ...)")], lines
    try:
        model = WorldFile.model_validate(data)
    except ValidationError as exc:
        return None, validation_problems(exc, file, lines), lines
    world = compile_world(model, file)
    return world, problems_with_lines(world.problems, file, lines), lines


def parse_world_text(text: str, file: str) -> tuple[World | None, list[Problem], dict[Loc, int]]:
    """Parse and compile; the world is None when it has errors (every problem is listed)."""
    world, problems, lines = compile_text(text, file)
    if any(p.severity == "error" for p in problems):
        return None, problems, lines
    return world, problems, lines


def load_world(path: str | Path) -> World:
    """Load a world file for use; raises :class:`WorldContentError` with every problem."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise WorldContentError([Problem(str(p), None, "", f"cannot read world file: {exc}")]) from None
    world, problems, _ = parse_world_text(text, str(p))
    if world is None:
        raise WorldContentError([q for q in problems if q.severity == "error"])
    return world
