"""The complete example in docs/personas.md is a valid persona, for the model and the JSON Schema."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import yaml

from npc_runtime.personas.schema import Persona

REPO = Path(__file__).resolve().parents[2]


def test_the_documented_example_validates() -> None:
    text = (REPO / "docs" / "personas.md").read_text(encoding="utf-8")
    block = text.split("## A complete example")[1].split("```yaml\n")[1].split("```")[0]
    doc = yaml.safe_load(block)
    persona = Persona.model_validate(doc)
    assert [t.id for t in persona.topics] == ["rooms", "name", "drink"]
    assert persona.topics[2].lines[0].actions[0].from_player == ["drink"]
    schema = json.loads((REPO / "docs" / "schema" / "persona.schema.json").read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(schema).validate(doc)
