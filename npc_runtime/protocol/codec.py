"""msgpack codec: bytes <-> validated message models, with typed errors for every bad input.

One ZeroMQ frame carries one msgpack map. Binary payloads (audio) travel inside the map as
msgpack ``bin``. Decoding goes through the tagged union of the direction's messages.
"""

from __future__ import annotations

from typing import Any

import msgpack
from pydantic import ValidationError

from ..errors import MSGPACK_DECODE_ERRORS
from .errors import ErrorCode, ProtocolError
from .messages import CLIENT_ADAPTER, CLIENT_TYPES, SERVER_ADAPTER, SERVER_TYPES, Message

PROTOCOL_VERSION = 1
SUPPORTED_PROTOCOLS = frozenset({1})
DEFAULT_MAX_MESSAGE_BYTES = 1 << 20  # 1 MiB: ~30 s of 16 kHz s16 audio; bigger chunks are refused

_packer_opts: dict[str, Any] = {"use_bin_type": True}


def encode(message: Message) -> bytes:
    """Serialise a message; fields that are ``None`` are left out of the map."""
    return msgpack.packb(message.model_dump(mode="python", exclude_none=True), **_packer_opts)


def encode_map(payload: dict[str, Any]) -> bytes:
    return msgpack.packb(payload, **_packer_opts)


def unpack_map(data: bytes, max_bytes: int = DEFAULT_MAX_MESSAGE_BYTES) -> dict[str, Any]:
    """Bytes -> a msgpack map, or a ProtocolError saying exactly what is wrong."""
    if len(data) > max_bytes:
        raise ProtocolError(
            ErrorCode.MESSAGE_TOO_LARGE,
            f"message of {len(data)} bytes is over the limit of {max_bytes} bytes; split audio into smaller chunks",
        )
    try:
        obj = msgpack.unpackb(data, raw=False, strict_map_key=False, max_bin_len=max_bytes)
    except MSGPACK_DECODE_ERRORS as exc:
        raise ProtocolError(
            ErrorCode.MALFORMED, f"frame is not valid msgpack ({type(exc).__name__})"
        ) from None
    if not isinstance(obj, dict):
        raise ProtocolError(ErrorCode.MALFORMED, f"a message must be a msgpack map, got {type(obj).__name__}")
    return obj


def _validate(obj: dict[str, Any], types: dict[str, type[Message]], adapter: Any) -> Message:
    ref = obj.get("id")
    if not isinstance(ref, str | int) or isinstance(ref, bool):
        ref = None
    mtype = obj.get("type")
    if mtype is None:
        raise ProtocolError(ErrorCode.MISSING_TYPE, "message has no 'type' field", ref=ref)
    if not isinstance(mtype, str) or mtype not in types:
        raise ProtocolError(
            ErrorCode.UNKNOWN_TYPE, f"unknown message type {mtype!r}; see docs/protocol.md", ref=ref
        )
    try:
        msg: Message = adapter.validate_python(obj)
    except ValidationError as exc:
        errors = exc.errors()
        paths = [_field_path(err["loc"]) for err in errors]
        problems = "; ".join(
            f"{path or '(message)'}: {err['msg']}" for path, err in zip(paths, errors, strict=True)
        )
        raise ProtocolError(
            ErrorCode.INVALID_FIELDS, f"{mtype}: {problems}", ref=ref, field=paths[0] or None
        ) from None
    return msg


def _field_path(loc: tuple[int | str, ...]) -> str:
    """'changes.trust' from pydantic's location (whose first item is the union's tag)."""
    return ".".join(str(p) for p in loc[1:])


def decode_client(data: bytes, max_bytes: int = DEFAULT_MAX_MESSAGE_BYTES) -> Message:
    """Decode a frame sent by a game client."""
    return _validate(unpack_map(data, max_bytes), CLIENT_TYPES, CLIENT_ADAPTER)


def decode_server(data: bytes, max_bytes: int = 64 << 20) -> Message:
    """Decode a frame sent by the runtime (used by the client library and tests)."""
    return _validate(unpack_map(data, max_bytes), SERVER_TYPES, SERVER_ADAPTER)
