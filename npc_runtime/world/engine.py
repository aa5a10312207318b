"""Applying events to the world state: validation, effects, transitions, knowledge. No I/O.

Every change to a world goes through :meth:`Engine.apply` as a :class:`WorldEvent` (game events,
actions taken in dialogue, facts told, time passing), so the event log replays a session exactly.
An event is applied atomically: it is validated first, then applied under an undo log; if any
effect fails (a bound, a loop of transitions) everything is rolled back and
:class:`WorldRejected` says why. The caller persists the returned :class:`Changes`.

Transitions are found through the world's dependency index: an event re-evaluates only the
transitions that read something it changed, plus those leaving a state that was just entered.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..errors import NpcRuntimeError
from ..expr import BOOL, FLOAT, INT, STRING, EvalError, ExprError, Hidden, Type
from ..expr.evaluate import Fn
from ..protocol.messages.world import WORLD_EVENT_KINDS
from .compiled import BUILTIN_FIELDS, CEffect, CTransition, World, value_fits
from .knowledge import NpcView, event_prose
from .state import Known, WorldState

MAX_FIRINGS = 1000  # per event; more means transitions loop between states
# Kinds the engine applies: the wire's (built-in and custom) and the runtime's own.
EVENT_KINDS = (*WORLD_EVENT_KINDS, "action", "tell", "time")


class WorldRejected(NpcRuntimeError):
    """An event or action was refused; the world is unchanged. ``field`` names the bad input."""

    def __init__(self, message: str, field: str | None = None) -> None:
        self.message = message
        self.field = field
        super().__init__(message)


@dataclass
class WorldEvent:
    """One change request. ``data`` holds the kind's fields (custom: ``name`` + ``payload``)."""

    kind: str
    data: dict[str, Any] = field(default_factory=dict)
    witnesses: list[str] = field(default_factory=list)
    game_time: float | None = None
    # An idempotency key: a shared store logs one event per request, so an input replayed after
    # a failover (its acknowledgement lost) is not applied twice. The engine does not read it.
    request: str | None = None

    def to_dict(self) -> dict[str, Any]:
        doc = {
            "kind": self.kind,
            "data": self.data,
            "witnesses": self.witnesses,
            "game_time": self.game_time,
        }
        if self.request is not None:
            doc["request"] = self.request
        return doc

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> WorldEvent:
        return cls(
            doc["kind"],
            dict(doc.get("data") or {}),
            list(doc.get("witnesses") or []),
            doc.get("game_time"),
            doc.get("request"),
        )


@dataclass
class Fired:
    quest: str
    transition: str
    from_state: str
    to_state: str
    say: tuple[str, str] | None = None  # (npc, text); None = a silent transition


@dataclass
class Changes:
    """What one event changed (only what differs at the end)."""

    seq: int = 0
    vars: dict[str, tuple[Any, Any]] = field(default_factory=dict)  # name -> (old, new)
    quests: dict[str, tuple[str, str]] = field(default_factory=dict)
    relations_added: list[tuple[str, str, str]] = field(default_factory=list)
    relations_removed: list[tuple[str, str, str]] = field(default_factory=list)
    learned: list[tuple[str, str, str]] = field(default_factory=list)  # (npc, fact, source)
    event_facts: dict[str, str] = field(default_factory=dict)
    fired: list[Fired] = field(default_factory=list)
    game_time: float = 0.0
    pending_added: list[tuple[float, str, str]] = field(default_factory=list)  # rumours queued
    pending_removed: list[tuple[float, str, str]] = field(default_factory=list)  # rumours spread

    def empty(self) -> bool:
        return not (
            self.vars or self.quests or self.relations_added or self.relations_removed or self.learned
        )


Persist = Callable[["WorldEvent", "Changes", WorldState], None]


