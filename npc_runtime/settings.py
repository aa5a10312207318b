"""Runtime settings: defaults < config file (TOML) < environment (NPC_RUNTIME_*) < command-line flags.

Validated once, at the edge; the rest of the runtime reads typed fields.
"""

from __future__ import annotations

import ipaddress
import json
import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .errors import ConfigError
from .protocol.codec import DEFAULT_MAX_MESSAGE_BYTES

ENV_PREFIX = "NPC_RUNTIME_"


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    bind: str = Field(default="tcp://127.0.0.1:7600", description="ZeroMQ endpoint the ROUTER binds")
    allow_remote: bool = Field(default=False, description="Allow binding a non-loopback address")
    curve_secret_file: Path | None = Field(
        default=None,
        description="Server's CURVE secret certificate (npc-runtime keys generate): encrypts and authenticates",
    )
    curve_clients_dir: Path | None = Field(
        default=None,
        description="Folder of allowed clients' public certificates; unset: any client knowing the server key",
    )
    personas_dir: Path = Field(
        default=Path("personas"), description="Folder of *.persona.yaml (and the world file)"
    )
    db: str = Field(
        default=".npc-runtime/runtime.sqlite3",
        description="SQLite file for world state and memory, or a postgresql:// URL (cluster mode)",
    )
    durability: Literal["normal", "full"] = "normal"
    save_integrity: Literal["allow", "warn", "refuse"] = Field(
        default="warn",
        description="A save blob edited outside the runtime: load it silently, load it with a "
        "save_altered warning, or refuse it with save_invalid",
    )
    dialogue: dict[str, Any] = Field(default_factory=lambda: {"provider": "authored"})
    heartbeat_interval: float = Field(default=2.0, gt=0, description="Seconds between client pings")
    client_timeout: float = Field(default=10.0, gt=0, description="Silence after which a client is dropped")
    max_message_bytes: int = Field(default=DEFAULT_MAX_MESSAGE_BYTES, ge=1024)
    reload_interval: float = Field(default=0.5, gt=0, description="Seconds between persona file checks")
    prefer_authored: float = Field(
        default=0.5,
        ge=0,
        le=1.01,
        description="With an LLM provider, authored topics matching above this win (on the labelled "
        "village set, 62 of the 69 lines matching at 0.5 or more match the right topic)",
    )
    llm_actions_named: bool = Field(
        default=True,
        description="An action a language model proposes is taken only when each of its enum "
        "arguments (which drink, which remedy) was named by the player or in the NPC's own reply",
    )
    history_turns: int = Field(default=12, ge=0)
    world: dict[str, Any] = Field(default_factory=dict)
    memory: dict[str, Any] = Field(default_factory=dict)
    voice: dict[str, Any] = Field(default_factory=dict)
    cluster: dict[str, Any] = Field(default_factory=dict)  # gateway/worker modes (npc_runtime.cluster)
    log_level: str = "INFO"
    blas_threads: int | None = Field(
        default=1,
        ge=1,
        description="Threads numpy's BLAS may use in this process (set when the runtime is built; "
        "one halves the CPU of a Whisper decode on 2 cores: the idle helpers spin); null: leave it",
    )

    @field_validator("bind")
    @classmethod
    def _endpoint(cls, value: str) -> str:
        if not value.startswith(("tcp://", "ipc://", "inproc://")):
            raise ValueError("bind must be a ZeroMQ endpoint such as tcp://127.0.0.1:7600")
        return value

    @model_validator(mode="after")
    def _loopback_only(self) -> Settings:
        if self.bind.startswith("tcp://") and not self.allow_remote:
            host = self.bind[len("tcp://") :].rsplit(":", 1)[0].strip("[]")
            if host not in ("localhost",):
                try:
                    loop = ipaddress.ip_address(host).is_loopback
                except ValueError:
                    loop = False
                if not loop:
                    raise ValueError(
                        f"bind address {host} is not loopback; set allow_remote = true (and consider CURVE) "
                        "to serve other machines"
                    )
        return self


def _env_value(raw: str) -> Any:
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw


def load_settings(
    config_file: Path | None = None,
    overrides: dict[str, Any] | None = None,
    environ: dict[str, str] | None = None,
) -> Settings:
    """Merge the sources; raise ConfigError with every problem found."""
    data: dict[str, Any] = {}
    if config_file is not None:
        try:
            data.update(tomllib.loads(Path(config_file).read_text(encoding="utf-8")))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"config file {config_file}: {exc}") from exc
    env = os.environ if environ is None else environ
    for key, raw in env.items():
        if key.startswith(ENV_PREFIX):
            name = key[len(ENV_PREFIX) :].lower()
            if name in Settings.model_fields:
                data[name] = _env_value(raw)
            elif "__" in name:  # NPC_RUNTIME_DIALOGUE__MODEL=... sets dialogue.model
                section, _, sub = name.partition("__")
                if section in Settings.model_fields:
                    data.setdefault(section, {})
                    if isinstance(data[section], dict):
                        data[section][sub] = _env_value(raw)
    for key, value in (overrides or {}).items():
        if value is None:
            continue
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        lines = [f"{'.'.join(str(p) for p in e['loc']) or 'settings'}: {e['msg']}" for e in exc.errors()]
        raise ConfigError("invalid settings:\n  " + "\n  ".join(lines)) from None
