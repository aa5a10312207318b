"""Action conditions that read the action's arguments and the world's relations (an inventory
rule written directly), `self`, and relation removals that match nothing."""

from __future__ import annotations

import re

import pytest

from npc_runtime.expr import ExprError
from npc_runtime.personas.schema import Persona
from npc_runtime.world.compiled import World
from npc_runtime.world.engine import Engine, WorldEvent, WorldRejected
from npc_runtime.world.personas import check_persona

SELL = {
    "npc": "elda",
    "action": "sell_remedy",
    "when": 'rel(self, "owns", arg.remedy)',
    "effects": ["player.gold -= arg.price", 'unrelate(self, "owns", arg.remedy)', 'relate("player", "owns", arg.remedy)'],
}  # fmt: skip


def test_an_inventory_rule_reads_the_arguments_and_the_relations(engine: Engine) -> None:
    ch = engine.apply(WorldEvent("action", {**SELL, "args": {"remedy": "sleeping_tonic", "price": 3}}))
    assert ch.relations_removed == [("elda", "owns", "sleeping_tonic")]
    assert ch.relations_added == [("player", "owns", "sleeping_tonic")]
    assert ch.vars["player.gold"] == (15, 12)
    again = re.escape(
        "action 'sell_remedy' is not allowed now: 'rel(self, \"owns\", arg.remedy)' does not hold "
        "(with arg.price = 3, arg.remedy = 'sleeping_tonic')"
    )
    with pytest.raises(WorldRejected, match=again):
        engine.apply(WorldEvent("action", {**SELL, "args": {"remedy": "sleeping_tonic", "price": 3}}))
    assert engine.state.vars["player.gold"] == 12  # refused: nothing changed
    # the other remedy is still on her shelf
    engine.apply(WorldEvent("action", {**SELL, "args": {"remedy": "healing_draught", "price": 3}}))


def test_self_is_the_acting_npc(engine: Engine) -> None:
    mine = {"npc": "mira", "action": "check", "when": 'rel(self, "located_in", "inn")', "effects": []}
    engine.apply(WorldEvent("action", mine))
    with pytest.raises(WorldRejected, match="does not hold"):
        engine.apply(WorldEvent("action", {**mine, "npc": "bram"}))
    assert engine.view("bram").condition('rel(self, "located_in", "smithy")')


def test_a_relation_removal_that_matches_nothing_refuses_the_action(engine: Engine) -> None:
    unguarded = {**SELL, "when": None, "args": {"remedy": "healing_draught", "price": 3}}
    engine.apply(WorldEvent("action", unguarded))
    gold = engine.state.vars["player.gold"]
    with pytest.raises(WorldRejected, match="there is no relation elda owns healing_draught to remove"):
        engine.apply(WorldEvent("action", unguarded))
    assert engine.state.vars["player.gold"] == gold  # the gold effect before it was rolled back


def _persona(when: str, effects: list[str], enum: list[str]) -> Persona:
    return Persona.model_validate(
        {
            "id": "elda",
            "name": "Elda",
            "fallback": ["Hm.", "Eh?"],
            "actions": [
                {
                    "name": "sell",
                    "params": {"item": {"type": "entity", "enum": enum}, "price": {"type": "int"}},
                    "when": when,
                    "effects": effects,
                }
            ],
        }
    )


def test_lint_checks_arguments_in_action_conditions(village: World) -> None:
    ok = _persona('rel(self, "owns", arg.item) and arg.price <= player.gold', [], ["healing_draught"])
    assert check_persona(village, ok) == []
    typo = _persona('rel(self, "owns", arg.itme)', [], ["healing_draught"])
    assert "unknown name 'arg.itme'; did you mean 'arg.item'?" in check_persona(village, typo)[0][1]
    not_entity = _persona('rel(self, "owns", arg.item)', ['unrelate(self, "owns", arg.item)'], ["potion"])
    problems = dict(check_persona(village, not_entity))
    assert "unknown entity 'potion'" in problems["actions.0.when"]
    assert "a value of 'arg.item'" in problems["actions.0.effects.0"]
    # `self` is for persona conditions only, not the world file's rules
    with pytest.raises(ExprError, match="unknown name 'self'"):
        village.condition('rel(self, "owns", "ale")', village.scope())