class WorldEnv:
    """Reads the whole world (transitions and rules); ``event`` reads the current event's fields
    (an action's arguments, for an action's effects), ``self_id`` the acting NPC."""

    def __init__(
        self,
        state: WorldState,
        fields: dict[str, Any] | None = None,
        values: dict[str, Any] | None = None,
        npc: str | None = None,
    ) -> None:
        self.state = state
        self.fields = fields or {}
        self.values = values or {}  # names other concerns own (persona actions only)
        self.npc = npc

    def var(self, name: str) -> Any:
        return self.state.vars[name]

    def quest(self, name: str) -> str:
        return self.state.quests[name]

    def event(self, name: str) -> Any:
        if name not in self.fields:
            raise EvalError(f"'{name}' has no value (an optional argument that was not given?)")
        return self.fields[name]

    def self_id(self) -> str:
        if self.npc is None:
            raise EvalError("'self' is only for persona conditions and actions")
        return self.npc

    def knows(self, npc: str | None, fact: str) -> bool:
        if npc is None:
            raise EvalError("knows(fact) needs an NPC here: write knows(npc, fact)")
        return self.state.knows(npc, fact)

    def rel(self, a: str, rel: str, b: str) -> bool:
        return bool(self.state.graph.has_edge(a, b, key=rel))

    def ext(self, name: str) -> Any:
        if name not in self.values:
            raise EvalError(f"'{name}' is owned by another concern: only persona actions read it")
        return self.values[name]


class _Txn:
    """Mutations with an undo log and the change record."""

    def __init__(self, engine: Engine) -> None:
        self.e = engine
        self.s = engine.state
        self.undo: list[Callable[[], object]] = []
        self.ch = Changes()
        self.dirty: set[str] = set()
        self.entered: list[str] = []  # quests whose state changed, to evaluate their new state
        self._pending0: list[tuple[float, str, str]] | None = None  # copied on first change only
        self.time0 = self.s.game_time
        self.seq0 = self.s.seq

    def set_var(self, name: str, value: Any, why: str) -> None:
        decl = self.e.world.file.variables[name]
        problem = value_fits(value, decl)
        if problem:
            raise WorldRejected(f"{why} would set {name} to {value!r}, but {problem}", name)
        if decl.type == "float":
            value = float(value)
        vars_ = self.s.vars
        old = vars_[name]
        if old == value and type(old) is type(value):
            return
        vars_[name] = value
        self.undo.append(lambda: vars_.__setitem__(name, old))
        first = self.ch.vars.get(name)
        self.ch.vars[name] = (first[0] if first else old, value)
        self.dirty.add("v:" + name)

    def set_quest(self, quest: str, to: str) -> None:
        qs = self.s.quests
        old = qs[quest]
        qs[quest] = to
        self.undo.append(lambda: qs.__setitem__(quest, old))
        first = self.ch.quests.get(quest)
        self.ch.quests[quest] = (first[0] if first else old, to)
        self.dirty.add("q:" + quest)
        self.entered.append(quest)

    def relate(self, a: str, rel: str, b: str, why: str) -> None:
        self._check_relation(a, rel, b, why)
        g = self.s.graph
        if g.has_edge(a, b, key=rel):
            return
        g.add_edge(a, b, key=rel)
        self.undo.append(lambda: g.remove_edge(a, b, key=rel))
        self.ch.relations_added.append((a, rel, b))
        self.dirty.update((f"r:{rel}:{b}", "r:" + rel, "r:*"))

    def unrelate(self, a: str, rel: str, b: str, why: str, strict: bool = False) -> None:
        """Remove a relation; one that does not exist is an error when ``strict`` (an effect's
        ``unrelate``: a removal that matches nothing means the content expected another state)."""
        self._check_relation(a, rel, b, why)
        g = self.s.graph
        if not g.has_edge(a, b, key=rel):
            if strict:
                raise WorldRejected(f"{why}: there is no relation {a} {rel} {b} to remove")
            return
        g.remove_edge(a, b, key=rel)
        self.undo.append(lambda: g.add_edge(a, b, key=rel))
        self.ch.relations_removed.append((a, rel, b))
        self.dirty.update((f"r:{rel}:{b}", "r:" + rel, "r:*"))

    def _check_relation(self, a: str, rel: str, b: str, why: str) -> None:
        w = self.e.world
        for eid in (a, b):
            if eid not in w.kinds:
                raise WorldRejected(f"{why}: unknown entity '{eid}'")
        if rel not in w.relation_types:
            raise WorldRejected(f"{why}: unknown relation type '{rel}'")

    def learn(self, npc: str, fact: str, source: str) -> None:
        w = self.e.world
        if npc not in w.npcs:
            raise WorldRejected(f"unknown NPC '{npc}' (declare it as a character entity)", "npc")
        if fact not in w.file.facts and fact not in self.s.event_facts:
            raise WorldRejected(f"unknown fact '{fact}'", "fact")
        known = self.s.knowledge.setdefault(npc, {})
        if fact in known:
            return
        known[fact] = Known(self.s.game_time, source)
        self.undo.append(lambda: known.pop(fact, None))
        self.ch.learned.append((npc, fact, source))
        self.dirty.update(("k:" + fact, "k:*"))
        decl = w.file.facts.get(fact)
        if decl is not None and decl.rumour is not None:
            self.push_rumour((self.s.game_time + decl.rumour.delay, npc, fact))

    def _touch_pending(self) -> None:
        if self._pending0 is None:
            self._pending0 = list(self.s.pending)

    def push_rumour(self, item: tuple[float, str, str]) -> None:
        self._touch_pending()
        heapq.heappush(self.s.pending, item)
        self.ch.pending_added.append(item)

    def pop_rumour(self) -> tuple[float, str, str]:
        self._touch_pending()
        item = heapq.heappop(self.s.pending)
        self.ch.pending_removed.append(item)
        return item

    def add_event_fact(self, fid: str, text: str) -> None:
        facts = self.s.event_facts
        facts[fid] = text
        self.undo.append(lambda: facts.pop(fid, None))
        self.ch.event_facts[fid] = text

    def rollback(self) -> None:
        for fn in reversed(self.undo):
            fn()
        if self._pending0 is not None:
            self.s.pending[:] = self._pending0
        self.s.game_time = self.time0
        self.s.seq = self.seq0

    def finish(self) -> Changes:
        ch = self.ch
        ch.vars = {k: v for k, v in ch.vars.items() if v[0] != v[1] or type(v[0]) is not type(v[1])}
        ch.quests = {k: v for k, v in ch.quests.items() if v[0] != v[1]}
        added, removed = set(ch.relations_added), set(ch.relations_removed)
        ch.relations_added = [r for r in ch.relations_added if r not in removed]
        ch.relations_removed = [r for r in ch.relations_removed if r not in added]
        queued, spread = set(ch.pending_added), set(ch.pending_removed)
        ch.pending_added = [p for p in ch.pending_added if p not in spread]
        ch.pending_removed = [p for p in ch.pending_removed if p not in queued]
        ch.game_time = self.s.game_time
        ch.seq = self.s.seq
        return ch


