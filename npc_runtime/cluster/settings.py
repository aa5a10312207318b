"""Settings of the cluster modes (the ``[cluster]`` table of the config file)."""

from __future__ import annotations

import os
import socket
import uuid
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, field_validator

from ..errors import ConfigError
from ..storage.postgres import is_postgres_url

Mode = Literal["embedded", "gateway", "worker"]

# Ids of the gateway's own requests to a worker (never a game client's): the worker reads the
# conversation id a gateway chose from its ``conversation_start`` id, and the gateway keeps the
# replies to them to itself.
INTERNAL_ID = "npc-gw:"
START_ID = INTERNAL_ID + "start:"


def start_id(conversation_id: str, n: int) -> str:
    return f"{START_ID}{conversation_id}:{n}"


def conversation_of_start(msg_id: object) -> str | None:
    """The gateway-chosen conversation id in a gateway's ``conversation_start`` id, else None."""
    if isinstance(msg_id, str) and msg_id.startswith(START_ID):
        conv = msg_id[len(START_ID) :].split(":", 1)[0]
        return conv or None
    return None


def default_worker_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


class ClusterSettings(BaseModel):
    db: str = Field(description="postgresql:// URL of the cluster's database")
    worker_id: str = Field(default_factory=default_worker_id, min_length=1, max_length=60)
    advertise: str | None = Field(
        default=None, description="Worker: the endpoint gateways connect to (default: the bound one)"
    )
    heartbeat: float = Field(default=0.5, gt=0, description="Worker: seconds between heartbeats")
    max_age: float = Field(default=2.0, gt=0, description="A worker silent this long is dead")
    watch_interval: float = Field(default=0.25, gt=0, description="Gateway: seconds between registry reads")
    authority_keys: list[str] = Field(
        default_factory=list, description="CURVE public keys (Z85, 40 chars) holding the world-authority role"
    )
    worker_key: str | None = Field(
        default=None,
        description="Gateway: the workers' CURVE public key (Z85, 40 chars; workers run with "
        "curve_secret_file): links to workers are encrypted and authenticated",
    )
    link_secret_file: Path | None = Field(
        default=None,
        description="Gateway: its CURVE certificate (.key_secret) for links to workers, whose "
        "curve_clients_dir lists its public half; unset: a fresh key pair (workers without curve_clients_dir)",
    )
    authority_dev: bool = Field(
        default=False,
        description="Development only: without CURVE on a loopback bind, every client holds the role",
    )

    @field_validator("db")
    @classmethod
    def _postgres(cls, v: str) -> str:
        if not is_postgres_url(v):
            raise ValueError("cluster modes need a postgresql:// URL")
        return v

    @field_validator("worker_key")
    @classmethod
    def _worker_z85(cls, v: str | None) -> str | None:
        if v is not None and len(v) != 40:
            raise ValueError(f"'{v}' is not a Z85 CURVE public key (40 characters)")
        return v

    @field_validator("authority_keys")
    @classmethod
    def _z85(cls, v: list[str]) -> list[str]:
        for key in v:
            if len(key) != 40:
                raise ValueError(f"'{key}' is not a Z85 CURVE public key (40 characters)")
        return v


def link_keys(cluster: ClusterSettings) -> tuple[bytes, bytes, bytes] | None:
    """A gateway's CURVE keys for its links to workers: (the workers' public key, its own public
    key, its own secret key), or None when the links are plain (no ``worker_key``)."""
    if cluster.worker_key is None:
        if cluster.link_secret_file is not None:
            raise ConfigError("cluster.link_secret_file needs cluster.worker_key (the workers' public key)")
        return None
    import zmq

    if not zmq.has("curve"):
        raise ConfigError("this libzmq was built without CURVE support")
    if cluster.link_secret_file is None:
        public, secret = zmq.curve_keypair()
        return cluster.worker_key.encode("ascii"), public, secret
    from zmq.auth.certs import load_certificate

    try:
        own, own_secret = load_certificate(str(cluster.link_secret_file))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read CURVE certificate {cluster.link_secret_file}: {exc}") from exc
    if own_secret is None:
        raise ConfigError(f"{cluster.link_secret_file} holds no secret key; use the .key_secret file")
    return cluster.worker_key.encode("ascii"), own, own_secret
