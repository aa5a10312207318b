"""Action arguments taken from the player's words, within the declared enum or type."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from npc_runtime.dialogue.arguments import enum_value, fill_call, number_value, numbers, unnamed_choices
from npc_runtime.personas.schema import ActionCall, ActionSpec, ParamSpec, Persona

DRINK = ParamSpec(type="string", enum=["ale", "cider", "plum_brandy"], aliases={"ale": ["beer", "pint"]})


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("I would like a cider", "cider"),
        ("two ciders, please", "cider"),
        ("a glass of plum brandy", "plum_brandy"),  # underscores are spaces
        ("a beer", "ale"),  # an alias
        ("no ale for me, a cider", "cider"),  # a negated value does not count
        ("I don't want ale, give me cider", "cider"),
        ("an ale and a cider", None),  # two values: ambiguous, unfilled
        ("brandy", None),  # part of a value is not the value
        ("something to drink", None),
        ("CIDER!", "cider"),
    ],
)
def test_enum_values_named_by_the_player(text: str, value: str | None) -> None:
    assert enum_value(DRINK, text) == value


def test_a_proposed_choice_must_be_named_by_the_player_or_the_reply() -> None:
    serve = ActionSpec(name="serve", params={"drink": DRINK, "price": ParamSpec(type="int")})
    assert unnamed_choices(serve, {"drink": "ale", "price": 2}, "I'm thirsty", "Here you are.") == ["drink"]
    assert unnamed_choices(serve, {"drink": "ale"}, "I'm thirsty", "An ale or a cider, love?") == []
    assert unnamed_choices(serve, {"drink": "ale"}, "a pint, please", "Here.") == []  # an alias
    assert unnamed_choices(serve, {"drink": "ale"}, "no ale for me", "Right.") == ["drink"]  # negated
    assert unnamed_choices(serve, {"price": 2}, "", "") == []  # only enum choices need naming


def test_numbers_in_digits_and_words() -> None:
    assert numbers("five gold") == [5]
    assert numbers("twenty one coins and 3 more") == [21, 3]
    assert numbers("a dozen eggs") == [12]
    assert numbers("two hundred") == [200]
    assert numbers("1.5 pints") == [1.5]
    assert numbers("an ale") == []


def test_numbers_fill_within_the_declared_range_and_type() -> None:
    amount = ParamSpec(type="int", min=1, max=50)
    assert number_value(amount, "here's ten gold") == 10
    assert number_value(amount, "here's 100 gold") is None  # above max
    assert number_value(amount, "ten or twenty gold") is None  # ambiguous
    assert number_value(amount, "1.5 gold") is None  # not an int
    assert number_value(ParamSpec(type="float"), "1.5 gold") == 1.5


def test_fill_call_uses_the_fixed_value_when_the_player_named_none() -> None:
    spec = ActionSpec(name="serve", params={"drink": DRINK, "count": ParamSpec(type="int", min=1, max=5)})
    call = ActionCall(name="serve", from_player=["drink", "count"], args={"count": 1})
    filled = fill_call(spec, call, "three ciders")
    assert filled is not None and filled.args == {"drink": "cider", "count": 3}
    assert filled.said == {"drink", "count"}
    only_drink = fill_call(spec, call, "a cider")
    assert only_drink is not None and only_drink.args == {"drink": "cider", "count": 1}
    assert fill_call(spec, call, "a drink") is None  # required drink: no value


def _persona(**topic: object) -> dict[str, object]:
    return {
        "id": "p",
        "name": "P",
        "fallback": ["Hm.", "Eh?"],
        "actions": [
            {"name": "serve", "params": {"drink": {"enum": ["ale", "cider"]}, "note": {"type": "string"}}}
        ],
        "topics": [{"id": "t", "phrasings": ["a drink"], "lines": ["Here."], **topic}],
    }


def test_the_schema_checks_calls_and_aliases() -> None:
    Persona.model_validate(_persona(actions=[{"name": "serve", "from_player": ["drink"]}]))
    with pytest.raises(ValidationError, match="cannot be taken from the player's words"):
        Persona.model_validate(_persona(actions=[{"name": "serve", "from_player": ["note"]}]))
    with pytest.raises(ValidationError, match="has no parameter 'drnk'"):
        Persona.model_validate(_persona(actions=[{"name": "serve", "from_player": ["drnk"]}]))
    with pytest.raises(ValidationError, match="not one of the enum values"):
        ParamSpec(enum=["ale"], aliases={"wine": ["red"]})
    line_action = {"text": "One {arg.drink}.", "actions": [{"name": "serve", "from_player": ["drink"]}]}
    Persona.model_validate(_persona(lines=[line_action]))
    with pytest.raises(ValidationError, match="not an argument of the line's actions"):
        Persona.model_validate(_persona(lines=["One {arg.drink}."]))
