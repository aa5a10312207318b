"""The expression language over plain named values, without a world file. No I/O, no ``eval``.

The world evaluates persona conditions on an NPC's view; a concern that owns names of its own
(memory: ``relationship.trust``) uses this module to check and evaluate expressions that read only
its names when no world is loaded, and to compute its share of an action's effects::

    evaluate_condition("relationship.trust > 0.5 and relationship.affinity >= 0", values)
    target, op, amount = effect_value("relationship.trust += 0.1", types, values)

Every name is of kind ``ext``; functions that need a world (``knows``, ``rel``) are refused.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

from .check import check_condition, check_effect
from .evaluate import Fn, compile_node
from .syntax import Assign, Bin, Call, ListLit, Name, Node, Unary, parse_condition, parse_effect
from .types import ExprError, Hidden, Type, value_type


class ValuesScope:
    """Scope for the type checker: the given names, nothing else."""

    npc_context = True

    def __init__(self, types: Mapping[str, Type]) -> None:
        self.types = types

    def name_type(self, name: str) -> tuple[str, Type] | None:
        t = self.types.get(name)
        return ("ext", t) if t is not None else None

    def suggest(self, name: str) -> str | None:
        hits = difflib.get_close_matches(name, list(self.types), n=1, cutoff=0.6)
        return hits[0] if hits else None

    def check_id(self, what: str, value: str) -> str | None:
        return f"{what} '{value}': knows() and rel() need a world file"


class ValuesEnv:
    """Evaluation environment: reads names from ``values`` (a missing one is :class:`Hidden`)."""

    def __init__(self, values: Mapping[str, Any]) -> None:
        self.values = values

    def ext(self, name: str) -> Any:
        if name not in self.values:
            raise Hidden(name)
        return self.values[name]

    def var(self, name: str) -> Any:
        raise Hidden(name)

    quest = event = var

    def self_id(self) -> str:
        raise Hidden("self")

    def knows(self, npc: str | None, fact: str) -> bool:
        raise Hidden(f"knows({fact})")

    def rel(self, a: str, rel: str, b: str) -> bool:
        raise Hidden(f"rel({a}, {rel}, {b})")


def names_in(node: Node) -> tuple[set[str], bool]:
    """The names an expression reads, and whether it calls a function."""
    if isinstance(node, Name):
        return {node.name}, False
    if isinstance(node, Call):
        names: set[str] = set()
        for a in node.args:
            names |= names_in(a)[0]
        return names, True
    children: list[Node] = []
    if isinstance(node, Unary):
        children = [node.arg]
    elif isinstance(node, Bin):
        children = [node.left, node.right]
    elif isinstance(node, ListLit):
        children = list(node.items)
    elif isinstance(node, Assign):
        children = [node.target, node.value]
    out: set[str] = set()
    calls = False
    for c in children:
        n, k = names_in(c)
        out |= n
        calls = calls or k
    return out, calls


def condition_names(src: str) -> set[str] | None:
    """The names a condition reads; None when it does not parse or calls a function."""
    try:
        names, calls = names_in(parse_condition(src))
    except ExprError:
        return None
    return None if calls else names


def effect_target(src: str) -> str | None:
    """The name an assignment effect (``name = ...``, ``+=``, ``-=``) changes; None otherwise."""
    try:
        eff = parse_effect(src)
    except ExprError:
        return None
    return eff.target.name if isinstance(eff, Assign) else None


def compile_condition(src: str, types: Mapping[str, Type]) -> Fn:
    """Check ``src`` against ``types`` (raises ExprError) and compile it."""
    return compile_node(check_condition(src, ValuesScope(types)).node)


def evaluate_condition(src: str, values: Mapping[str, Any]) -> bool:
    """Evaluate a condition on ``values`` (types taken from the values). Raises ExprError for an
    unknown name or a type error."""
    fn = compile_condition(src, {k: value_type(v) for k, v in values.items()})
    return bool(fn(ValuesEnv(values)))


def check_value_effect(src: str, types: Mapping[str, Type]) -> tuple[str, str, Fn]:
    """Check an assignment effect on ``types``: (target, op, compiled value). Raises ExprError."""
    checked = check_effect(src, ValuesScope(types))
    eff = checked.effect
    if not isinstance(eff, Assign):
        raise ExprError(f"'{src}' is not an assignment ('name += n', 'name -= n', 'name = v')", eff.col)
    return eff.target.name, eff.op, compile_node(eff.value)


def effect_value(src: str, types: Mapping[str, Type], values: Mapping[str, Any]) -> tuple[str, str, Any]:
    """(target, op, value) of an assignment effect evaluated on ``values`` (e.g. ``arg.*``)."""
    target, op, fn = check_value_effect(src, types)
    return target, op, fn(ValuesEnv(values))
