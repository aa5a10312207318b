"""Applying events: validation, atomicity, transitions, exclusive branches, knowledge, rumours."""

from __future__ import annotations

import re
from typing import Any

import pytest

from npc_runtime.world.compiled import World, compile_world
from npc_runtime.world.engine import Engine, WorldEvent, WorldRejected
from npc_runtime.world.model import WorldFile
from npc_runtime.world.state import initial_state


def custom(
    name: str, game_time: float | None = None, witnesses: list[str] | None = None, **payload: Any
) -> WorldEvent:
    return WorldEvent("custom", {"name": name, "payload": payload}, witnesses or [], game_time)


def bribe(amount: int, **kw: Any) -> WorldEvent:
    return custom("bribe_offered", amount=amount, **kw)


def persuade(success: bool = True) -> WorldEvent:
    return custom("persuasion_attempt", success=success)


def test_start_state_comes_from_the_world_file(engine: Engine) -> None:
    s = engine.state
    assert s.vars["player.gold"] == 15
    assert s.quests == {"wolves": "not_started", "gate": "closed", "remedy": "waiting"}
    assert ("mira", "located_in", "inn") in s.relations()
    assert s.knows("elda", "elda_needs_moonpetal") and not s.knows("tomas", "elda_needs_moonpetal")


def test_item_given_moves_ownership_and_fires_the_dependent_transition(engine: Engine) -> None:
    engine.apply(custom("quest_accepted", quest="wolves"))
    assert engine.state.quests["wolves"] == "hunting"
    ch = engine.apply(WorldEvent("enemy_killed", {"enemy": "wolf", "count": 3}))
    assert ch.quests == {"wolves": ("hunting", "cleared")}
    assert ch.vars == {"wolves.killed": (0, 3)}
    assert [f.transition for f in ch.fired] == ["cleared"] and ch.fired[0].say is None  # silent
    assert ("tomas", "wolves_thinned", "witnessed") in ch.learned
    engine.apply(WorldEvent("item_given", {"item": "wolf_pelt"}))  # the player picks it up
    ch = engine.apply(WorldEvent("item_given", {"item": "wolf_pelt", "giver": "player", "receiver": "bram"}))
    assert ch.relations_added == [("bram", "owns", "wolf_pelt")]
    assert ch.relations_removed == [("player", "owns", "wolf_pelt")]
    assert ch.quests == {"wolves": ("cleared", "done")}
    assert ch.vars == {"player.gold": (15, 25)}
    assert ch.fired[0].say == ("bram", "That's a fine pelt. Ten gold, as promised.")


def test_location_entered_moves_the_player(engine: Engine) -> None:
    ch = engine.apply(WorldEvent("location_entered", {"location": "inn"}))
    assert ch.relations_added == [("player", "located_in", "inn")]
    assert ch.relations_removed == [("player", "located_in", "square")]


def test_one_event_chains_transitions_across_quests(engine: Engine) -> None:
    ch = engine.apply(bribe(10))
    # the gate opens by bribe, which lets the remedy quest move on in the same event
    assert ch.quests == {"gate": ("closed", "bribed"), "remedy": ("waiting", "gathering")}
    assert [f.quest for f in ch.fired] == ["gate", "remedy"]


def test_branches_exclude_each_other_bribe_first(engine: Engine) -> None:
    engine.apply(bribe(10))
    for _ in range(3):
        engine.apply(persuade())
    assert engine.state.vars["tomas.trust"] == 3  # the persuasion condition now holds...
    assert engine.state.quests["gate"] == "bribed"  # ...but the gate left 'closed' by the other branch


def test_branches_exclude_each_other_persuasion_first(engine: Engine) -> None:
    for _ in range(3):
        engine.apply(persuade())
    assert engine.state.quests["gate"] == "persuaded"
    ch = engine.apply(bribe(12))
    assert ch.vars["gate.bribe"] == (0, 12) and not ch.quests and not ch.fired
    assert not engine.state.knows("tomas", "tomas_took_bribe")


def test_when_both_branches_hold_at_once_the_first_declared_wins() -> None:
    w = compile_world(
        WorldFile.model_validate(
            {
                "world": "fork",
                "entities": {"player": "character"},
                "variables": {"a": {"type": "bool"}, "b": {"type": "bool"}},
                "events": {"both": {}},
                "rules": [{"event": "both", "effects": ["b = true", "a = true"]}],
                "quests": {
                    "q": {
                        "initial": "s",
                        "states": {"s": None, "x": {"final": True}, "y": {"final": True}},
                        "transitions": [
                            {"from": "s", "to": "x", "when": "a"},
                            {"from": "s", "to": "y", "when": "b"},
                        ],
                    }
                },
            }
        )
    )
    e = Engine(w, initial_state(w))
    e.start()
    ch = e.apply(WorldEvent("custom", {"name": "both"}))
    assert ch.quests == {"q": ("s", "x")} and len(ch.fired) == 1


