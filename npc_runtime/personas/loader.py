"""Load persona files, reporting every problem at once with file, line and field."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from pydantic import ValidationError

from .schema import Persona
from .yamlfile import Loc, Problem, YamlProblem, line_for, load_yaml, read_capped, validation_problems

PERSONA_SUFFIX = ".persona.yaml"

# A hook that checks a persona's conditions and actions against a world; returns problems as
# (field path, message). Installed by the world work; None when no world is loaded.
ConditionChecker = Callable[[Persona], list[tuple[str, str]]]


def load_persona_text(text: str, file: str) -> tuple[Persona | None, list[Problem]]:
    """The persona, or None and every problem found (duplicate keys and schema problems together)."""
    persona, problems, _ = _parse(text, file)
    return (None if problems else persona), problems


def _parse(text: str, file: str) -> tuple[Persona | None, list[Problem], dict[Loc, int]]:
    """The persona when the schema validates (even with duplicate keys, which are in the problems,
    so that its conditions can be checked in the same run), the problems, and the lines."""
    duplicates: list[Problem] = []
    try:
        data, lines = load_yaml(text, file, duplicates)
    except YamlProblem as exc:
        return None, list(exc.problems), {}
    if not isinstance(data, dict):
        return (
            None,
            [Problem(file, 1, "", "a persona file must be a YAML map of fields (id:, name:, ...)")],
            lines,
        )
    try:
        persona = Persona.model_validate(data)
    except ValidationError as exc:
        return None, duplicates + validation_problems(exc, file, lines), lines
    return persona, duplicates, lines


def load_persona_file(
    path: Path, checker: ConditionChecker | None = None
) -> tuple[Persona | None, list[Problem]]:
    file = str(path)
    try:
        text = read_capped(path)
    except YamlProblem as exc:
        return None, exc.problems
    except (OSError, UnicodeDecodeError) as exc:
        return None, [Problem(file, None, "", f"cannot read file: {exc}")]
    persona, problems, lines = _parse(text, file)
    if persona is not None and checker is not None:
        for field, message in checker(persona):
            loc = tuple(int(p) if p.isdigit() else p for p in field.split("."))
            problems.append(Problem(file, line_for(lines, loc), field, message))
    return (None if problems else persona), problems


def persona_files(paths: Iterable[Path]) -> list[Path]:
    """Expand directories into their ``*.persona.yaml`` files (sorted); keep files as given."""
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            out.extend(sorted(p.rglob(f"*{PERSONA_SUFFIX}")))
        else:
            out.append(p)
    return out


def lint_personas(paths: Iterable[Path], checker: ConditionChecker | None = None) -> list[Problem]:
    """Every problem in the given files and directories, including ids used by two files."""
    problems: list[Problem] = []
    owners: dict[str, str] = {}
    voices: dict[str, str] = {}  # voice settings -> the first persona id with them
    files = persona_files(paths)
    if not files:
        return [Problem(", ".join(str(p) for p in paths), None, "", f"no *{PERSONA_SUFFIX} files found")]
    for path in files:
        persona, found = load_persona_file(path, checker)
        problems.extend(found)
        if persona is None:
            continue
        if persona.id in owners:
            problems.append(
                Problem(str(path), 1, "id", f"id '{persona.id}' is already used by {owners[persona.id]}")
            )
        owners[persona.id] = str(path)
        problems.extend(_warnings(persona, str(path)))
        sound = _voice_key(persona)
        if sound is not None and sound in voices:
            problems.append(
                Problem(
                    str(path),
                    None,
                    "voice",
                    f"the same voice settings as {voices[sound]}: players will hear one person",
                    "warning",
                )
            )
        elif sound is not None:
            voices[sound] = persona.id
    return problems


def _voice_key(persona: Persona) -> str | None:
    """The persona's voice settings as a comparable string (moods aside); None when it has none."""
    v = persona.voice.model_dump(exclude={"moods", "tts"}, exclude_defaults=True)
    if not v:
        return None  # the default voice: a warning would only repeat that voices are unset
    return repr(sorted(v.items()))


def _warnings(persona: Persona, file: str) -> list[Problem]:
    out = []
    if not persona.greeting:
        out.append(Problem(file, None, "greeting", "no greeting line: the NPC starts silent", "warning"))
    if len(persona.fallback) < 2:
        out.append(
            Problem(
                file, None, "fallback", "one fallback line only: players will hear it repeated", "warning"
            )
        )
    if len(persona.openers) == 1:
        out.append(
            Problem(
                file,
                None,
                "openers",
                "one opener only: it cannot be said twice running, so every other late reply gets none",
                "warning",
            )
        )
    v = persona.voice
    if v.pitch is not None and v.formant is not None and abs(v.pitch - v.formant) > 9.0:
        out.append(
            Problem(
                file,
                None,
                "voice.pitch",
                f"pitch ({v.pitch:g}) and formant ({v.formant:g}) are {abs(v.pitch - v.formant):g} semitones "
                "apart: the voice will sound artificial (keep them within 9)",
                "warning",
            )
        )
    return out
