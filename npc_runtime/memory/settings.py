"""The ``memory:`` section of the runtime settings, validated here (see docs/memory.md)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ..errors import ConfigError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Weights(_Strict):
    """Weights of the three normalised scores; 0 turns a score off."""

    recency: float = Field(default=1.0, ge=0)
    importance: float = Field(default=1.0, ge=0)
    relevance: float = Field(default=1.5, ge=0)
    player: float = Field(
        default=0.5, ge=0, description="Added for memories about the player the NPC is talking to"
    )


class Bound(_Strict):
    min: float = -1.0
    max: float = 1.0
    initial: float = 0.0

    @model_validator(mode="after")
    def _ordered(self) -> Bound:
        if not self.min < self.max or not self.min <= self.initial <= self.max:
            raise ValueError(
                f"need min < max and min <= initial <= max (got {self.min}, {self.max}, {self.initial})"
            )
        return self


def _default_dimensions() -> dict[str, Bound]:
    return {"trust": Bound(), "affinity": Bound()}


class MemorySettings(_Strict):
    embeddings: Literal["static", "hashed", "none"] = Field(
        default="static",
        description="Relevance model: the shipped static model, hashed n-grams, or FTS5 only",
    )
    model_dir: str | None = Field(default=None, description="Another static model folder (same file layout)")
    weights: Weights = Field(default_factory=Weights)
    recency_half_life_hours: float = Field(default=48.0, gt=0, description="Game hours for recency to halve")
    lexical_weight: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="Share of FTS5 bm25 in relevance (the rest is cosine); bm25 is always the fallback",
    )
    exact_search_below: int = Field(
        default=20_000, ge=0, description="Above this many memories, relevance is searched in two stages"
    )
    coarse_dims: int = Field(default=48, ge=0, description="Dimensions of the first stage (0: always exact)")
    candidates: int = Field(default=512, ge=10, description="Memories rescored exactly after the first stage")
    index_cache_npcs: int = Field(
        default=64, ge=1, description="NPCs whose vectors are kept in RAM (least recently searched dropped)"
    )
    capacity: int = Field(default=5000, ge=10, description="Memories kept per NPC before pruning")
    prune_slack: float = Field(default=0.1, ge=0, le=1, description="Prune when over capacity by this share")
    forget_after_hours: float | None = Field(
        default=None, gt=0, description="Forget unimportant memories older than this many game hours"
    )
    forget_below_importance: float = Field(default=3.0, ge=1, le=10)
    reflection_threshold: float = Field(
        default=60.0, gt=0, description="Summed importance of new memories that triggers a reflection"
    )
    reflection: Literal["auto", "extractive"] = Field(
        default="auto",
        description="auto: ask the dialogue provider's language model when it offers complete(prompt)",
    )
    reflection_window: int = Field(default=50, ge=3, le=500, description="Most recent memories reflected on")
    context_max_memories: int = Field(default=8, ge=0, le=50)
    context_token_budget: int = Field(default=300, ge=0, description="Tokens of memories put into the prompt")
    importance_heard: float = Field(default=3.0, ge=1, le=10)
    importance_said: float = Field(default=2.0, ge=1, le=10)
    relationships: dict[str, Bound] = Field(default_factory=_default_dimensions)

    @classmethod
    def from_section(cls, data: Any) -> MemorySettings:
        """Validate ``settings.memory`` (a free-form dict), with a message naming the bad key."""
        try:
            return cls.model_validate(data or {})
        except ValidationError as exc:
            problems = "; ".join(
                f"memory.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
            )
            raise ConfigError(f"invalid memory settings: {problems}") from exc
