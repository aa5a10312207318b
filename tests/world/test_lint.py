"""Designer tools: lint reports every problem at once with file, line and field; show draws."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from npc_runtime.cli import external_names, main
from npc_runtime.world.lint import lint_path, lint_world_text
from npc_runtime.world.lint_hooks import expression_types

VILLAGE = Path(__file__).resolve().parents[2] / "personas" / "village.world.yaml"

BROKEN = """\
world: broken
entities:
  player: character
  tomas: {kind: character}
  gate: {kind: location}
relations:
  - [tomas, guards, gate]
  - [tomas, guards, castle]
variables:
  gold: {type: int, initial: 5, min: 0, max: 3}
  trust: {type: int, min: 0, max: 5}
  door.open: {type: bool}
  frozen: {type: bool}
events:
  bribe:
    payload:
      amount: {type: int}
rules:
  - event: bribe
    effects: ["gold -= event.amount", "trust += evnt.amount"]
  - event: bribee
quests:
  gate:
    initial: closed
    states:
      closed: {}
      open: {}
      lost: {}
      done: {final: true}
    transitions:
      - from: closed
        to: open
        when: trust >= 6
      - from: closed
        to: done
        when: frozen
      - from: closed
        to: open
        when: gold > "3"
      - from: closed
        to: open
      - from: closed
        to: done
        when: door.open
      - from: open
        to: nowhere
facts:
  secret:
    text: Tomas is afraid of the dark.
    known_by: [tomas, tomass]
"""


def problems_by_field(text: str) -> dict[str, tuple[int | None, str, str]]:
    return {p.field: (p.line, p.severity, p.message) for p in lint_world_text(text, "broken.world.yaml")}


def test_every_problem_is_reported_at_once_with_line_and_field() -> None:
    found = problems_by_field(BROKEN)
    expected = {
        "relations.1.to": (8, "unknown entity 'castle'"),
        "variables.gold.initial": (10, "initial value 5 is above the maximum 3"),
        "rules.0.effects.1": (20, "unknown name 'evnt.amount'; did you mean 'event.amount'?"),
        "rules.1.event": (21, "unknown event 'bribee'; did you mean 'bribe'?"),
        "quests.gate.transitions.2.when": (39, "'>' compares numbers, not an int and a string (column 1)"),
        "quests.gate.transitions.5.to": (46, "unknown state 'nowhere' of quest 'gate'"),
        "facts.secret.known_by.1": (50, "unknown character 'tomass'; did you mean 'tomas'?"),
        # graph analyses
        "quests.gate.states.lost": (28, "state 'lost' of quest 'gate' cannot be reached from 'closed'"),
        "quests.gate.transitions.0": (31, "can never fire: no value of trust (min 0, max 5) satisfies it"),
        "quests.gate.transitions.1": (
            34,
            "can never fire: it reads only frozen, which no event rule, transition or persona action changes",
        ),
        "quests.gate.transitions.4": (
            42,
            "can never fire: transition 3 from 'closed' has no condition and always fires first",
        ),
        "quests.gate.states.open": (27, "dead end: quest 'gate' can reach state 'open' but never leave it"),
    }
    for field, (line, text) in expected.items():
        assert field in found, f"missing {field}: {found}"
        got_line, severity, message = found[field]
        assert text in message, (field, message)
        assert got_line == line, (field, got_line, message)
        assert severity == "error"
    assert found["quests.gate.states.closed"][1:] == (
        "warning",
        "from state 'closed' quest 'gate' can never reach a final state",
    )


def test_the_sample_world_and_its_personas_are_clean() -> None:
    # With the names the memory concern owns (relationship.trust, read by the voice moods), as
    # `npc-runtime world lint` checks them.
    assert lint_path(VILLAGE.parent, expression_types(external_names(None))) == []


def test_persona_conditions_are_checked_against_the_world(tmp_path: Path) -> None:
    shutil.copy(VILLAGE, tmp_path / VILLAGE.name)
    (tmp_path / "tomas.persona.yaml").write_text(
        """\
id: tomas
name: Tomas
fallback: [Move along., Nothing to see.]
topics:
  - id: gate
    phrasings: [open the gate]
    when: 'quest.gate == "opened"'
    lines: [Gate's shut.]
actions:
  - name: take_coin
    params: {amount: {type: int}}
    effects: ["player.gold -= arg.amount", "gate.bribe += arg.amont"]
""",
        encoding="utf-8",
    )
    (tmp_path / "mira.persona.yaml").write_text(
        """\
id: mira
name: Mira
fallback: [Hm., Say that again.]
topics:
  - id: wolves
    phrasings: [any wolves]
    lines:
      - {text: Quiet now., when: 'wolves.killed >= 3'}
""",
        encoding="utf-8",
    )
    problems = lint_path(tmp_path)
    text = "\n".join(str(p) for p in problems)
    assert 'tomas.persona.yaml:7: [topics.0.when] error: "opened" is not one of' in text
    assert (
        "tomas.persona.yaml:12: [actions.0.effects.1] error: unknown name 'arg.amont'; did you mean 'arg.amount'?"
        in text
    )
    # only a warning: Tomas never sees wolves.killed (no visible_to, no fact exposes it)
    assert "mira.persona.yaml:8: [topics.0.lines.0.when] warning: mira can never see wolves.killed" in text


def test_cli_lint_exit_codes_and_show_formats(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "broken.world.yaml"
    bad.write_text(BROKEN, encoding="utf-8")
    # one real process for the exit code a CI job sees
    res = subprocess.run(
        [sys.executable, "-m", "npc_runtime.cli", "world", "lint", str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 1
    assert "broken.world.yaml:8: [relations.1.to] error: unknown entity 'castle'" in res.stdout
    assert res.stdout.splitlines()[-1] == "12 error(s), 1 warning(s)"
    assert main(["world", "lint", str(VILLAGE.parent)]) == 0
    assert capsys.readouterr().out.strip() == "0 error(s), 0 warning(s)"
    for fmt, magic in (("png", b"\x89PNG"), ("svg", b"<?xml"), ("dot", b"digraph")):
        out = tmp_path / f"village.{fmt}"
        assert main(["world", "show", str(VILLAGE), "--format", fmt, "-o", str(out)]) == 0
        assert out.read_bytes().startswith(magic), fmt
    dot = (tmp_path / "village.dot").read_text()
    assert '"gate.closed" -> "gate.bribed"' in dot and "either" in dot and "style=dashed" in dot
    assert "Tomas opened the gate for" in (tmp_path / "village.svg").read_text()
    capsys.readouterr()
    assert main(["world", "show", str(bad), "-o", str(tmp_path / "x.png")]) == 1
    assert "unknown entity 'castle'" in capsys.readouterr().err
    schema = tmp_path / "world.schema.json"
    assert main(["world", "schema", "-o", str(schema)]) == 0
    assert json.loads(schema.read_text()) == json.loads(
        (VILLAGE.parents[1] / "docs/schema/world.schema.json").read_text()
    )


def test_the_published_json_schema_accepts_the_sample_and_flags_typos() -> None:
    import jsonschema
    import yaml

    schema = json.loads((VILLAGE.parents[1] / "docs/schema/world.schema.json").read_text())
    doc = yaml.safe_load(VILLAGE.read_text(encoding="utf-8"))
    jsonschema.validate(doc, schema)  # what an editor's YAML extension checks as the designer types
    doc["quests"]["gate"]["transitons"] = doc["quests"]["gate"].pop("transitions")
    errors = list(jsonschema.Draft202012Validator(schema).iter_errors(doc))
    assert errors and any("transitons" in e.message for e in errors)
