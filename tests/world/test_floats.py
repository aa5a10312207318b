"""Floats in the expression language, float world variables, and names other concerns own."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from npc_runtime.expr import FLOAT, INT, ExprError, check_condition, check_effect
from npc_runtime.expr.values import effect_value, evaluate_condition
from npc_runtime.world.compiled import World, compile_text, compile_world
from npc_runtime.world.engine import Engine, WorldEvent, WorldRejected
from npc_runtime.world.model import WorldFile
from npc_runtime.world.state import initial_state

REL = {"relationship.trust": FLOAT}


@pytest.mark.parametrize(
    "src",
    [
        "0.5 + 0.25 == 0.75",
        "-0.25 * 2 == -0.5",
        "1 + 0.5 == 1.5",  # int and float mix: a float
        "7 / 2 == 3",  # ints divide whole
        "7 / 2.0 == 3.5",  # a float divides exactly
        "7.5 % 2 == 1.5",
        "1 < 1.5 and 2 >= 2.0 and 2 == 2.0",
        "0.3 in [0.1, 0.3, 1]",
        "not (0.1 > 0.2)",
    ],
)
def test_float_literals_evaluate(src: str) -> None:
    assert evaluate_condition(src, {}) is True
    assert evaluate_condition(f"not ({src})", {}) is False


def test_floats_are_type_checked(village: World) -> None:
    scope = village.scope(npc=True, external=REL)
    assert check_condition("relationship.trust > 0.5 and player.gold >= 10", scope).reads == {
        "x:relationship.trust",
        "v:player.gold",
    }
    for src, message in [
        ('relationship.trust > "high"', "compares numbers"),
        ("relationship.trust and true", "joins true/false values"),
        ("relationship.trsut > 0.5", "did you mean 'relationship.trust'"),
        ("-gate.open", "needs a number"),
    ]:
        with pytest.raises(ExprError, match=message):
            check_condition(src, scope)
    with pytest.raises(ExprError, match="is an int but the value is a float"):
        check_effect("player.gold += 0.5", scope)
    assert check_effect("relationship.trust += 0.1", scope).writes == {"x:relationship.trust"}
    assert check_effect("relationship.trust = 1", scope).writes == {"x:relationship.trust"}  # int -> float
    with pytest.raises(ExprError, match=r"unknown name 'relationship\.trust'"):
        check_condition("relationship.trust > 0.5", village.scope(npc=True))  # not declared by anyone


def _moods() -> World:
    text = """
world: moods
entities: {player: character, mira: character}
variables:
  mood: {type: float, initial: 0, min: -1, max: 1.5, visible_to: all}
  coins: {type: int, initial: 3}
events:
  cheer: {payload: {by: {type: float}}}
rules:
  - event: cheer
    effects: ["mood += event.by"]
quests:
  q:
    initial: sad
    states: {sad: null, happy: {final: true}}
    transitions: [{from: sad, to: happy, when: "mood >= 0.75"}]
"""
    world, problems, _ = compile_text(text, "moods.world.yaml")
    assert world is not None and problems == [], problems
    return world


def test_float_variables_bounds_and_transitions() -> None:
    w = _moods()
    e = Engine(w, initial_state(w))
    e.start()
    assert e.state.vars["mood"] == 0.0 and type(e.state.vars["mood"]) is float
    ch = e.apply(WorldEvent("custom", {"name": "cheer", "payload": {"by": 0.5}}))
    assert ch.vars == {"mood": (0.0, 0.5)} and e.state.quests["q"] == "sad"
    ch = e.apply(WorldEvent("custom", {"name": "cheer", "payload": {"by": 0.25}}))
    assert e.state.vars["mood"] == 0.75 and ch.quests == {"q": ("sad", "happy")}
    with pytest.raises(WorldRejected, match=r"above the maximum 1\.5"):
        e.apply(WorldEvent("custom", {"name": "cheer", "payload": {"by": 1}}))
    assert e.state.vars["mood"] == 0.75  # refused: unchanged
    assert e.view("mira").condition("mood > 0.7 and mood < 0.8")


def test_float_declarations_are_validated() -> None:
    with pytest.raises(ValidationError, match="must be a whole number"):
        WorldFile.model_validate({"world": "w", "variables": {"n": {"type": "int", "max": 2.5}}})
    with pytest.raises(ValidationError, match="only for int and float"):
        WorldFile.model_validate({"world": "w", "variables": {"s": {"type": "string", "min": 0}}})
    w = compile_world(
        WorldFile.model_validate({"world": "w", "variables": {"f": {"type": "float", "initial": "x"}}})
    )
    assert any("is not a float" in p.message for p in w.problems)


def test_persona_conditions_read_values_other_concerns_own(engine: Engine) -> None:
    view = engine.view("bram")
    src = 'quest.wolves == "not_started" and relationship.trust >= 0.3'
    assert view.condition(src, values={"relationship.trust": 0.3})
    assert not view.condition(src, values={"relationship.trust": 0.29})
    with pytest.raises(ExprError, match="unknown name"):
        view.condition(src)  # nobody supplies the name (ctx.allows treats that as false)
    assert not engine.view("elda").condition(src, values={"relationship.trust": 1.0})  # quest hidden


def test_the_language_without_a_world() -> None:
    values = {"relationship.trust": 0.4, "relationship.affinity": -0.25}
    assert evaluate_condition("relationship.trust - relationship.affinity > 0.6", values)
    assert not evaluate_condition("relationship.trust >= 0.5", values)
    with pytest.raises(ExprError, match="need a world file"):
        evaluate_condition('knows("x")', values)
    types = {**REL, "arg.amount": INT}
    assert effect_value("relationship.trust -= arg.amount / 2.0", types, {"arg.amount": 1}) == (
        "relationship.trust",
        "-=",
        0.5,
    )


def test_an_action_checks_effects_on_names_other_concerns_own(engine: Engine) -> None:
    data: dict[str, Any] = {
        "npc": "bram",
        "action": "tip",
        "effects": ["player.gold -= 1", "relationship.trust += 1 / arg.n"],
        "args": {"n": 0},
        "values": {"relationship.trust": 0.0},
    }
    with pytest.raises(WorldRejected, match="division by zero"):
        engine.apply(WorldEvent("action", data))
    assert engine.state.vars["player.gold"] == 15  # refused as a whole
    data["args"] = {"n": 2}
    ch = engine.apply(WorldEvent("action", data))
    assert ch.vars == {"player.gold": (15, 14)}  # the relationship effect is left to its owner
    data["when"] = 'quest.wolves == "not_started" and relationship.trust > 0.5'
    with pytest.raises(WorldRejected, match="does not hold"):
        engine.apply(WorldEvent("action", data))
    data["values"] = {"relationship.trust": 0.75}
    assert engine.apply(WorldEvent("action", data)).vars == {"player.gold": (14, 13)}
