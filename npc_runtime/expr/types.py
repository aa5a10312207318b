"""Types and errors of the expression language (see :mod:`npc_runtime.expr`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

# -- types ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Type:
    kind: str  # bool | int | float | string | enum | list
    values: frozenset[str] | None = None  # enum members
    item: Type | None = None  # list element type

    def __str__(self) -> str:
        if self.kind == "enum" and self.values is not None:
            return "one of " + ", ".join(f'"{v}"' for v in sorted(self.values))
        if self.kind == "list" and self.item is not None:
            return f"list of {self.item}"
        return self.kind

    @property
    def a(self) -> str:
        """With its article: "an int", "a bool", "one of ..."."""
        text = str(self)
        if self.kind == "enum":
            return text
        return ("an " if text[0] in "aeiou" else "a ") + text

    @property
    def stringy(self) -> bool:
        return self.kind in ("string", "enum")

    @property
    def numeric(self) -> bool:
        return self.kind in ("int", "float")


BOOL = Type("bool")
INT = Type("int")
FLOAT = Type("float")
STRING = Type("string")
SIMPLE_TYPES = {"bool": BOOL, "int": INT, "float": FLOAT, "string": STRING}


def simple_type(name: str) -> Type:
    """The type called ``name`` (bool | int | float | string); ValueError for anything else."""
    try:
        return SIMPLE_TYPES[name]
    except KeyError:
        raise ValueError(f"unknown type '{name}' (one of {', '.join(SIMPLE_TYPES)})") from None


def num_type(a: Type, b: Type) -> Type:
    """The result of arithmetic on two numbers: float when either is."""
    return FLOAT if FLOAT.kind in (a.kind, b.kind) else INT


def enum(values: Sequence[str]) -> Type:
    return Type("enum", frozenset(values))


class ExprError(Exception):
    """A syntax or type error in an expression; ``col`` is 1-based."""

    def __init__(self, message: str, col: int | None = None) -> None:
        self.message = message
        self.col = col
        super().__init__(f"{message} (at column {col})" if col else message)


class EvalError(Exception):
    """An expression failed at run time (division by zero, a bad argument)."""


class Hidden(Exception):
    """A name is not in the evaluating NPC's view."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(name)


# -- tokens -----------------------------------------------------------------------------------


def value_type(value: Any) -> Type:
    """The expression type of a plain value (bool, int, float, anything else a string)."""
    if isinstance(value, bool):
        return BOOL
    if isinstance(value, int):
        return INT
    return FLOAT if isinstance(value, float) else STRING


class ParamLike(Protocol):
    """A typed parameter as persona actions declare them (``type`` and optional ``enum``)."""

    @property
    def type(self) -> str: ...

    @property
    def enum(self) -> list[str] | None: ...


def param_type(spec: ParamLike) -> Type:
    """The expression type of an action parameter (``arg.<name>`` in conditions and effects)."""
    if spec.enum:
        return enum(spec.enum)
    return {"int": INT, "float": FLOAT, "bool": BOOL}.get(spec.type, STRING)
