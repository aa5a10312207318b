"""The world file schema (``*.world.yaml``), edited by designers. See docs/world.md.

Same format family as the persona files: YAML, strict fields (typos are reported), a JSON Schema
for editor autocomplete (``docs/schema/world.schema.json``, printed by
``npc-runtime world schema``). The file is *content*; the changing *state* (variable values, quest
states, relations, who knows what) lives in :mod:`npc_runtime.world.state`.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ..protocol.messages.world import BUILTIN_EVENT_FIELDS

ID = r"^[a-z][a-z0-9_]*$"
VAR_NAME = r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$"
RESERVED_PREFIXES = ("quest.", "event.", "arg.")
BUILTIN_EVENTS = tuple(BUILTIN_EVENT_FIELDS)
DEFAULT_RELATION_TYPES = ("located_in", "owns", "member_of", "knows", "hostile_to", "likes", "guards")

Visibility = Literal["all"] | list[str]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Entity(_Strict):
    """A thing in the world: the graph's nodes."""

    kind: Literal["character", "location", "item", "faction", "creature"] = Field(
        description="character (NPCs and the player), location, item, faction or creature"
    )
    name: str = Field(default="", description="Display name, used when facts are written as prose")
    description: str = ""

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, value: Any) -> Any:
        return {"kind": value} if isinstance(value, str) else value


class RelationType(_Strict):
    description: str = ""
    from_kinds: list[str] | None = Field(default=None, description="Allowed entity kinds at the start")
    to_kinds: list[str] | None = Field(default=None, description="Allowed entity kinds at the end")


class Relation(_Strict):
    """A typed edge, written ``[mira, located_in, inn]`` or as a map."""

    from_: str = Field(alias="from", pattern=ID)
    type: str = Field(pattern=ID)
    to: str = Field(pattern=ID)

    @model_validator(mode="before")
    @classmethod
    def _from_list(cls, value: Any) -> Any:
        if isinstance(value, list):
            if len(value) != 3:
                raise ValueError("a relation is [from, type, to], e.g. [mira, located_in, inn]")
            return {"from": value[0], "type": value[1], "to": value[2]}
        return value


class Variable(_Strict):
    """A typed world variable. Names may be dotted (``player.gold``) to group them."""

    type: Literal["bool", "int", "float", "string", "enum"]
    initial: bool | int | float | str | None = Field(
        default=None, description='Start value; default false, 0 (or min), "" or the first enum value'
    )
    values: list[str] | None = Field(default=None, description="The members of an enum")
    min: int | float | None = Field(
        default=None, description="Lowest allowed number (effects below are refused)"
    )
    max: int | float | None = Field(default=None, description="Highest allowed number")
    visible_to: Visibility = Field(
        default_factory=list, description='NPC ids that always see this variable, or "all"'
    )
    description: str = ""

    @model_validator(mode="after")
    def _consistent(self) -> Variable:
        if self.type == "enum":
            if not self.values:
                raise ValueError("an enum variable needs 'values'")
            for v in self.values:
                if not re.match(ID, v):
                    raise ValueError(f"enum value '{v}' must be a lowercase id (letters, digits, _)")
        elif self.values is not None:
            raise ValueError(f"'values' is only for enum variables, not {self.type}")
        if self.type not in ("int", "float") and (self.min is not None or self.max is not None):
            raise ValueError("'min'/'max' are only for int and float variables")
        if self.type == "int":
            for key, bound in (("min", self.min), ("max", self.max)):
                if isinstance(bound, float):
                    raise ValueError(f"{key} {bound} of an int variable must be a whole number")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min} is greater than max {self.max}")
        return self

    def start_value(self) -> bool | int | float | str:
        if self.type == "float":
            value = (
                self.initial if self.initial is not None else (self.min if self.min and self.min > 0 else 0)
            )
            return float(value)
        if self.initial is not None:
            return self.initial
        if self.type == "bool":
            return False
        if self.type == "int":
            return self.min if self.min is not None and self.min > 0 else 0
        if self.type == "enum":
            return (self.values or [""])[0]
        return ""


class QuestState(_Strict):
    description: str = Field(default="", description="What this state means, for designers and `show`")
    final: bool = Field(default=False, description="An ending: lint does not call it a dead end")

    @model_validator(mode="before")
    @classmethod
    def _from_none(cls, value: Any) -> Any:
        if value is None:
            return {}
        return {"description": value} if isinstance(value, str) else value


class Say(_Strict):
    npc: str = Field(pattern=ID, description="Who speaks")
    text: str = Field(min_length=1, description="What they say (the game decides when to play it)")


class Transition(_Strict):
    """A step of a quest: fires as soon as the quest is in ``from`` and ``when`` holds."""

    id: str | None = Field(default=None, pattern=ID, description="Name shown in logs and pictures")
    from_: str = Field(alias="from", pattern=ID)
    to: str = Field(pattern=ID)
    when: str | None = Field(default=None, description="Condition; absent means 'at once'")
    effects: list[str] = Field(default_factory=list, description="Applied when it fires")
    say: Say | None = Field(default=None, description="A line the game may play; absent means silent")
    reveals: list[str] = Field(default_factory=list, description="Facts the witnesses learn")
    witnesses: list[str] = Field(
        default_factory=list, description="NPC ids who learn `reveals` (plus the event's witnesses)"
    )
    description: str = ""


