"""Templates in authored lines: parsing, rendering from the dialogue context, fallbacks, lint."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from pydantic import ValidationError

from npc_runtime.cli import external_names
from npc_runtime.dialogue.context import DialogueContext
from npc_runtime.dialogue.providers.authored import AuthoredProvider, FallbackPicker, pick_line
from npc_runtime.dialogue.templates import context_lookup
from npc_runtime.personas.loader import lint_personas
from npc_runtime.personas.schema import Line, Persona
from npc_runtime.personas.templates import TemplateError, parse_template, render
from npc_runtime.world.lint_hooks import persona_checker_for

REPO = Path(__file__).resolve().parents[2]


def test_parse_fields_defaults_and_escaped_braces() -> None:
    fields = parse_template("Hi {player.name|love}, gold: {player.gold} {{not a field}}")
    assert [(f.name, f.default) for f in fields] == [("player.name", "love"), ("player.gold", None)]
    for bad in ("Hi {player.name", "Hi }", "Hi {two words}", "Hi {}"):
        with pytest.raises(TemplateError):
            parse_template(bad)


def test_render_values_defaults_and_unknowns() -> None:
    values = {
        "player.name": "Corwin",
        "gate.open": True,
        "relationship.trust": 0.25,
        "arg.remedy": "healing_draught",
    }
    lookup = values.get
    assert render("Hello, {player.name|love}!", lookup) == "Hello, Corwin!"
    assert render("Open: {gate.open}. Trust {relationship.trust}.", lookup) == "Open: yes. Trust 0.25."
    assert render("A {arg.remedy}.", lookup) == "A healing draught."
    assert render("Hello, {stranger.name|friend}!", lookup) == "Hello, friend!"
    assert render("Hello, {stranger.name}!", lookup) is None  # unknown, no default: unsayable
    assert render("{{braces}}", lookup) == "{braces}"


def _ctx(persona: Persona, **kw: object) -> DialogueContext:
    return DialogueContext(persona=persona, player_id="p", player_text="", **kw)  # type: ignore[arg-type]


def test_lines_with_unknown_values_are_skipped_and_fallbacks_always_say_something() -> None:
    persona = Persona.model_validate(
        {
            "id": "p",
            "name": "P",
            "greeting": ["Welcome back, {player.name}.", "Hello, stranger."],
            "fallback": ["Hm, {player.name|friend}?", "Eh?"],
        }
    )
    unknown = _ctx(persona)
    assert pick_line(persona.greeting, unknown, 0) == Line(text="Hello, stranger.")
    known = _ctx(persona, player_name="Corwin", world_state={"player.gold": 3})
    assert pick_line(persona.greeting, known, 0) == Line(text="Welcome back, Corwin.")
    assert FallbackPicker().peek(persona, unknown) == "Hm, friend?"
    assert FallbackPicker().peek(persona, known) == "Hm, Corwin?"
    assert context_lookup(known)("player.gold") == 3
    with pytest.raises(ValidationError, match="fallback line must always be sayable"):
        Persona.model_validate({"id": "p", "name": "P", "fallback": ["Hm, {player.name}?"]})


def test_a_topic_whose_lines_cannot_be_said_falls_back() -> None:
    persona = Persona.model_validate(
        {
            "id": "p",
            "name": "P",
            "topics": [
                {"id": "me", "phrasings": ["do you remember me"], "lines": ["Of course, {player.name}."]}
            ],
            "fallback": ["Hm.", "Eh?"],
        }
    )
    provider = AuthoredProvider()  # word overlap alone: enough for a phrasing said verbatim
    said = DialogueContext(persona=persona, player_id="p", player_text="do you remember me")
    assert provider.peek(said).source == "fallback"
    said.player_name = "Corwin"
    assert provider.peek(said).text == "Of course, Corwin."


def test_lint_reports_unknown_template_names_with_file_and_line(tmp_path: Path) -> None:
    folder = tmp_path / "personas"
    shutil.copytree(REPO / "personas", folder)
    tomas = folder / "tomas.persona.yaml"
    text = tomas.read_text()
    tomas.write_text(
        text.replace("  - Move along, then.", "  - Move along, {playr.gold}.\n  - Bye, {gate.bribe}.")
    )
    checker = persona_checker_for(folder / "village.world.yaml", external_names(None))
    problems = lint_personas([folder], checker)
    errors = [p for p in problems if p.severity == "error"]
    assert len(errors) == 1, problems
    line_no = next(i for i, line in enumerate(tomas.read_text().splitlines(), 1) if "playr.gold" in line)
    assert errors[0].file == str(tomas) and errors[0].line == line_no
    assert (
        "unknown name '{playr.gold}'" in errors[0].message
        and "did you mean 'player.gold'" in errors[0].message
    )


def test_lint_reports_template_mistakes_with_lines_without_a_world(tmp_path: Path) -> None:
    path = tmp_path / "zed.persona.yaml"
    path.write_text(
        "id: zed\nname: Zed\ntopics:\n"
        "  - id: a\n    phrasings: [hello]\n    lines:\n      - Hi {player.name\n"
        "  - id: b\n    phrasings: [drink]\n    lines:\n      - One {arg.drink}.\n"
        "fallback:\n  - Hm.\n  - Eh, {player.name}?\n"
    )
    found = {(p.line, p.field): p.message for p in lint_personas([path]) if p.severity == "error"}
    assert "is not closed" in found[(7, "topics.0.lines.0.text")]
    assert "'{arg.drink}' is not an argument of the line's actions" in found[(8, "topics.1")]
    assert "a fallback line must always be sayable" in found[(14, "fallback.1")]  # the item itself
