"""A persona condition that fails while a turn is built (here a division by zero on the live world
state, which ``persona lint`` cannot see) hides its content and is reported once, naming the NPC and
the condition, instead of failing silently or breaking the turn."""

from __future__ import annotations

import logging

import pytest

from npc_runtime.dialogue.context import DialogueContext
from npc_runtime.personas.loader import load_persona_file
from npc_runtime.world.compiled import World
from npc_runtime.world.engine import Engine

from .conftest import REPO


def test_a_condition_that_fails_on_the_live_state_is_false_and_reported_once(
    engine: Engine, village: World, caplog: pytest.LogCaptureFixture
) -> None:
    persona, problems = load_persona_file(REPO / "personas" / "mira.persona.yaml")
    assert persona is not None, problems
    view = engine.view("mira")
    ctx = DialogueContext(persona=persona, player_id="p", player_text="", condition=view.condition)
    broken = "100 / (player.gold - 15) > 1"  # player.gold starts at 15
    assert ctx.allows("player.gold >= 15")
    with caplog.at_level(logging.WARNING, logger="npc_runtime.dialogue.context"):
        assert not ctx.allows(broken)
        assert not ctx.allows(broken)  # asked again in the same turn: no second warning
        assert not ctx.allows_action(broken, {})
    reports = [r.getMessage() for r in caplog.records]
    assert len(reports) == 1, reports
    assert "mira" in reports[0] and broken in reports[0] and "EvalError" in reports[0]