@pytest.mark.parametrize(
    ("event", "message", "field"),
    [
        (WorldEvent("item_given", {"item": "dragon_egg"}), "unknown entity 'dragon_egg'", "item"),
        (WorldEvent("item_given", {"item": "mira"}), "'mira' is a character, expected an item", "item"),
        (WorldEvent("item_given", {}), "'item' is required", "item"),
        (
            WorldEvent("enemy_killed", {"enemy": "wolf", "count": 0}),
            "count must be a whole number >= 1",
            "count",
        ),
        (
            WorldEvent("enemy_killed", {"enemy": "wolf", "count": True}),
            "count must be a whole number",
            "count",
        ),
        (
            WorldEvent("location_entered", {"location": "wolf_pelt"}),
            "is an item, expected a location",
            "location",
        ),
        (
            custom("bribe_offered", amount="ten"),
            "payload field 'amount': 'ten' is not an int",
            "payload.amount",
        ),
        (custom("bribe_offered", amount=True), "'amount': True is not an int", "payload.amount"),
        (custom("bribe_offered", amount=0), "0 is below the minimum 1", "payload.amount"),
        (custom("bribe_offered"), "payload field 'amount' is required", "payload.amount"),
        (custom("bribe_offered", amount=1, tip=2), "has no payload field(s) tip", "payload"),
        (custom("dragon_arrives"), "unknown custom event 'dragon_arrives'", "name"),
        (
            custom("weather_changed", weather="snow"),
            "'snow' is not one of clear, rain, fog",
            "payload.weather",
        ),
        (WorldEvent("enemy_killed", {"enemy": "wolf"}, ["mira", "ghost"]), "witness 'ghost'", "witnesses.1"),
        (WorldEvent("teleport", {}), "unknown event kind 'teleport'", "kind"),
    ],
)
def test_bad_events_are_refused_and_change_nothing(
    engine: Engine, event: WorldEvent, message: str, field: str
) -> None:
    before = engine.state.to_dict()
    with pytest.raises(WorldRejected) as info:
        engine.apply(event)
    assert message in info.value.message
    assert info.value.field == field
    assert engine.state.to_dict() == before


def test_an_effect_breaking_a_bound_rolls_back_the_whole_event(engine: Engine) -> None:
    engine.apply(bribe(10))  # gold 15 -> 5, the gate opens by bribe
    before = engine.state.to_dict()
    with pytest.raises(WorldRejected) as info:
        engine.apply(bribe(6, witnesses=["mira"]))  # would leave -1 gold
    assert "would set player.gold to -1, but -1 is below the minimum 0" in info.value.message
    assert engine.state.to_dict() == before  # gate.bribe (second effect) and the witness fact too


def test_a_transition_effect_breaking_a_bound_refuses_the_event(village: World) -> None:
    doc = village.file.model_dump(by_alias=True)
    doc["quests"]["gate"]["transitions"][1]["effects"].append("tomas.trust += 9")  # max 5
    e = Engine(compile_world(WorldFile.model_validate(doc)), initial_state(village))
    with pytest.raises(WorldRejected) as info:
        e.apply(bribe(10))
    assert "transition gate.by_bribe: 'tomas.trust += 9' would set tomas.trust to 9" in info.value.message
    assert e.state.quests["gate"] == "closed" and e.state.vars["player.gold"] == 15


def test_a_looping_quest_graph_is_refused_not_hung() -> None:
    w = compile_world(
        WorldFile.model_validate(
            {
                "world": "loop",
                "entities": {"player": "character"},
                "variables": {"go": {"type": "bool"}},
                "events": {"start": {}},
                "rules": [{"event": "start", "effects": ["go = true"]}],
                "quests": {
                    "q": {
                        "initial": "a",
                        "states": {"a": None, "b": None},
                        "transitions": [{"from": "a", "to": "b", "when": "go"}, {"from": "b", "to": "a"}],
                    }
                },
            }
        )
    )
    e = Engine(w, initial_state(w))
    e.start()
    with pytest.raises(WorldRejected, match="quest graph loops"):
        e.apply(WorldEvent("custom", {"name": "start"}))
    assert e.state.quests["q"] == "a" and e.state.vars["go"] is False


