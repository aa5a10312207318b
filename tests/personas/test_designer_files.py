"""Designer files cannot stall the runtime, and their problems come all at once at the right line."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
from pathlib import Path

from npc_runtime.personas.loader import lint_personas, load_persona_text
from npc_runtime.personas.store import PersonaStore
from npc_runtime.personas.yamlfile import MAX_FILE_BYTES, MAX_NODES

REPO = Path(__file__).resolve().parents[2]

BOMB = "\n".join(
    ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    + [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 9)]
)


def test_an_alias_bomb_is_a_clear_problem() -> None:
    assert len(BOMB) < 1000
    persona, problems = load_persona_text(BOMB, "bomb.persona.yaml")
    assert persona is None and len(problems) == 1
    assert f"more than {MAX_NODES:,} values" in problems[0].message


def test_a_huge_file_is_refused_by_its_size() -> None:
    text = "id: big\nname: Big\nrole: r\nbackstory: |\n" + "  words words words\n" * 20_000
    persona, problems = load_persona_text(text, "big.persona.yaml")
    assert persona is None and f"{MAX_FILE_BYTES:,}-byte limit" in problems[0].message


def test_duplicate_keys_name_both_lines_and_come_with_schema_problems() -> None:
    text = "id: mira\nname: A\nrole: r\nname: B\ngreeting: 5\ntopics:\n  - id: t\n    id: u\n"
    persona, problems = load_persona_text(text, "d.persona.yaml")
    assert persona is None
    messages = [str(p) for p in problems]
    assert any("d.persona.yaml:4: [name]" in m and "lines 2 and 4" in m for m in messages), messages
    assert any("[topics.0.id]" in m and "lines 7 and 8" in m for m in messages), messages
    assert any("[topics.0.lines]" in m for m in messages), messages  # a schema problem, same run


def test_syntax_errors_point_at_the_broken_line() -> None:
    cases = {
        "id: mira\nname: Mira\nrole innkeeper\nbackstory: x\n": 3,  # a key without ':'
        "id: mira\nname: [Mira\nrole: innkeeper\n": 2,  # an unclosed bracket
        'id: mira\nname: "Mira\nrole: innkeeper\n': 2,  # an unclosed quote
        "id: mira\n  name: Mira\nrole: r\n": 2,  # bad indentation
    }
    for text, line in cases.items():
        _, problems = load_persona_text(text, "s.persona.yaml")
        assert problems and problems[0].line == line, (text, problems)


def test_lint_reports_every_problem_of_every_file_in_one_run(tmp_path: Path) -> None:
    folder = tmp_path / "personas"
    shutil.copytree(REPO / "personas", folder)
    mira = folder / "mira.persona.yaml"
    text = mira.read_text()
    # three mistakes in one file: a duplicate key, a condition on an unknown variable, ...
    mira.write_text(
        text.replace("role: Innkeeper", "role: Innkeeper\nrole: Again", 1) + "\nwhen: gold.purse > 3\n"
    )
    # ... and another file that reuses an id
    (folder / "copy.persona.yaml").write_text((folder / "bram.persona.yaml").read_text())
    out = subprocess.run(
        [sys.executable, "-m", "npc_runtime.cli", "persona", "lint", str(folder)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 1
    assert "checking conditions against" in out.stdout and "village.world.yaml" in out.stdout
    assert "duplicate key 'role'" in out.stdout
    assert "already used by" in out.stdout
    problems = lint_personas([folder])
    assert len([p for p in problems if p.severity == "error"]) >= 2


async def test_reloading_a_bomb_does_not_block_the_event_loop(tmp_path: Path) -> None:
    folder = tmp_path / "personas"
    shutil.copytree(REPO / "personas", folder)
    store = PersonaStore(folder)
    await store.refresh_async()
    assert "mira" in store.ids()
    (folder / "mira.persona.yaml").write_text(BOMB)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(ticker())
    report = await store.refresh_async()
    task.cancel()
    assert ticks > 0  # the loop ran while the file was read
    assert report.failed and "values" in report.failed[0][2][0].message
    assert store.get("mira") is not None  # the last good version stays live


async def test_a_deleted_persona_is_reported_removed(tmp_path: Path) -> None:
    folder = tmp_path / "personas"
    shutil.copytree(REPO / "personas", folder)
    store = PersonaStore(folder)
    await store.refresh_async()
    (folder / "tomas.persona.yaml").unlink()
    report = await store.refresh_async()
    assert report.removed == [("tomas", str(folder / "tomas.persona.yaml"))]
    assert store.get("tomas") is None


async def test_a_file_that_takes_too_long_to_read_is_a_problem(tmp_path: Path) -> None:
    """A file whose reading never ends (a named pipe nobody writes) is reported after the time
    cap, the other personas stay live; the stuck reader is released after."""
    import os

    folder = tmp_path / "personas"
    shutil.copytree(REPO / "personas", folder)
    store = PersonaStore(folder)
    await store.refresh_async()  # the good files, with the default cap (a loaded machine is slow)
    pipe = folder / "stuck.persona.yaml"
    os.mkfifo(pipe)
    try:
        report = await store.refresh_async(time_cap=0.5)
    finally:  # release the reader (still in its open, or about to be): EOF once a writer closes
        deadline = asyncio.get_running_loop().time() + 60
        while True:
            try:
                os.close(os.open(pipe, os.O_WRONLY | os.O_NONBLOCK))
                break
            except OSError:  # ENXIO: the reader has not opened it yet
                assert asyncio.get_running_loop().time() < deadline
                await asyncio.sleep(0.01)
    assert [f for f, _live, _problems in report.failed] == [str(pipe)]
    assert "took over 0.5 s to read" in report.failed[0][2][0].message
    assert "mira" in store.ids() and "tomas" in store.ids()


def test_a_bad_opener_or_fallback_line_points_at_its_own_line() -> None:
    text = (
        "id: mira\nname: Mira\nrole: r\n"
        "openers:\n"  # line 4
        '  - "Hm."\n'
        '  - "Well now, let me think about that for a little while."\n'  # line 6: 11 words
        '  - "Hm."\n'  # line 7: written twice
        "fallback:\n"
        '  - "Couldn\'t say."\n'
        '  - "Ask {player.name}."\n'  # line 10: no default
    )
    for bad, line in ((6, 6), (7, 7)):
        lines = text.splitlines(keepends=True)
        if bad == 6:  # one problem at a time: the list validator stops at the first
            lines[6] = '  - "Ah."\n'
        else:
            lines[5] = '  - "Well."\n'
        _, problems = load_persona_text("".join(lines), "o.persona.yaml")
        openers = [p for p in problems if p.field.startswith("openers")]
        assert openers and openers[0].line == line and openers[0].field == f"openers.{line - 5}", problems
    _, problems = load_persona_text(text, "o.persona.yaml")
    fallback = [p for p in problems if p.field.startswith("fallback")]
    assert fallback and fallback[0].line == 10 and fallback[0].field == "fallback.1", problems
