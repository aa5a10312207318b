"""Templates in authored lines: ``{player.name}``, ``{gate.bribe}``, ``{arg.drink}``. Pure functions.

A line's text may hold fields over what the NPC knows; they are filled when the line is chosen
(:func:`npc_runtime.dialogue.templates.context_lookup` reads the values from the turn's dialogue
context)::

    Evening, {player.name|love}! One {arg.drink}, coming up.

Names: ``player.name`` (the name the player told this NPC, from memory's player facts), world
variables and quests the NPC can see (``player.gold``, ``quest.wolves``), names other concerns own
(``relationship.trust``), and ``arg.<param>``: an argument of the actions taken with the line.
``{{`` and ``}}`` write literal braces.

When a value is unknown at run time (the NPC never learned the player's name, a variable it cannot
see), ``{name|default}`` says the default; a field without a default makes the line unsayable, and
it is skipped like a line whose ``when`` fails. Fallback lines must give every field a default (the
schema refuses them otherwise), so a fallback can always be said.

Values read naturally: ``true``/``false`` become ``yes``/``no``, floats lose trailing zeros, and
underscores in text values become spaces (``healing_draught`` -> ``healing draught``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")
BUILTIN_NAMES = frozenset({"player.name"})


class TemplateError(ValueError):
    """A line's template does not parse (unbalanced braces, a bad name)."""


@dataclass(frozen=True)
class TemplateField:
    name: str
    default: str | None
    start: int  # offsets of the whole ``{...}`` in the text
    end: int


def parse_template(text: str) -> list[TemplateField]:
    """The fields of ``text``; raises :class:`TemplateError`. Text without braces has none."""
    out: list[TemplateField] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "}":
            if text.startswith("}}", i):
                i += 2
                continue
            raise TemplateError(f"'}}' at character {i + 1} closes nothing (write '}}}}' for a brace)")
        if ch != "{":
            i += 1
            continue
        if text.startswith("{{", i):
            i += 2
            continue
        close = text.find("}", i)
        if close < 0:
            raise TemplateError(f"'{{' at character {i + 1} is not closed (write '{{{{' for a brace)")
        body = text[i + 1 : close]
        name, sep, default = body.partition("|")
        name = name.strip()
        if not _NAME.fullmatch(name):
            raise TemplateError(f"'{{{body}}}' at character {i + 1}: '{name}' is not a name like player.name")
        out.append(TemplateField(name, default if sep else None, i, close + 1))
        i = close + 1
    return out


def spoken(value: Any) -> str:
    """A value as words: yes/no, 0.5, 'healing draught'."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value).replace("_", " ")


Lookup = Callable[[str], Any]


def render(text: str, lookup: Lookup) -> str | None:
    """``text`` with its fields filled; None when a field without a default has no value.

    ``lookup(name)`` returns the value or None when it is unknown."""
    if "{" not in text and "}" not in text:
        return text
    fields = parse_template(text)
    parts: list[str] = []
    pos = 0
    for f in fields:
        parts.append(_unescape(text[pos : f.start]))
        value = lookup(f.name)
        if value is None or value == "":
            if f.default is None:
                return None
            parts.append(f.default)
        else:
            parts.append(spoken(value))
        pos = f.end
    parts.append(_unescape(text[pos:]))
    return "".join(parts)


def _unescape(text: str) -> str:
    return text.replace("{{", "{").replace("}}", "}")


def template_names(text: str) -> list[str]:
    """Names the fields of ``text`` read (empty when it does not parse: the schema reports that)."""
    try:
        return [f.name for f in parse_template(text)]
    except TemplateError:
        return []
