"""Wire protocol v1: message models, msgpack codec and error codes (docs/protocol.md)."""

from .codec import (
    DEFAULT_MAX_MESSAGE_BYTES,
    PROTOCOL_VERSION,
    SUPPORTED_PROTOCOLS,
    decode_client,
    decode_server,
    encode,
    encode_map,
    unpack_map,
)
from .errors import ErrorCode, ProtocolError
from .messages import CLIENT_TYPES, SERVER_TYPES, Message

__all__ = [
    "CLIENT_TYPES",
    "DEFAULT_MAX_MESSAGE_BYTES",
    "PROTOCOL_VERSION",
    "SERVER_TYPES",
    "SUPPORTED_PROTOCOLS",
    "ErrorCode",
    "Message",
    "ProtocolError",
    "decode_client",
    "decode_server",
    "encode",
    "encode_map",
    "unpack_map",
]
