"""The small, safe expression language shared by personas, the world and memory: parser, type checker and compiler. No ``eval``.

Conditions::

    quest.wolves == "done" and player.gold >= 10
    not gate.open or knows("gate_bribed")
    rel("player", "owns", "wolf_pelt") and wolves.killed in [3, 4, 5]

Effects (one per string)::

    player.gold -= 10
    gate.open = true
    relate("player", "owns", "iron_key")      unrelate(...)      reveal("gate_bribed", "mira")

Names are world variables (``player.gold``), quest states (``quest.wolves``, an enumeration of the
quest's states), in event rules the event's fields (``event.enemy``), in persona actions the action's
arguments (``arg.item``, in its ``when`` and its effects), in persona conditions and effects ``self``
(the NPC's own entity id: ``rel(self, "owns", arg.item)``) and the names other concerns own (``relationship.trust``, kind ``ext``: see
:meth:`npc_runtime.host.Extension.expression_names`). Numbers are ints (``3``) or floats (``0.5``); the two compare
and mix in arithmetic (the result is a float when either side is). A parsed expression is
type-checked against a :class:`Scope` and compiled into a tree of Python closures that read an
:class:`Env`; evaluation never touches Python's ``eval``.

Modules: :mod:`.types` (types and errors), :mod:`.syntax` (tokens, tree, parser), :mod:`.check`
(type checker), :mod:`.evaluate` (compiler to closures), :mod:`.values` (conditions and effects
over plain named values, for concerns that evaluate without a world).
"""

from __future__ import annotations

from .check import (
    CONDITION_FUNCTIONS,
    EFFECT_FUNCTIONS,
    Checked,
    CheckedEffect,
    Scope,
    check_condition,
    check_effect,
)
from .evaluate import Env, Fn, compile_node
from .syntax import Assign, Bin, Call, Effect, ListLit, Lit, Name, Node, Unary, parse_condition, parse_effect
from .types import (
    BOOL,
    FLOAT,
    INT,
    SIMPLE_TYPES,
    STRING,
    EvalError,
    ExprError,
    Hidden,
    ParamLike,
    Type,
    enum,
    num_type,
    param_type,
    simple_type,
    value_type,
)

__all__ = [
    "BOOL",
    "CONDITION_FUNCTIONS",
    "EFFECT_FUNCTIONS",
    "FLOAT",
    "INT",
    "SIMPLE_TYPES",
    "STRING",
    "Assign",
    "Bin",
    "Call",
    "Checked",
    "CheckedEffect",
    "Effect",
    "Env",
    "EvalError",
    "ExprError",
    "Fn",
    "Hidden",
    "ListLit",
    "Lit",
    "Name",
    "Node",
    "ParamLike",
    "Scope",
    "Type",
    "Unary",
    "check_condition",
    "check_effect",
    "compile_node",
    "enum",
    "num_type",
    "param_type",
    "parse_condition",
    "parse_effect",
    "simple_type",
    "value_type",
]
