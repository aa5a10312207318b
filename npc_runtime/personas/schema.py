"""The persona file schema: one YAML file per character, edited by designers.

Why YAML: multi-line prose (backstory, speaking style) reads naturally in block scalars, comments
are allowed, the files diff well, and editors (VS Code's YAML extension, JetBrains) give
autocomplete and live errors from the JSON Schema printed by ``npc-runtime persona schema`` via a
``# yaml-language-server: $schema=...`` first line. See docs/personas.md.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

ID_PATTERN = r"^[a-z][a-z0-9_]*$"
_ID_RE = re.compile(ID_PATTERN)


class _Strict(BaseModel):
    # Designers' typos ("backstroy:") must be reported, not silently ignored.
    model_config = ConfigDict(extra="forbid")


class Line(_Strict):
    """A line the character can say. Written as a plain string, or as a map with a condition."""

    text: str = Field(min_length=1, description="What the character says")
    when: str | None = Field(
        default=None,
        description="Condition on the NPC's view of the world, e.g. 'quest.wolves == \"done\"'",
    )
    id: str | None = Field(default=None, description="Stable line id for localisation/voice-over")

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, value: Any) -> Any:
        return {"text": value} if isinstance(value, str) else value


class Topic(_Strict):
    """An authored topic: example player phrasings and the lines the NPC answers with."""

    id: str = Field(pattern=ID_PATTERN, description="Unique within the persona")
    phrasings: list[str] = Field(min_length=1, description="Example ways a player might ask")
    lines: list[Line] = Field(min_length=1, description="Answers; the NPC rotates through them")
    when: str | None = Field(default=None, description="Topic is only available when this holds")
    actions: list[ActionCall] = Field(default_factory=list, description="Actions taken after answering")


class ParamSpec(_Strict):
    type: Literal["string", "int", "float", "bool", "entity"] = "string"
    description: str = ""
    enum: list[str] | None = None
    min: float | None = None
    max: float | None = None
    required: bool = True


class ActionSpec(_Strict):
    """An action the character may take; the model proposes, the runtime checks and applies."""

    name: str = Field(pattern=ID_PATTERN)
    description: str = Field(default="", description="Shown to the LLM so it knows when to use it")
    params: dict[str, ParamSpec] = Field(default_factory=dict)
    when: str | None = Field(default=None, description="Allowed only when this condition holds")
    effects: list[str] = Field(
        default_factory=list,
        description="World effects applied when the action is taken, e.g. 'player.gold -= 10'",
    )


class ActionCall(_Strict):
    name: str = Field(pattern=ID_PATTERN)
    args: dict[str, Any] = Field(default_factory=dict)


class SeedMemory(_Strict):
    text: str = Field(min_length=1)
    importance: int = Field(default=5, ge=1, le=10)
    player: str | None = Field(default=None, description="The player this memory concerns, if any")
    game_time: float = Field(default=0.0, description="Game hours at which it happened")


class VoiceSettings(_Strict):
    tts: Literal["piper", "espeak", "openai"] | None = Field(
        default=None, description="TTS provider; default: the runtime's setting"
    )
    voice: str | None = Field(default=None, description="Voice name of the provider")
    speaker: int | None = Field(default=None, ge=0)
    speed: float = Field(default=1.0, gt=0.25, le=4.0)
    pitch: float | None = Field(default=None, description="Semitones; where the provider supports it")


class Persona(_Strict):
    """A character."""

    id: str = Field(pattern=ID_PATTERN, description="Stable id used by the game and the world file")
    name: str = Field(min_length=1, description="Display name")
    role: str = Field(default="", description="One line: who they are in the world")
    backstory: str = ""
    personality: list[str] = Field(default_factory=list, description="Traits, a few words each")
    speaking_style: str = ""
    knowledge: list[str] = Field(default_factory=list, description="Facts the character always knows")
    topics: list[Topic] = Field(default_factory=list)
    greeting: list[Line] = Field(default_factory=list)
    farewell: list[Line] = Field(default_factory=list)
    fallback: list[Line] = Field(
        min_length=1, description="Said when nothing matches or the language model fails"
    )
    actions: list[ActionSpec] = Field(default_factory=list)
    memories: list[SeedMemory] = Field(default_factory=list, description="Memories the NPC starts with")
    voice: VoiceSettings = Field(default_factory=VoiceSettings)

    @field_validator("topics")
    @classmethod
    def _unique_topics(cls, topics: list[Topic]) -> list[Topic]:
        seen: set[str] = set()
        for t in topics:
            if t.id in seen:
                raise ValueError(f"topic id '{t.id}' is used twice")
            seen.add(t.id)
        return topics

    @model_validator(mode="after")
    def _actions_declared(self) -> Persona:
        declared = {a.name for a in self.actions}
        for topic in self.topics:
            for call in topic.actions:
                if call.name not in declared:
                    raise ValueError(
                        f"topic '{topic.id}' calls action '{call.name}', which is not declared in 'actions'"
                    )
        return self

    def action(self, name: str) -> ActionSpec | None:
        for a in self.actions:
            if a.name == name:
                return a
        return None

    def conditions(self) -> list[tuple[str, str]]:
        """Every condition in the file, as (field path, expression), for world-aware lint."""
        out: list[tuple[str, str]] = []
        for i, t in enumerate(self.topics):
            if t.when:
                out.append((f"topics.{i}.when", t.when))
            for j, line in enumerate(t.lines):
                if line.when:
                    out.append((f"topics.{i}.lines.{j}.when", line.when))
        for group in ("greeting", "farewell", "fallback"):
            for j, line in enumerate(getattr(self, group)):
                if line.when:
                    out.append((f"{group}.{j}.when", line.when))
        for i, a in enumerate(self.actions):
            if a.when:
                out.append((f"actions.{i}.when", a.when))
        return out


Topic.model_rebuild()


def persona_json_schema() -> dict[str, Any]:
    schema = Persona.model_json_schema()
    # A line may be written as a plain string (the validator accepts it); say so for editors.
    line = schema["$defs"]["Line"]
    schema["$defs"]["Line"] = {"anyOf": [{"type": "string", "minLength": 1}, line], "title": "Line"}
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "npc-runtime persona"
    return schema


def is_valid_id(value: str) -> bool:
    return bool(_ID_RE.match(value))
