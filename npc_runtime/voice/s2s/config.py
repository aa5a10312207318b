"""The ``voice.s2s`` settings: named speech-to-speech profiles and the fallback budget."""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class S2sProfile(BaseModel):
    """One speech-to-speech model a persona (``voice: {s2s: NAME}``) can speak with."""

    model_config = ConfigDict(extra="forbid")

    provider: Literal["openai-realtime"] = "openai-realtime"
    base_url: str = Field(
        default="wss://api.openai.com/v1",
        description="Websocket base URL; the provider connects to BASE_URL/realtime?model=MODEL",
    )
    model: str = Field(default="gpt-realtime", min_length=1)
    voice: str = Field(default="alloy", min_length=1, description="The server's voice name")
    api_key_env: str = Field(
        default="OPENAI_API_KEY",
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="Environment variable holding the API key (optional for loopback servers)",
    )
    api: Literal["ga", "beta"] = Field(
        default="ga",
        description="Event shapes: 'ga' (session.type realtime, response.output_audio.*) or 'beta' "
        "(OpenAI-Beta: realtime=v1, response.audio.*); both servers' events are understood",
    )
    transcription_model: str | None = Field(
        default="gpt-4o-mini-transcribe",
        description="The server's own transcript of the player (logged beside the local one); null: off",
    )
    temperature: float | None = Field(default=None, ge=0.6, le=1.2)
    connect_timeout_s: float = Field(default=3.0, gt=0)
    total_timeout_s: float = Field(default=30.0, gt=0, description="Longest reply")

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("ws", "wss") or not parts.hostname:
            raise ValueError(f"base_url must be a ws:// or wss:// URL, got {value!r}")
        return value.rstrip("/")


class S2sConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    default: str | None = Field(
        default=None,
        description="Profile every single-NPC voice conversation uses unless the persona says "
        "otherwise (null: the cascade, STT -> dialogue -> TTS)",
    )
    budget_s: float = Field(
        default=1.5,
        gt=0,
        description="From the end of the player's speech: no audio from the model by then and the "
        "turn is answered by the cascade instead (with a warning)",
    )
    profiles: dict[str, S2sProfile] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _default_exists(self) -> S2sConfig:
        if self.default not in (None, "none") and self.default not in self.profiles:
            known = ", ".join(sorted(self.profiles)) or "none are configured"
            raise ValueError(f"default '{self.default}' is not one of the profiles ({known})")
        return self
