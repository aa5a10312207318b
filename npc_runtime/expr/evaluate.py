"""Compiling checked expressions into trees of Python closures (no ``eval``), and evaluating them.

A compiled expression is a ``Fn``: a function of an :class:`Env`, which supplies variable values,
quest states, event fields, knowledge, relations and the values of names other concerns own
(``ext``, e.g. ``relationship.trust``). The world engine, an NPC's view and lint's
constant folding each provide their own ``Env``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from .syntax import Bin, Call, ListLit, Lit, Name, Node, Unary
from .types import EvalError, ExprError

# -- compiling ----------------------------------------------------------------------------------


class Env(Protocol):
    """What compiled expressions read at run time."""

    def var(self, name: str) -> Any: ...

    def quest(self, name: str) -> str: ...

    def event(self, name: str) -> Any: ...

    def knows(self, npc: str | None, fact: str) -> bool: ...

    def rel(self, a: str, rel: str, b: str) -> bool: ...

    def ext(self, name: str) -> Any: ...

    def self_id(self) -> str:
        """The entity id of the NPC whose persona condition or action this is (``self``)."""
        ...


Fn = Callable[[Env], Any]


def compile_node(node: Node) -> Fn:
    if isinstance(node, Lit):
        value = node.value
        return lambda env: value
    if isinstance(node, Name):
        name = node.name
        if node.kind == "var":
            return lambda env: env.var(name)
        if node.kind == "quest":
            q = name[len("quest.") :]
            return lambda env: env.quest(q)
        if node.kind == "event":
            f = name.split(".", 1)[1]
            return lambda env: env.event(f)
        if node.kind == "ext":
            return lambda env: env.ext(name)
        if node.kind == "self":
            return lambda env: env.self_id()
        raise ExprError(f"name '{name}' was not checked", node.col)
    if isinstance(node, Unary):
        arg = compile_node(node.arg)
        if node.op == "not":
            return lambda env: not arg(env)
        return lambda env: -arg(env)
    if isinstance(node, ListLit):
        items = [compile_node(i) for i in node.items]
        if all(isinstance(i, Lit) for i in node.items):
            const = frozenset(i.value for i in node.items if isinstance(i, Lit))
            return lambda env: const
        return lambda env: frozenset(i(env) for i in items)
    if isinstance(node, Call):
        args = [compile_node(a) for a in node.args]
        if node.fn == "knows":
            if len(args) == 1:
                return lambda env: env.knows(None, args[0](env))
            return lambda env: env.knows(args[0](env), args[1](env))
        if node.fn == "rel":
            a, r, b = args
            return lambda env: env.rel(a(env), r(env), b(env))
        raise ExprError(f"'{node.fn}' is an effect, not a condition", node.col)
    if isinstance(node, Bin):
        return _compile_bin(node)
    raise ExprError("not an expression", node.col)


def _compile_bin(node: Bin) -> Fn:
    left, right = compile_node(node.left), compile_node(node.right)
    op = node.op
    if op == "and":
        return lambda env: bool(left(env)) and bool(right(env))
    if op == "or":
        return lambda env: bool(left(env)) or bool(right(env))
    if op == "==":
        return lambda env: left(env) == right(env)
    if op == "!=":
        return lambda env: left(env) != right(env)
    if op == "<":
        return lambda env: left(env) < right(env)
    if op == "<=":
        return lambda env: left(env) <= right(env)
    if op == ">":
        return lambda env: left(env) > right(env)
    if op == ">=":
        return lambda env: left(env) >= right(env)
    if op == "in":
        return lambda env: left(env) in right(env)
    if op == "not in":
        return lambda env: left(env) not in right(env)
    if op == "+":
        return lambda env: left(env) + right(env)
    if op == "-":
        return lambda env: left(env) - right(env)
    if op == "*":
        return lambda env: left(env) * right(env)

    real = node.real

    def div(env: Env) -> int | float:
        d = right(env)
        if d == 0:
            raise EvalError(f"division by zero at column {node.col}")
        n = left(env)
        if op == "%":
            return n % d
        return n / d if real else n // d

    return div


def constant_value(node: Node) -> Any:
    """The value of an expression that reads no names, or raises LookupError."""

    class _NoEnv:
        def var(self, name: str) -> Any:
            raise LookupError(name)

        quest = event = ext = var

        def self_id(self) -> str:
            raise LookupError("self")

        def knows(self, npc: str | None, fact: str) -> bool:
            raise LookupError(fact)

        def rel(self, a: str, rel: str, b: str) -> bool:
            raise LookupError(rel)

    return compile_node(node)(_NoEnv())
