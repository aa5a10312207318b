"""What one NPC knows: its view of the world, used for dialogue and persona conditions.

An NPC sees a variable or a quest state when the world file lists it in ``visible_to`` or when
it knows a fact that ``exposes`` it. It knows the facts it started with, witnessed, was told, or
heard as a rumour. Everything else is hidden: reading it in a condition makes the condition false
(the NPC cannot act on what it does not know), and it never reaches the dialogue context.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..expr import EvalError, Hidden, Type, value_type
from ..expr.evaluate import Fn

if TYPE_CHECKING:
    from .compiled import World
    from .engine import Engine


class NpcView:
    """The world as one NPC knows it. Implements the expression ``Env`` for persona conditions."""

    def __init__(self, engine: Engine, npc: str) -> None:
        self.engine = engine
        self.world = engine.world
        self.state = engine.state
        self.npc = npc
        self._vars: set[str] | None = None
        self._quests: set[str] | None = None

    def _visibility(self) -> tuple[set[str], set[str]]:
        if self._vars is None or self._quests is None:
            vs = set(self.world.var_visible.get(self.npc, ()))
            qs = set(self.world.quest_visible.get(self.npc, ()))
            for fid in self.state.knowledge.get(self.npc, {}):
                decl = self.world.file.facts.get(fid)
                if decl is None:
                    continue
                for name in decl.exposes:
                    if name.startswith("quest."):
                        qs.add(name[len("quest.") :])
                    else:
                        vs.add(name)
            self._vars, self._quests = vs, qs
        return self._vars, self._quests

    # Env -----------------------------------------------------------------------------------------
    def var(self, name: str) -> Any:
        if name not in self._visibility()[0]:
            raise Hidden(name)
        return self.state.vars[name]

    def quest(self, name: str) -> str:
        if name not in self._visibility()[1]:
            raise Hidden("quest." + name)
        return self.state.quests[name]

    def event(self, name: str) -> Any:
        raise EvalError(f"event.{name} is only readable in event rules")

    def knows(self, npc: str | None, fact: str) -> bool:
        if npc is not None and npc != self.npc:
            raise Hidden(f"knows({npc}, {fact})")
        return self.state.knows(self.npc, fact)

    def rel(self, a: str, rel: str, b: str) -> bool:
        # Relations (who is where, who owns what) are common knowledge; keep secrets in facts.
        return bool(self.state.graph.has_edge(a, b, key=rel))

    def ext(self, name: str) -> Any:
        raise Hidden(name)  # overridden by _WithValues when the turn supplies values

    def self_id(self) -> str:
        return self.npc

    # queries -------------------------------------------------------------------------------------
    def variables(self) -> dict[str, Any]:
        vs, _ = self._visibility()
        return {name: self.state.vars[name] for name in sorted(vs)}

    def quests(self) -> dict[str, str]:
        _, qs = self._visibility()
        return {q: self.state.quests[q] for q in sorted(qs)}

    def fact_ids(self) -> list[str]:
        known = self.state.knowledge.get(self.npc, {})
        return [f for f, _ in sorted(known.items(), key=lambda kv: (kv[1].since, kv[0]))]

    def facts(self) -> list[str]:
        """Known facts as prose, oldest first; quest states the NPC sees are described too."""
        out = []
        for fid in self.fact_ids():
            decl = self.world.file.facts.get(fid)
            text = decl.text if decl is not None else self.state.event_facts.get(fid)
            if text:
                out.append(text)
        for q, s in self.quests().items():
            quest = self.world.file.quests[q]
            desc = quest.states[s].description
            if desc:
                out.append(f"{quest.title or q}: {desc}")
        return out

    def condition(
        self,
        src: str,
        strict: bool = False,
        values: Mapping[str, Any] | None = None,
        args: Mapping[str, Any] | None = None,
    ) -> bool:
        """Evaluate a persona condition on this view. ``values`` are the names other concerns own
        (``relationship.trust``: the turn's ``DialogueContext.values``); ``args`` an action's
        arguments (``arg.item``, for the action's ``when``). A hidden name makes it false (or
        raises :class:`Hidden` when ``strict``); a bad expression raises ExprError."""
        values = values or {}
        arg_types = {k: value_type(v) for k, v in args.items()} if args is not None else None
        fn = self.engine_condition(src, {k: value_type(v) for k, v in values.items()}, arg_types)
        env: Any = _WithValues(self, values, args) if values or args else self
        try:
            return bool(fn(env))
        except Hidden:
            if strict:
                raise
            return False

    def engine_condition(
        self, src: str, external: dict[str, Type] | None = None, args: dict[str, Type] | None = None
    ) -> Fn:
        cache = self.engine.npc_conditions
        key = src
        if external:
            key += "\0" + repr(sorted((k, t.kind) for k, t in external.items()))
        if args is not None:
            key += "\0arg" + repr(sorted((k, t.kind) for k, t in args.items()))
        fn = cache.get(key)
        if fn is None:
            scope = self.world.scope(args, npc=True, prefix="arg", external=external)
            fn, _ = self.world.condition(src, scope)
            cache[key] = fn
        return fn


class _WithValues:
    """An NPC's view plus the values of names other concerns own and an action's arguments."""

    def __init__(
        self, view: NpcView, values: Mapping[str, Any], args: Mapping[str, Any] | None = None
    ) -> None:
        self.view = view
        self.values = values
        self.args = args or {}
        self.var, self.quest = view.var, view.quest
        self.knows, self.rel, self.self_id = view.knows, view.rel, view.self_id

    def event(self, name: str) -> Any:
        if name not in self.args:
            raise Hidden("arg." + name)  # an optional argument that was not given
        return self.args[name]

    def ext(self, name: str) -> Any:
        if name not in self.values:
            raise Hidden(name)
        return self.values[name]


def event_prose(world: World, kind: str, on: str, fields: dict[str, Any]) -> str:
    """One sentence a witness remembers about an event."""
    n = world.entity_name
    if kind == "item_given":
        if fields.get("giver"):
            return f"{n(fields['giver'])} gave {n(fields['item'])} to {n(fields['receiver'])}."
        return f"{n(fields['receiver'])} got {n(fields['item'])}."
    if kind == "enemy_killed":
        count = fields.get("count", 1)
        what = n(fields["enemy"]) + (f" (x{count})" if count > 1 else "")
        return f"{n(fields['by'])} killed {what}."
    if kind == "location_entered":
        return f"{n(fields['who'])} arrived at {n(fields['location'])}."
    decl = world.file.events.get(on)
    if decl is None:
        return ""
    names = {k: (n(v) if isinstance(v, str) and v in world.kinds else v) for k, v in fields.items()}
    return fill_template(decl.text, names) if decl.text else (decl.description or f"Event: {on}.")


_PLACEHOLDER = re.compile(r"\{([a-z_][a-z0-9_]*)\}")


def fill_template(text: str, values: dict[str, Any]) -> str:
    """Replace ``{name}`` by ``values[name]`` (only plain names; nothing else is interpreted)."""
    return _PLACEHOLDER.sub(lambda m: str(values.get(m.group(1), m.group(0))), text)
