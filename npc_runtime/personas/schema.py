"""The persona file schema: one YAML file per character, edited by designers.

Why YAML: multi-line prose (backstory, speaking style) reads naturally in block scalars, comments
are allowed, the files diff well, and editors (VS Code's YAML extension, JetBrains) give
autocomplete and live errors from the JSON Schema printed by ``npc-runtime persona schema`` via a
``# yaml-language-server: $schema=...`` first line. See docs/personas.md.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from .templates import TemplateError, parse_template

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
    actions: list[ActionCall] = Field(
        default_factory=list,
        description="Actions taken with this line; the line is said only when they can be taken",
    )

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, value: Any) -> Any:
        return {"text": value} if isinstance(value, str) else value

    @field_validator("text")
    @classmethod
    def _template_parses(cls, text: str) -> str:
        try:
            parse_template(text)
        except TemplateError as exc:
            raise ValueError(str(exc)) from None
        return text


class Topic(_Strict):
    """An authored topic: example player phrasings and the lines the NPC answers with."""

    id: str = Field(pattern=ID_PATTERN, description="Unique within the persona")
    phrasings: list[str] = Field(min_length=1, description="Example ways a player might ask")
    lines: list[Line] = Field(min_length=1, description="Answers; the NPC rotates through them")
    when: str | None = Field(default=None, description="Topic is only available when this holds")
    actions: list[ActionCall] = Field(default_factory=list, description="Actions taken after answering")
    require: list[str] = Field(
        default_factory=list,
        description="Words or phrases: the topic matches only when the player said one of them",
    )
    exclude: list[str] = Field(
        default_factory=list,
        description="Words or phrases: the topic never matches when the player said one of them",
    )

    @model_validator(mode="after")
    def _arguments_in_templates(self) -> Topic:
        """``{arg.<param>}`` in a line must name an argument of the line's or the topic's actions."""
        for j, line in enumerate(self.lines):
            known = {p for call in [*line.actions, *self.actions] for p in [*call.args, *call.from_player]}
            for f in parse_template(line.text):
                if f.name.startswith("arg.") and f.name[4:] not in known and f.default is None:
                    names = ", ".join(sorted(known)) or "none"
                    raise ValueError(
                        f"line {j + 1}: '{{{f.name}}}' is not an argument of the line's actions (known: {names})"
                    )
        return self


class ParamSpec(_Strict):
    type: Literal["string", "int", "float", "bool", "entity"] = "string"
    description: str = ""
    enum: list[str] | None = None
    min: float | None = None
    max: float | None = None
    required: bool = True
    aliases: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Other words a player may use for an enum value, e.g. {armour: [shield, helmet]}",
    )

    @model_validator(mode="after")
    def _aliases_name_values(self) -> ParamSpec:
        for value in self.aliases:
            if self.enum is None or value not in self.enum:
                raise ValueError(f"aliases name '{value}', which is not one of the enum values {self.enum}")
        return self


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
    args: dict[str, Any] = Field(
        default_factory=dict,
        description="Fixed arguments; for a parameter in from_player, its value when the player named none",
    )
    from_player: list[str] = Field(
        default_factory=list,
        description="Parameters filled from what the player said, within the parameter's enum or type",
    )


class SeedMemory(_Strict):
    text: str = Field(min_length=1)
    importance: int = Field(default=5, ge=1, le=10)
    player: str | None = Field(default=None, description="The player this memory concerns, if any")
    game_time: float = Field(default=0.0, description="Game hours at which it happened")


VOICE_PRESETS = (
    "male",
    "young_male",
    "old_male",
    "big_male",
    "female",
    "young_female",
    "old_female",
    "child",
)
MOOD_NAMES = ("neutral", "angry", "afraid", "sad", "happy", "calm")

# Designer-facing ranges of the voice block: (low, high, what goes wrong beyond them).
VOICE_RANGES: dict[str, tuple[float, float, str]] = {
    "pitch": (-12.0, 12.0, "semitones; beyond an octave the voice warbles"),
    "formant": (
        -6.0,
        6.0,
        "semitones of vocal-tract size; beyond that the voice sounds like a toy or a monster",
    ),
    "brightness": (-1.0, 1.0, "-1 dark ... 1 bright"),
    "warmth": (-1.0, 1.0, "-1 thin ... 1 warm"),
    "gruffness": (0.0, 1.0, "0 clean ... 1 rough"),
    "breathiness": (0.0, 1.0, "0 clear ... 1 whispery"),
    "tremble": (0.0, 1.0, "0 steady ... 1 shaking"),
    "expressiveness": (-1.0, 1.0, "-1 flat ... 1 lively pitch movement"),
}


def _check_range(name: str, value: Any) -> Any:
    lo, hi, meaning = VOICE_RANGES[name]
    if isinstance(value, int | float) and not isinstance(value, bool) and not lo <= value <= hi:
        raise ValueError(f"{name} {value} is out of range {lo:g}..{hi:g} ({meaning})")
    return value


class MoodRule(_Strict):
    """A mood the character speaks in while a condition holds (first match wins)."""

    mood: Literal["neutral", "angry", "afraid", "sad", "happy", "calm"] = Field(
        description="How the lines are delivered: pace, pitch and pitch range, timbre, level"
    )
    when: str | None = Field(
        default=None,
        description="Condition on the NPC's view, e.g. 'relationship.trust < -0.5'; none: always",
    )
    intensity: float = Field(default=1.0, ge=0.0, le=1.0, description="0 none ... 1 full")


class VoiceSettings(_Strict):
    """How the character sounds. Every field is optional; see docs/personas.md "Voice"."""

    tts: Literal["piper", "espeak", "openai"] | None = Field(
        default=None, description="TTS provider; default: the runtime's setting"
    )
    voice: str | None = Field(default=None, description="Voice name of the provider")
    speaker: int | None = Field(default=None, ge=0)
    preset: (
        Literal["male", "young_male", "old_male", "big_male", "female", "young_female", "old_female", "child"]
        | None
    ) = Field(default=None, description="A starting point; the fields below adjust it")
    speed: float = Field(default=1.0, gt=0.25, le=4.0, description="Tempo, 1 = the engine's pace")
    pitch: float | None = Field(
        default=None, ge=-12.0, le=12.0, description="Pitch shift in semitones (+12 = an octave up)"
    )
    formant: float | None = Field(
        default=None,
        ge=-6.0,
        le=6.0,
        description="Vocal-tract size in semitones: + smaller (woman, child), - bigger (giant)",
    )
    brightness: float | None = Field(default=None, ge=-1.0, le=1.0, description="EQ above 3 kHz")
    warmth: float | None = Field(default=None, ge=-1.0, le=1.0, description="EQ below 300 Hz")
    gruffness: float | None = Field(default=None, ge=0.0, le=1.0, description="Saturation and roughness")
    breathiness: float | None = Field(default=None, ge=0.0, le=1.0, description="Aspiration noise")
    tremble: float | None = Field(default=None, ge=0.0, le=1.0, description="Pitch/level wobble (age)")
    expressiveness: float | None = Field(
        default=None, ge=-1.0, le=1.0, description="Pitch and timing variation: -1 flat, 1 lively"
    )
    espeak: str | None = Field(
        default=None,
        description="espeak-ng voice+variant for this character on espeak (fallback), e.g. 'en-us+f3'",
    )
    moods: list[MoodRule] = Field(
        default_factory=list, description="Moods by condition (first whose 'when' holds wins)"
    )
    turn_max_ms: float | None = Field(
        default=None,
        ge=60,
        le=5000,
        description="Hands-free: the longest pause of the player this NPC waits through (ms); "
        "default: the runtime's voice.turn.max_ms",
    )
    s2s: str | None = Field(
        default=None,
        description="Speech-to-speech profile (settings voice.s2s.profiles) this NPC answers with; "
        "'none': the cascade; default: the runtime's voice.s2s.default",
    )

    @field_validator(*VOICE_RANGES, mode="before")
    @classmethod
    def _in_range(cls, value: Any, info: ValidationInfo) -> Any:
        return _check_range(str(info.field_name), value)


MAX_OPENER_WORDS = 8


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
    openers: list[str] = Field(
        default_factory=list,
        description="Short lines said first when the language model's first sentence is late "
        "(thinking lines, 'Hm. Let me think.'); never the same one twice running",
    )
    actions: list[ActionSpec] = Field(default_factory=list)
    memories: list[SeedMemory] = Field(default_factory=list, description="Memories the NPC starts with")
    voice: VoiceSettings = Field(default_factory=VoiceSettings)

    @field_validator("greeting", "farewell", "fallback")
    @classmethod
    def _scripted_lines(cls, lines: list[Line], info: ValidationInfo) -> list[Line]:
        for j, line in enumerate(lines):
            if line.actions:
                raise ValueError(f"line {j + 1} has actions: only lines of a topic take actions")
            if info.field_name == "fallback":
                for f in parse_template(line.text):
                    if f.default is None:
                        raise ValueError(
                            f"line {j + 1}: a fallback line must always be sayable: give '{{{f.name}}}' "
                            f"a default, e.g. '{{{f.name}|friend}}'"
                        )
        return lines

    @field_validator("openers")
    @classmethod
    def _openers(cls, lines: list[str]) -> list[str]:
        seen: set[str] = set()
        for j, text in enumerate(lines):
            n = len(text.split())
            if n == 0:
                raise ValueError(f"opener {j + 1} is empty")
            if n > MAX_OPENER_WORDS:
                raise ValueError(
                    f"opener {j + 1} has {n} words: an opener fills a pause, keep it to "
                    f"{MAX_OPENER_WORDS} words or fewer"
                )
            if "{" in text or "}" in text or "[" in text:
                raise ValueError(f"opener {j + 1}: openers are said as written (no templates, no brackets)")
            if text.strip().lower() in seen:
                raise ValueError(f"opener {j + 1} is written twice")
            seen.add(text.strip().lower())
        return [text.strip() for text in lines]

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
        for topic in self.topics:
            for call in topic.actions:
                self._check_call(call, f"topic '{topic.id}'")
            for j, line in enumerate(topic.lines):
                for call in line.actions:
                    self._check_call(call, f"topic '{topic.id}', line {j + 1},")
        return self

    def _check_call(self, call: ActionCall, where: str) -> None:
        spec = self.action(call.name)
        if spec is None:
            raise ValueError(f"{where} calls action '{call.name}', which is not declared in 'actions'")
        for name in [*call.args, *call.from_player]:
            if name not in spec.params:
                raise ValueError(f"{where} action '{call.name}' has no parameter '{name}'")
        for name in call.from_player:
            p = spec.params[name]
            if not p.enum and p.type not in ("int", "float"):
                raise ValueError(
                    f"{where} action '{call.name}': parameter '{name}' cannot be taken from the player's "
                    "words: only parameters with an enum, and int or float parameters, can"
                )

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
        for i, rule in enumerate(self.voice.moods):
            if rule.when:
                out.append((f"voice.moods.{i}.when", rule.when))
        return out


Line.model_rebuild()
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