def test_an_event_reevaluates_only_transitions_that_read_what_changed(engine: Engine) -> None:
    w = engine.world
    calls: list[str] = []
    originals = {t.index: t.cond for t in w.transitions}
    for t in w.transitions:
        if t.cond is not None:

            def counting(env: Any, _orig: Any = t.cond, _label: str = f"{t.quest}.{t.label}") -> Any:
                calls.append(_label)
                return _orig(env)

            t.cond = counting
    try:
        engine.apply(custom("weather_changed", weather="rain"))
        assert calls == []  # no transition reads the weather
        engine.apply(persuade())
        assert calls == ["gate.by_persuasion"]
    finally:
        for t in w.transitions:
            t.cond = originals[t.index]


def test_witnesses_learn_what_they_saw_and_nobody_else(engine: Engine) -> None:
    engine.apply(WorldEvent("enemy_killed", {"enemy": "wolf", "count": 2}, ["bram"]))
    bram, mira = engine.view("bram").facts(), engine.view("mira").facts()
    assert "the traveller killed a wolf (x2)." in bram
    assert "the traveller killed a wolf (x2)." not in mira


def test_rumours_spread_along_relations_as_game_time_passes(engine: Engine) -> None:
    engine.apply(bribe(10, game_time=10.0))
    assert engine.state.knows("tomas", "tomas_took_bribe")
    assert not engine.state.knows("mira", "tomas_took_bribe")
    engine.apply(WorldEvent("time", game_time=11.5))  # delay is 2 game hours
    assert not engine.state.knows("mira", "tomas_took_bribe")
    ch = engine.apply(WorldEvent("time", game_time=12.0))
    assert ("mira", "tomas_took_bribe", "rumour:tomas") in ch.learned
    assert ("bram", "tomas_took_bribe", "rumour:tomas") in ch.learned
    assert not engine.state.knows("elda", "tomas_took_bribe")  # elda knows only mira; mira passes it on later
    assert ch.quests == {"gate": ("bribed", "exposed")}  # the gossip transition reads knows("mira", ...)
    engine.apply(WorldEvent("time", game_time=14.0))
    assert engine.state.knowledge["elda"]["tomas_took_bribe"].source == "rumour:mira"


def test_npc_view_shows_only_what_the_npc_knows(engine: Engine) -> None:
    tomas = engine.view("tomas")
    assert tomas.variables() == {
        "gate.bribe": 0,
        "gate.open": False,
        "player.gold": 15,
        "tomas.trust": 0,
        "weather": "clear",
    }
    assert "wolves.killed" not in tomas.variables()
    assert not any("moonpetal" in f for f in tomas.facts())
    assert any("moonpetal" in f for f in engine.view("elda").facts())
    # persona conditions on a hidden name are false, whatever the real value
    assert tomas.condition("not gate.open") is True
    assert tomas.condition("wolves.killed == 0") is False
    assert tomas.condition("not (wolves.killed == 0)") is False
    assert engine.view("bram").condition("wolves.killed == 0") is True
    assert tomas.condition('knows("wolves_in_forest")') is True
    assert tomas.condition('knows("elda_needs_moonpetal")') is False


def test_learning_a_fact_exposes_what_it_names(engine: Engine) -> None:
    assert "gate" not in engine.view("mira").quests()
    engine.apply(WorldEvent("tell", {"npc": "mira", "fact": "gate_opened_honestly", "by": "tomas"}))
    assert engine.view("mira").quests() == {"gate": "closed", "wolves": "not_started"}
    assert engine.state.knowledge["mira"]["gate_opened_honestly"].source == "told:tomas"


def test_actions_apply_persona_effects_on_the_npcs_view(engine: Engine) -> None:
    action = {"npc": "tomas", "action": "take_coin", "effects": ["player.gold -= arg.amount", "gate.bribe += arg.amount"],
              "when": "not gate.open", "args": {"amount": 10}}  # fmt: skip
    ch = engine.apply(WorldEvent("action", action))
    assert ch.quests["gate"] == ("closed", "bribed")
    with pytest.raises(WorldRejected, match=re.escape("not allowed now: 'not gate.open' does not hold")):
        engine.apply(WorldEvent("action", action))
    hidden = dict(action, when="wolves.killed == 0")
    with pytest.raises(WorldRejected, match=re.escape("tomas does not know 'wolves.killed'")):
        engine.apply(WorldEvent("action", hidden))


def test_event_log_replays_to_the_same_state(village: World, engine: Engine) -> None:
    events = [
        custom("quest_accepted", quest="wolves"),
        WorldEvent("enemy_killed", {"enemy": "wolf", "count": 3}, ["tomas"], 5.0),
        bribe(10, game_time=6.0, witnesses=["elda"]),
        WorldEvent("time", game_time=9.0),
    ]
    for ev in events:
        engine.apply(ev)
    again = Engine(village, initial_state(village))
    again.start()
    for ev in events:
        again.apply(WorldEvent.from_dict(ev.to_dict()))
    assert again.state.to_dict() == engine.state.to_dict()