class Quest(_Strict):
    title: str = ""
    description: str = ""
    initial: str = Field(pattern=ID, description="The state the quest starts in")
    states: dict[str, QuestState] = Field(min_length=1)
    transitions: list[Transition] = Field(default_factory=list)
    visible_to: Visibility = Field(
        default_factory=list, description='NPC ids that always see the quest state, or "all"'
    )

    @field_validator("states")
    @classmethod
    def _state_ids(cls, states: dict[str, QuestState]) -> dict[str, QuestState]:
        for s in states:
            if not re.match(ID, s):
                raise ValueError(f"state '{s}' must be a lowercase id (letters, digits, _)")
        return states


class Rumour(_Strict):
    along: list[str] = Field(default_factory=lambda: ["knows"], description="Relation types it spreads on")
    delay: float = Field(default=1.0, ge=0, description="Game hours between hearing and passing it on")


class Fact(_Strict):
    """Something an NPC can know, as prose handed to dialogue."""

    text: str = Field(min_length=1)
    known_by: Visibility = Field(
        default_factory=list, description='NPC ids who know it at the start, or "all"'
    )
    exposes: list[str] = Field(
        default_factory=list,
        description="Variables (or quest.<id>) an NPC can see once it knows this fact",
    )
    rumour: Rumour | None = Field(default=None, description="Spreads by itself along relations")


class PayloadField(_Strict):
    type: Literal["bool", "int", "float", "string", "entity", "enum"]
    values: list[str] | None = None
    min: int | float | None = None
    max: int | float | None = None
    default: bool | int | float | str | None = Field(default=None, description="Makes the field optional")
    description: str = ""


class CustomEvent(_Strict):
    description: str = ""
    text: str = Field(
        default="",
        description="Prose a witness remembers; {field} is replaced by the payload's field, e.g. "
        "'The traveller offered Tomas {amount} gold.'",
    )
    payload: dict[str, PayloadField] = Field(default_factory=dict)


class Rule(_Strict):
    """What an event does to the world: ``event`` is a built-in kind or a declared custom event."""

    event: str = Field(
        pattern=ID, description="item_given | enemy_killed | location_entered | <custom event>"
    )
    when: str | None = Field(default=None, description="Condition; may read event.<field>")
    effects: list[str] = Field(default_factory=list)
    reveals: list[str] = Field(default_factory=list, description="Facts the event's witnesses learn")
    witnesses: list[str] = Field(default_factory=list, description="NPC ids who always learn `reveals`")


class WorldFile(_Strict):
    """A world: entities and relations, variables, quests, facts and event rules."""

    world: str = Field(pattern=ID, description="Id of this world")
    title: str = ""
    relation_types: dict[str, RelationType] = Field(
        default_factory=dict,
        description="Extra relation types (built in: " + ", ".join(DEFAULT_RELATION_TYPES) + ")",
    )
    entities: dict[str, Entity] = Field(default_factory=dict)
    relations: list[Relation] = Field(default_factory=list)
    variables: dict[str, Variable] = Field(default_factory=dict)
    quests: dict[str, Quest] = Field(default_factory=dict)
    facts: dict[str, Fact] = Field(default_factory=dict)
    events: dict[str, CustomEvent] = Field(default_factory=dict, description="Custom events the game sends")
    rules: list[Rule] = Field(default_factory=list)

    @field_validator("entities", "quests", "facts", "events", "relation_types")
    @classmethod
    def _ids(cls, items: dict[str, Any]) -> dict[str, Any]:
        for key in items:
            if not re.match(ID, key):
                raise ValueError(f"'{key}' must be a lowercase id (letters, digits, _)")
        return items

    @field_validator("variables")
    @classmethod
    def _var_names(cls, items: dict[str, Variable]) -> dict[str, Variable]:
        for key in items:
            if not re.match(VAR_NAME, key):
                raise ValueError(f"'{key}' must be lowercase ids joined by dots, e.g. player.gold")
            if key.startswith(RESERVED_PREFIXES):
                raise ValueError(f"'{key}': names starting with quest., event. or arg. are reserved")
        return items


def world_json_schema() -> dict[str, Any]:
    """The JSON Schema for editors; it also accepts the short forms the loader accepts."""
    schema = WorldFile.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "npc-runtime world"
    defs = schema["$defs"]

    def either(name: str, *short: dict[str, Any]) -> None:
        full = defs[name]
        defs[name] = {"description": full.get("description", ""), "anyOf": [*short, full]}

    kinds = defs["Entity"]["properties"]["kind"]["enum"]
    either("Entity", {"type": "string", "enum": kinds, "description": "Short form: just the kind"})
    either(
        "Relation",
        {
            "type": "array",
            "items": {"type": "string"},
            "minItems": 3,
            "maxItems": 3,
            "description": "[from, type, to]",
        },
    )
    either("QuestState", {"type": "null"}, {"type": "string", "description": "Short form: the description"})
    return schema
