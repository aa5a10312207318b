"""Action arguments taken from what the player said, within each parameter's declared type. Pure.

An authored action call lists the parameters to fill from the player's words (``from_player``):

- an enum parameter takes the member the player named: its value with underscores read as spaces
  (``plum_brandy`` <- "plum brandy"), a plural ("two ciders"), or one of the parameter's
  ``aliases`` ("a shield" -> ``armour``). A member right after a negation ("no ale", "not the
  ale", "without ale") does not count; two different members named make the value ambiguous, and
  it stays unfilled;
- an int or float parameter takes the one number the player said, in digits or words ("5",
  "five", "twenty one", "a dozen"), when it lies within ``min``/``max``; several different numbers
  are ambiguous.

An unfilled parameter takes the call's fixed ``args`` value if there is one; a required parameter
with neither leaves the call unfillable (:func:`fill_call` returns None).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ..personas.schema import ActionCall, ActionSpec, ParamSpec

_WORD = re.compile(r"[a-z0-9]+(?:\.[0-9]+)?")
_NEGATIONS = frozenset({"no", "not", "without", "never", "nor", "don't", "dont", "except", "instead"})
_UNITS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14,
    "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19, "dozen": 12,
}  # fmt: skip
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80,
         "ninety": 90}  # fmt: skip


def _tokens(text: str) -> list[str]:
    return _WORD.findall(text.lower().replace("'", ""))


def _singular(word: str) -> str:
    if len(word) > 3 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("es") and word[-3] in "sxz":
        return word[:-2]
    if len(word) > 2 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


@dataclass(frozen=True)
class Filled:
    """A call's arguments; ``said`` names those taken from the player's words."""

    args: dict[str, Any]
    said: frozenset[str]


def enum_value(param: ParamSpec, text: str) -> str | None:
    """The enum member the player named, or None (none named, or ambiguous)."""
    words = [_singular(w) for w in _tokens(text)]
    found: set[str] = set()
    for value in param.enum or []:
        forms = [value.replace("_", " "), *param.aliases.get(value, [])]
        for form in forms:
            target = [_singular(w) for w in _tokens(form)]
            if target and _mentioned(words, target):
                found.add(value)
                break
    return found.pop() if len(found) == 1 else None


def names_value(param: ParamSpec, value: Any, text: str) -> bool:
    """True when ``text`` names this enum member (its words or an alias, not negated), whatever
    else it names too ("a draught or a tonic?" names both)."""
    if not param.enum or value not in param.enum or not text:
        return False
    words = [_singular(w) for w in _tokens(text)]
    for form in [str(value).replace("_", " "), *param.aliases.get(str(value), [])]:
        target = [_singular(w) for w in _tokens(form)]
        if target and _mentioned(words, target):
            return True
    return False


def unnamed_choices(spec: ActionSpec, args: dict[str, Any], *texts: str) -> list[str]:
    """The enum arguments of a proposed call that none of ``texts`` names (the player's words, the
    NPC's reply): a language model that serves a cider nobody spoke of acts unasked."""
    return [
        name
        for name, value in args.items()
        if (param := spec.params.get(name)) is not None
        and param.enum
        and not any(names_value(param, value, text) for text in texts)
    ]


def _mentioned(words: list[str], target: list[str]) -> bool:
    n = len(target)
    for i in range(len(words) - n + 1):
        if words[i : i + n] == target:
            before = words[max(0, i - 2) : i]
            if not any(w in _NEGATIONS for w in before):
                return True
    return False


def numbers(text: str) -> list[float]:
    """Numbers said in digits or words, in order ("twenty one" is one number, 21)."""
    out: list[float] = []
    pending: int | None = None
    for word in _tokens(text):
        if re.fullmatch(r"\d+(?:\.\d+)?", word):
            if pending is not None:
                out.append(pending)
                pending = None
            out.append(float(word) if "." in word else int(word))
        elif word in _TENS:
            if pending is not None:
                out.append(pending)
            pending = _TENS[word]
        elif word in _UNITS:
            if pending is not None and pending >= 20 and pending % 10 == 0 and _UNITS[word] < 10:
                out.append(pending + _UNITS[word])
                pending = None
            else:
                if pending is not None:
                    out.append(pending)
                pending = _UNITS[word]
        elif word == "hundred" and pending is not None:
            pending *= 100
        elif pending is not None:
            out.append(pending)
            pending = None
    if pending is not None:
        out.append(pending)
    return out


def number_value(param: ParamSpec, text: str) -> int | float | None:
    """The one number the player said that fits the parameter, or None."""
    fits: set[float] = set()
    for n in numbers(text):
        if param.type == "int" and n != int(n):
            continue
        if (param.min is not None and n < param.min) or (param.max is not None and n > param.max):
            continue
        fits.add(n)
    if len(fits) != 1:
        return None
    n = fits.pop()
    return int(n) if param.type == "int" else float(n)


def from_words(param: ParamSpec, text: str) -> Any:
    """What the player said for this parameter, or None."""
    if param.enum:
        return enum_value(param, text)
    if param.type in ("int", "float"):
        return number_value(param, text)
    return None


def fill_call(spec: ActionSpec, call: ActionCall, text: str) -> Filled | None:
    """The call's arguments for what the player said; None when a required one has no value."""
    args = dict(call.args)
    said: set[str] = set()
    for name in call.from_player:
        param = spec.params.get(name)
        value = from_words(param, text) if param is not None and text else None
        if value is not None:
            args[name] = value
            said.add(name)
    for name, param in spec.params.items():
        if param.required and name not in args:
            return None
    return Filled(args, frozenset(said))
