"""Character test suites: the YAML file a designer writes (``*.eval.yaml``). See docs/evals.md.

A suite names the persona folder and lists scenarios. A scenario talks to one NPC through a real
runtime, step by step: world events first (set-up), then player lines with what the reply must
(not) contain or do, and ``restart`` steps (the runtime stops and a new one opens the same
database: memory and world must survive).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ..errors import ContentError

__all__ = ["ActionExpect", "Expect", "Scenario", "Step", "Suite", "load_suite"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ActionExpect(_Strict):
    """An action, with (some of) its arguments; written as a plain name or as a map."""

    name: str
    args: dict[str, Any] = Field(default_factory=dict, description="Only these are compared")

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, value: Any) -> Any:
        return {"name": value} if isinstance(value, str) else value


class Expect(_Strict):
    mentions_any: list[str] = Field(default_factory=list, description="At least one (case-insensitive)")
    mentions_all: list[str] = Field(default_factory=list)
    must_not_mention: list[str] = Field(default_factory=list)
    action: ActionExpect | None = Field(default=None, description="This action was taken")
    no_action: str | bool | None = Field(
        default=None, description="This action (or, with true, any action) was not taken"
    )
    rejected: str | None = Field(default=None, description="The runtime refused this proposed action")
    in_character: bool = Field(default=True, description="No AI talk, no instructions read out")
    answered: bool | None = Field(
        default=None, description="true: a real answer, not a fallback line ('I don't know' lines count)"
    )
    source: str | None = Field(default=None, description="authored | llm | fallback")
    state: dict[str, Any] = Field(default_factory=dict, description="World variables after the turn")


class Step(_Strict):
    """One of: ``say`` (with ``expect``), ``event``/``payload``, ``tell``, ``restart``, ``game_time``."""

    say: str | None = None
    expect: Expect = Field(default_factory=Expect)
    event: str | None = Field(default=None, description="A custom event of the world file")
    payload: dict[str, Any] = Field(default_factory=dict)
    kind: str = Field(default="custom", description="Event kind: custom, item_given, enemy_killed, ...")
    fields: dict[str, Any] = Field(default_factory=dict, description="Fields of a built-in event kind")
    witnesses: list[str] = Field(default_factory=list)
    tell: dict[str, str] | None = Field(default=None, description="{npc: ID, fact: FACT_ID}")
    restart: bool = False
    game_time: float | None = None

    @model_validator(mode="after")
    def _one_thing(self) -> Step:
        things = [
            self.say is not None,
            self.event is not None or self.kind != "custom",
            self.tell is not None,
            self.restart,
            self.game_time is not None,
        ]
        if sum(things) != 1:
            raise ValueError("a step is exactly one of: say, event, tell, restart, game_time")
        return self


class Scenario(_Strict):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    npc: str
    title: str = ""
    tags: list[str] = Field(default_factory=list)
    player: str = "player"
    steps: list[Step] = Field(min_length=1)


class Suite(_Strict):
    suite: str
    personas: str = Field(default=".", description="Persona folder, relative to this file")
    scenarios: list[Scenario] = Field(min_length=1)
    path: Path | None = Field(default=None, exclude=True)

    @model_validator(mode="after")
    def _unique(self) -> Suite:
        seen: set[str] = set()
        for s in self.scenarios:
            if s.id in seen:
                raise ValueError(f"scenario id '{s.id}' is used twice")
            seen.add(s.id)
        return self

    @property
    def personas_dir(self) -> Path:
        base = self.path.parent if self.path is not None else Path.cwd()
        return (base / self.personas).resolve()

    def select(self, only: list[str] | None) -> list[Scenario]:
        """Scenarios whose id or one of whose tags is in ``only`` (all when empty)."""
        if not only:
            return list(self.scenarios)
        wanted = set(only)
        return [s for s in self.scenarios if s.id in wanted or wanted & set(s.tags)]


def load_suite(path: Path) -> Suite:
    """Read and validate a suite; ContentError lists every problem."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ContentError([f"{path}: {exc}"]) from exc
    try:
        suite = Suite.model_validate(data)
    except ValidationError as exc:
        raise ContentError(
            [f"{path}: {'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
        ) from None
    suite.path = Path(path)
    return suite
