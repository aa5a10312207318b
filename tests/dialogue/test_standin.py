"""The stand-in provider of the cluster benchmark (it sleeps instead of computing a reply)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from npc_runtime.cli import _settings_from_args
from npc_runtime.dialogue.base import TextPiece
from npc_runtime.dialogue.context import DialogueContext
from npc_runtime.dialogue.providers.authored import FallbackPicker
from npc_runtime.dialogue.providers.standin import StandInProvider
from npc_runtime.errors import ConfigError
from npc_runtime.personas.loader import load_persona_file
from npc_runtime.runtime.app import build_provider

REPO = Path(__file__).resolve().parents[2]


async def test_the_stand_in_answers_its_line_for_every_turn() -> None:
    persona, _ = load_persona_file(REPO / "personas" / "mira.persona.yaml")
    assert persona is not None
    provider = build_provider(
        {"provider": "stand_in", "stand_in_seconds": 0, "stand_in_line": "Aye."}, FallbackPicker()
    )
    assert isinstance(provider, StandInProvider) and provider.complete_fn() is None
    for text in ("do you have a room", "xyzzy"):
        ctx = DialogueContext(persona=persona, player_id="p", player_text=text)
        assert [c.text for c in [c async for c in provider.stream(ctx)] if isinstance(c, TextPiece)] == [
            "Aye."
        ]


@pytest.mark.parametrize("seconds", [-1, 61, "1", True])
def test_bad_stand_in_seconds_are_a_config_error(seconds: object) -> None:
    with pytest.raises(ConfigError, match="stand_in_seconds"):
        StandInProvider.from_settings({"stand_in_seconds": seconds})


def test_serve_stand_in_selects_it() -> None:
    args = argparse.Namespace(stand_in=0.25, provider=None, base_url=None, model=None)
    s = _settings_from_args(args)
    assert s.dialogue["provider"] == "stand_in" and s.dialogue["stand_in_seconds"] == 0.25
