"""Persona files: lint with file/line/field, JSON Schema, hot reload over the wire."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from npc_runtime.personas.loader import lint_personas
from npc_runtime.protocol.messages import PersonaError, PersonaReloaded
from npc_runtime.runtime.app import Runtime
from npc_runtime.transport.client import AsyncClient

REPO = Path(__file__).resolve().parents[2]

BROKEN = """\
id: zed
name: Zed
backstroy: typo here
topics:
  - id: hello
    phrasings: []
    lines: [Hi.]
  - id: hello
    phrasings: [hey]
    lines: [Hey.]
fallback:
  - What?
voice:
  speed: 9
"""


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "npc_runtime.cli", *args], capture_output=True, text=True, timeout=60
    )


def test_sample_personas_lint_clean() -> None:
    errors = [p for p in lint_personas([REPO / "personas"]) if p.severity == "error"]
    assert errors == []


def test_lint_reports_every_problem_with_line_and_field(tmp_path: Path) -> None:
    f = tmp_path / "zed.persona.yaml"
    f.write_text(BROKEN)
    problems = lint_personas([f])
    by_field = {p.field: p for p in problems}
    assert by_field["backstroy"].line == 3 and "unknown field" in by_field["backstroy"].message
    assert by_field["topics.0.phrasings"].line == 6
    assert by_field["voice.speed"].line == 14
    # the duplicate topic id is a separate problem only once the other errors are fixed; all of the
    # schema problems come in one report
    assert len([p for p in problems if p.severity == "error"]) >= 3


def test_lint_cli_exit_codes(tmp_path: Path) -> None:
    ok = _cli("persona", "lint", str(REPO / "personas"))
    assert ok.returncode == 0, ok.stdout + ok.stderr
    bad = tmp_path / "zed.persona.yaml"
    bad.write_text(BROKEN)
    result = _cli("persona", "lint", str(bad))
    assert result.returncode == 1
    assert f"{bad}:3: [backstroy] error" in result.stdout
    syntax = tmp_path / "syn.persona.yaml"
    syntax.write_text("id: a\nname: [unclosed\n")
    result = _cli("persona", "lint", str(syntax))
    assert result.returncode == 1 and "YAML syntax" in result.stdout


def test_duplicate_ids_across_files(tmp_path: Path) -> None:
    for name in ("a", "b"):
        (tmp_path / f"{name}.persona.yaml").write_text("id: same\nname: Same\nfallback: [Eh]\n")
    problems = lint_personas([tmp_path])
    assert any("already used" in p.message for p in problems)


def test_schema_command_prints_json_schema() -> None:
    result = _cli("persona", "schema")
    schema = json.loads(result.stdout)
    assert schema["title"] == "npc-runtime persona"
    assert {"id", "name", "fallback"} <= set(schema["properties"])
    committed = json.loads((REPO / "docs" / "schema" / "persona.schema.json").read_text())
    assert committed == schema, "regenerate: npc-runtime persona schema -o docs/schema/persona.schema.json"


async def test_hot_reload_takes_effect_next_turn(runtime_server: Runtime, client: AsyncClient) -> None:
    path = runtime_server.settings.personas_dir / "bram.persona.yaml"
    conv = (await client.start_conversation("bram", greet=False)).conversation_id
    before = await client.say(conv, "what are you working on?")
    assert "trap" in before.text.lower() or "horseshoe" in before.text.lower()
    text = path.read_text()
    path.write_text(
        text.replace("Wolf traps. Twenty of them. The shepherds are scared.", "A crown for the king.")
    )
    notice = await client.next_event(types=("persona_reloaded",), timeout=5)
    assert isinstance(notice, PersonaReloaded) and notice.npc_id == "bram"
    after = [(await client.say(conv, "what are you working on?")).text for _ in range(2)]
    assert "A crown for the king." in after


async def test_broken_edit_keeps_last_good_version(runtime_server: Runtime, client: AsyncClient) -> None:
    path = runtime_server.settings.personas_dir / "elda.persona.yaml"
    conv = (await client.start_conversation("elda", greet=False)).conversation_id
    good = path.read_text()
    path.write_text(good.replace("fallback:", "fallbak:"))
    notice = await client.next_event(types=("persona_error",), timeout=5)
    assert isinstance(notice, PersonaError) and notice.npc_id == "elda"
    fields = {p.field: p.line for p in notice.problems}
    assert "fallbak" in fields and fields["fallbak"] is not None
    # still answering with the last good version
    final = await client.say(conv, "do you have any potions?")
    assert "three gold each" in final.text
    path.write_text(good.replace("three gold each", "four gold each"))
    await client.next_event(types=("persona_reloaded",), timeout=5)
    assert "four gold each" in (await client.say(conv, "do you have any potions?")).text


def test_sample_personas_validate_against_the_published_schema() -> None:
    """What editors check (the JSON Schema) agrees with what the runtime accepts."""
    import jsonschema
    import yaml

    schema = json.loads((REPO / "docs" / "schema" / "persona.schema.json").read_text())
    validator = jsonschema.Draft202012Validator(schema)
    for path in sorted((REPO / "personas").glob("*.persona.yaml")):
        errors = [e.message for e in validator.iter_errors(yaml.safe_load(path.read_text()))]
        assert errors == [], f"{path.name}: {errors}"
    broken = yaml.safe_load(BROKEN)
    assert any("backstroy" in e.message for e in validator.iter_errors(broken))


def test_lint_with_world_uses_the_config_for_other_concerns_names(tmp_path: Path) -> None:
    persona = tmp_path / "relly.persona.yaml"
    persona.write_text(
        "id: relly\nname: Relly\nfallback: [Eh, What]\ngreeting: [Hi]\ntopics:\n  - id: secret\n"
        "    phrasings: [tell me a secret]\n    when: relationship.respect > 0.5\n    lines: [No.]\n"
    )
    world = str(REPO / "personas" / "village.world.yaml")
    default = _cli("persona", "lint", str(persona), "--world", world)
    assert default.returncode == 1 and "unknown name 'relationship.respect'" in default.stdout
    assert f"{persona}:8: [topics.0.when]" in default.stdout
    config = tmp_path / "runtime.toml"
    config.write_text(
        "[memory.relationships]\ntrust = {min = -1.0, max = 1.0}\nrespect = {min = -1.0, max = 1.0}\n"
    )
    configured = _cli("persona", "lint", str(persona), "--world", world, "--config", str(config))
    assert configured.returncode == 0, configured.stdout
