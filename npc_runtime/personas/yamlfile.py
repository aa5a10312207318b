"""YAML loading that remembers where every value came from, so errors can name file and line.

Shared by persona and world files: :func:`load_yaml` returns the plain data and a map from a
field path (``("topics", 2, "lines", 0)``) to its 1-based line number.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from yaml.constructor import SafeConstructor

Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class Problem:
    """One problem in a designer-facing file."""

    file: str
    line: int | None
    field: str
    message: str
    severity: str = "error"  # or "warning"

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        field = f" [{self.field}]" if self.field else ""
        return f"{where}:{field} {self.severity}: {self.message}"

    def as_dict(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "field": self.field, "message": self.message}


MAX_FILE_BYTES = 256 * 1024  # the largest sample persona is ~4 KB; a designer file this big is a mistake
MAX_NODES = 50_000  # values after expanding aliases: an alias bomb stops here, not at the RAM's end

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml parses ~10x faster


class _Walk:
    """One pass over the composed document: lines of every path, duplicate keys, a node budget."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.lines: dict[Loc, int] = {}
        self.problems: list[Problem] = []
        self.nodes = 0

    def walk(self, node: yaml.Node, path: Loc) -> None:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise YamlProblem(
                Problem(
                    self.file,
                    node.start_mark.line + 1,
                    field_name(path),
                    f"the file expands to more than {MAX_NODES:,} values (aliases repeated inside "
                    "aliases?); designer files this large are refused",
                )
            )
        self.lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            first_line: dict[Any, int] = {}
            for key_node, value_node in node.value:
                key = key_node.value
                line = key_node.start_mark.line + 1
                if isinstance(key_node, yaml.ScalarNode) and key in first_line:
                    self.problems.append(
                        Problem(
                            self.file,
                            line,
                            field_name((*path, key)),
                            f"duplicate key '{key}' (lines {first_line[key]} and {line}): YAML keeps "
                            "only the last one; remove or rename one of them",
                        )
                    )
                first_line.setdefault(key, line)
                self.walk(value_node, (*path, key))
                self.lines[(*path, key)] = line
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                self.walk(item, (*path, i))


def load_yaml(text: str, file: str, problems: list[Problem] | None = None) -> tuple[Any, dict[Loc, int]]:
    """Parse YAML; raises :class:`YamlProblem` carrying every :class:`Problem` found, with lines.

    Refuses files over :data:`MAX_FILE_BYTES` and documents that expand to over :data:`MAX_NODES`
    values, so a huge file or an alias bomb is a clear error in well under a second. Duplicate
    keys are problems too; given a ``problems`` list, they are added to it and the data (with the
    last of each duplicate) is returned, so a caller can report them with the schema's problems."""
    size = len(text.encode("utf-8"))
    if size > MAX_FILE_BYTES:
        raise YamlProblem(
            Problem(file, None, "", f"the file is {size:,} bytes, over the {MAX_FILE_BYTES:,}-byte limit")
        )
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        raise YamlProblem(_syntax_problem(exc, file)) from None
    except yaml.YAMLError as exc:
        raise YamlProblem(Problem(file, None, "", f"YAML: {exc}")) from None
    if node is None:
        return None, {}
    walk = _Walk(file)
    walk.walk(node, ())
    if walk.problems:
        if problems is None:
            raise YamlProblem(*walk.problems)
        problems.extend(walk.problems)
    try:
        data = SafeConstructor().construct_document(node)
    except yaml.MarkedYAMLError as exc:
        raise YamlProblem(_syntax_problem(exc, file)) from None
    return data, walk.lines


def _syntax_problem(exc: yaml.MarkedYAMLError, file: str) -> Problem:
    """A syntax error at the line the designer must fix. For a key without its ':', an unclosed
    quote or bracket, libyaml marks where it gave up (the next line, or the end of the file); the
    context mark is the line that started the broken construct, which is where the mistake is."""
    mark = exc.problem_mark or exc.context_mark
    context = exc.context_mark
    starts = ("scanning a simple key", "scanning a quoted scalar", "parsing a flow")
    if context is not None and exc.context and any(s in exc.context for s in starts):
        mark = context
    line = mark.line + 1 if mark else None
    what = f"{exc.context}: {exc.problem}" if exc.context and exc.problem else (exc.problem or str(exc))
    return Problem(file, line, "", f"YAML syntax: {what}")


def line_for(lines: dict[Loc, int], loc: Loc) -> int | None:
    """The line of ``loc``, or of its nearest ancestor that has one."""
    loc = tuple(loc)
    while loc:
        if loc in lines:
            return lines[loc]
        loc = loc[:-1]
    return lines.get(())


def field_name(loc: Loc) -> str:
    return ".".join(str(p) for p in loc)


_ITEM = re.compile(r"^(?:opener|line) (\d+)\b")


def _item(loc: Loc, msg: str, lines: dict[Loc, int]) -> Loc:
    """A list validator's message about one item ("opener 3 has 9 words"): the item's own place,
    so that the problem points at its line, not at the list's."""
    m = _ITEM.match(msg)
    if m and loc and isinstance(loc[-1], str) and (*loc, int(m.group(1)) - 1) in lines:
        return (*loc, int(m.group(1)) - 1)
    return loc


def validation_problems(exc: ValidationError, file: str, lines: dict[Loc, int]) -> list[Problem]:
    out = []
    for err in exc.errors():
        # pydantic adds union/validator tags to loc ("function-before[...]"); drop them
        loc = tuple(
            p for p in err["loc"] if not (isinstance(p, str) and ("[" in p or p.startswith("function")))
        )
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown field (check the spelling; see the JSON Schema for allowed fields)"
        elif err["type"] == "missing":
            msg = "required field is missing"
        elif err["type"] == "value_error" and "error" in err.get("ctx", {}):
            msg = str(err["ctx"]["error"])  # our own validators' messages, without pydantic's prefix
            loc = _item(loc, msg, lines)
        out.append(Problem(file, line_for(lines, loc), field_name(loc), msg))
    return out


class YamlProblem(Exception):
    """The file cannot be read as YAML; ``problems`` lists every problem found (``problem``: the first)."""

    def __init__(self, problem: Problem, *more: Problem) -> None:
        self.problem = problem
        self.problems = [problem, *more]
        super().__init__("; ".join(str(p) for p in self.problems))


def read_text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def read_capped(path: Path, limit: int = MAX_FILE_BYTES) -> str:
    """The file's text, reading at most ``limit + 1`` bytes: a file over the limit is refused
    (:class:`YamlProblem`) without reading it all into memory."""
    with path.open("rb") as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise YamlProblem(Problem(str(path), None, "", f"the file is over the {limit:,}-byte limit"))
    return data.decode("utf-8")