class Engine:
    """Applies events to one :class:`WorldState` of one :class:`World`."""

    def __init__(self, world: World, state: WorldState) -> None:
        self.world = world
        self.state = state
        self._action_cache: dict[tuple[str, str, tuple[tuple[str, str], ...]], CEffect] = {}
        self.npc_conditions: dict[str, Fn] = {}  # persona conditions compiled once

    # public -------------------------------------------------------------------------------------
    def start(self) -> Changes:
        """Settle a fresh state: transitions that hold at the start fire, start rumours are queued."""
        for npc, facts in sorted(self.state.knowledge.items()):
            for fid in sorted(facts):
                decl = self.world.file.facts.get(fid)
                if decl is not None and decl.rumour is not None:
                    heapq.heappush(self.state.pending, (decl.rumour.delay, npc, fid))
        return self.settle_all()

    def settle_all(self) -> Changes:
        """Evaluate every quest's transitions (after a start or a reconciled load)."""
        txn = _Txn(self)
        try:
            txn.entered.extend(self.world.file.quests)
            self._settle(txn, [])
        except BaseException:
            txn.rollback()
            raise
        return txn.finish()

    def apply(self, event: WorldEvent, persist: Persist | None = None) -> Changes:
        """Validate and apply one event atomically; raises :class:`WorldRejected` (state unchanged).

        ``persist(event, changes, state)`` is called before returning (e.g. to commit to SQLite);
        if it raises, the state is rolled back too, so memory never runs ahead of storage."""
        fields = self._validate(event)
        txn = _Txn(self)
        try:
            self.state.seq += 1
            if event.game_time is not None and event.game_time > self.state.game_time:
                self.state.game_time = float(event.game_time)
            self._spread_rumours(txn)
            self._dispatch(event, fields, txn)
            self._settle(txn, event.witnesses)
            changes = txn.finish()
            if persist is not None:
                persist(event, changes, self.state)
        except WorldRejected:
            txn.rollback()
            raise
        except (EvalError, ExprError, ArithmeticError) as exc:
            txn.rollback()
            raise WorldRejected(f"{event.kind}: {exc}") from None
        except BaseException:
            txn.rollback()
            raise
        return changes

    def view(self, npc: str) -> NpcView:
        return NpcView(self, npc)

    def pending_rumours(self) -> int:
        return len(self.state.pending)

    # validation -----------------------------------------------------------------------------------
    def _validate(self, ev: WorldEvent) -> dict[str, Any]:
        w = self.world
        out: dict[str, Any]
        if ev.kind not in EVENT_KINDS:
            raise WorldRejected(f"unknown event kind '{ev.kind}' (one of {', '.join(EVENT_KINDS)})", "kind")
        for i, npc in enumerate(ev.witnesses):
            if npc not in w.npcs:
                raise WorldRejected(f"witness '{npc}' is not a character of this world", f"witnesses.{i}")
        t = ev.game_time
        if t is not None and (
            not isinstance(t, int | float) or isinstance(t, bool) or not math.isfinite(t) or t < 0
        ):
            raise WorldRejected("game_time must be a finite number of game hours >= 0", "game_time")
        d = ev.data
        if ev.kind == "item_given":
            out = {
                "item": self._entity(d, "item", ("item",)),
                "receiver": self._entity(d, "receiver", None, "player"),
                "giver": self._entity(d, "giver", None, ""),
            }
        elif ev.kind == "enemy_killed":
            count = d.get("count", 1)
            if not isinstance(count, int) or isinstance(count, bool) or count < 1:
                raise WorldRejected(f"count must be a whole number >= 1, got {count!r}", "count")
            out = {"enemy": self._entity(d, "enemy", ("creature", "character")), "count": count,
                   "by": self._entity(d, "by", None, "player")}  # fmt: skip
        elif ev.kind == "location_entered":
            out = {
                "location": self._entity(d, "location", ("location",)),
                "who": self._entity(d, "who", None, "player"),
            }
        elif ev.kind == "custom":
            out = self._payload(d)
        elif ev.kind == "action":
            out = dict(d)
            if d.get("npc") not in w.npcs:
                raise WorldRejected(f"unknown NPC {d.get('npc')!r}", "npc")
        elif ev.kind == "tell":
            out = dict(d)
            if d.get("npc") not in w.npcs:
                raise WorldRejected(f"unknown NPC {d.get('npc')!r}", "npc")
            if d.get("fact") not in w.file.facts and d.get("fact") not in self.state.event_facts:
                raise WorldRejected(f"unknown fact {d.get('fact')!r}", "fact")
        else:
            out = {}
        return out

    def _entity(
        self, d: dict[str, Any], key: str, kinds: tuple[str, ...] | None, default: str | None = None
    ) -> str:
        value = d.get(key, default)
        if value is None:
            raise WorldRejected(f"'{key}' is required", key)
        if value == "" and default == "":
            return ""
        if not isinstance(value, str):
            raise WorldRejected(f"'{key}' must be an entity id (a string), got {value!r}", key)
        kind = self.world.kinds.get(value)
        if kind is None:
            raise WorldRejected(f"'{key}': unknown entity '{value}'; declare it under 'entities'", key)
        if kinds and kind not in kinds:
            raise WorldRejected(f"'{key}': '{value}' is {_an(kind)}, expected {_an(' or '.join(kinds))}", key)
        return value

    def _payload(self, d: dict[str, Any]) -> dict[str, Any]:
        name = d.get("name")
        decl = self.world.file.events.get(name) if isinstance(name, str) else None
        if decl is None:
            known = ", ".join(sorted(self.world.file.events)) or "none declared"
            raise WorldRejected(f"unknown custom event {name!r} (known: {known})", "name")
        payload = d.get("payload") or {}
        if not isinstance(payload, dict):
            raise WorldRejected("payload must be a map", "payload")
        extra = set(payload) - set(decl.payload)
        if extra:
            raise WorldRejected(
                f"event '{name}' has no payload field(s) {', '.join(sorted(extra))}", "payload"
            )
        out: dict[str, Any] = {}
        for key, f in decl.payload.items():
            value = payload.get(key, f.default)
            if value is None:
                raise WorldRejected(f"event '{name}': payload field '{key}' is required", f"payload.{key}")
            if f.type == "entity":
                out[key] = self._entity({key: value}, key, None)
                continue
            problem = value_fits(value, f)
            if problem:
                raise WorldRejected(f"event '{name}': payload field '{key}': {problem}", f"payload.{key}")
            out[key] = value
        return out

    # applying ---------------------------------------------------------------------------------------
    def _dispatch(self, ev: WorldEvent, fields: dict[str, Any], txn: _Txn) -> None:
        kind = ev.kind
        if kind == "item_given":
            g = self.state.graph
            for owner, _, key in list(g.in_edges(fields["item"], keys=True)):
                if key == "owns":
                    txn.unrelate(owner, "owns", fields["item"], "item_given")
            txn.relate(fields["receiver"], "owns", fields["item"], "item_given")
        elif kind == "location_entered":
            g = self.state.graph
            for _, place, key in list(g.out_edges(fields["who"], keys=True)):
                if key == "located_in":
                    txn.unrelate(fields["who"], "located_in", place, "location_entered")
            txn.relate(fields["who"], "located_in", fields["location"], "location_entered")
        elif kind == "action":
            self._action(fields, txn)
            return
        elif kind == "tell":
            txn.learn(fields["npc"], fields["fact"], f"told:{fields.get('by') or 'player'}")
            return
        elif kind == "time":
            return
        on = str(ev.data["name"]) if kind == "custom" else kind
        if ev.witnesses:
            text = event_prose(self.world, kind, on, fields)
            if text:
                fid = f"seen.{self.state.seq}"
                txn.add_event_fact(fid, text)
                for npc in ev.witnesses:
                    txn.learn(npc, fid, "witnessed")
        env = WorldEnv(self.state, fields)
        for rule in self.world.rules.get(on, ()):
            if rule.cond is not None and not rule.cond(env):
                continue
            for eff in rule.effects:
                self._effect(eff, env, txn, f"rule for '{on}'")
            for fid in rule.reveals:
                for npc in sorted(set(rule.witnesses) | set(ev.witnesses)):
                    txn.learn(npc, fid, "witnessed")

    def _action(self, d: dict[str, Any], txn: _Txn) -> None:
        npc = d["npc"]
        view = self.view(npc)
        name = d.get("action", "action")
        when = d.get("when")
        values = d.get("values") or {}
        if not isinstance(values, dict):
            raise WorldRejected(f"action '{name}': values must be a map", "values")
        external = {k: _type_of(v) for k, v in values.items()}
        args = d.get("args") or {}
        if not isinstance(args, dict):
            raise WorldRejected(f"action '{name}': args must be a map", "args")
        if when:
            try:
                ok = view.condition(when, strict=True, values=values, args=args)
            except Hidden as exc:
                raise WorldRejected(f"action '{name}': {npc} does not know '{exc.name}'", "when") from None
            if not ok:
                shown = ", ".join(f"arg.{k} = {v!r}" for k, v in sorted(args.items()))
                with_args = f" (with {shown})" if shown and "arg." in when else ""
                raise WorldRejected(
                    f"action '{name}' is not allowed now: '{when}' does not hold{with_args}", "when"
                )
        types = {k: _type_of(v) for k, v in args.items()}
        sig = tuple(sorted((k, str(t)) for k, t in types.items()))
        sig += tuple(sorted(("ext:" + k, str(t)) for k, t in external.items()))
        for src in d.get("effects") or []:
            key = (npc, src, sig)
            eff = self._action_cache.get(key)
            if eff is None:
                try:
                    scope = self.world.scope(types, npc=True, prefix="arg", external=external)
                    eff, _ = self.world.effect(src, scope)
                except ExprError as exc:
                    raise WorldRejected(f"action '{name}': effect '{src}': {exc}", "effects") from None
                self._action_cache[key] = eff
            env = WorldEnv(self.state, args, values, npc)
            self._effect(eff, env, txn, f"action '{name}' (effect '{src}')")

    def _effect(self, eff: CEffect, env: WorldEnv, txn: _Txn, why: str) -> None:
        op = eff.op
        if op == "external":
            # A name another concern owns: applied by its owner after this event committed. Its
            # value is computed here too, so a failure (division by zero) refuses the whole action.
            assert eff.value is not None
            eff.value(env)
            return
        if op in ("set", "add", "sub"):
            assert eff.value is not None
            value = eff.value(env)
            if op != "set":
                cur = self.state.vars[eff.target]
                value = cur + value if op == "add" else cur - value
            txn.set_var(eff.target, value, f"{why}: '{eff.src}'")
            return
        args = [a(env) for a in eff.args]
        if op == "relate":
            txn.relate(args[0], args[1], args[2], f"{why}: '{eff.src}'")
        elif op == "unrelate":
            txn.unrelate(args[0], args[1], args[2], f"{why}: '{eff.src}'", strict=True)
        elif op == "reveal":
            txn.learn(args[1], args[0], "effect")

    def _settle(self, txn: _Txn, witnesses: list[str]) -> None:
        """Fire transitions until none holds; each pass looks only at affected transitions."""
        w = self.world
        quests = self.state.quests
        env = WorldEnv(self.state)
        firings = 0
        while txn.dirty or txn.entered:
            candidates: set[int] = set()
            by_index: dict[int, CTransition] = {}
            for key in txn.dirty:
                for t in w.by_read.get(key, ()):
                    candidates.add(t.index)
                    by_index[t.index] = t
            for q in txn.entered:
                for t in w.by_from.get((q, quests[q]), ()):
                    candidates.add(t.index)
                    by_index[t.index] = t
            txn.dirty = set()
            txn.entered = []
            if not candidates:
                break
            for i in sorted(candidates):
                t = by_index[i]
                if quests[t.quest] != t.from_:
                    continue  # another branch of this quest fired first: branches exclude each other
                if t.cond is not None and not t.cond(env):
                    continue
                firings += 1
                if firings > MAX_FIRINGS:
                    raise WorldRejected(
                        f"more than {MAX_FIRINGS} transitions fired for one event (last: {t.quest}.{t.label}); "
                        "the quest graph loops: make the conditions of the loop's transitions exclusive"
                    )
                self._fire(t, txn, env, witnesses)

    def _fire(self, t: CTransition, txn: _Txn, env: WorldEnv, witnesses: list[str]) -> None:
        txn.set_quest(t.quest, t.to)
        for eff in t.effects:
            self._effect(eff, env, txn, f"transition {t.quest}.{t.label}")
        if t.reveals:
            for npc in sorted(set(t.witnesses) | set(witnesses)):
                for fid in t.reveals:
                    txn.learn(npc, fid, "witnessed")
        txn.ch.fired.append(Fired(t.quest, t.label, t.from_, t.to, t.say))

    def _spread_rumours(self, txn: _Txn) -> None:
        pending = self.state.pending
        now = self.state.game_time
        g = self.state.graph
        while pending and pending[0][0] <= now:
            due, npc, fid = txn.pop_rumour()
            decl = self.world.file.facts[fid]
            along = set(decl.rumour.along) if decl.rumour else set()
            neighbours: set[str] = set()
            for _, other, key in g.out_edges(npc, keys=True):
                if key in along:
                    neighbours.add(other)
            for other, _, key in g.in_edges(npc, keys=True):
                if key in along:
                    neighbours.add(other)
            for other in sorted(neighbours):
                if other in self.world.npcs and not self.state.knows(other, fid):
                    saved = self.state.game_time
                    self.state.game_time = due
                    try:
                        txn.learn(other, fid, f"rumour:{npc}")
                    finally:
                        self.state.game_time = saved


def _an(word: str) -> str:
    return ("an " if word[:1] in "aeiou" else "a ") + word


def _type_of(value: Any) -> Type:
    if isinstance(value, bool):
        return BOOL
    if isinstance(value, int):
        return INT
    if isinstance(value, float):
        return FLOAT
    if isinstance(value, str):
        return STRING
    raise WorldRejected(f"action argument {value!r} is not a bool, number or string", "args")


__all__ = [
    "BUILTIN_FIELDS",
    "Changes",
    "Engine",
    "Fired",
    "WorldEvent",
    "WorldRejected",
]
