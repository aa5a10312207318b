"""Error codes carried by the wire ``error`` and ``warning`` messages (see docs/protocol.md)."""

from __future__ import annotations

from enum import StrEnum

from ..errors import NpcRuntimeError


class ErrorCode(StrEnum):
    # framing and decoding
    MALFORMED = "malformed"  # bytes that are not msgpack, or msgpack that is not a map
    MESSAGE_TOO_LARGE = "message_too_large"
    MISSING_TYPE = "missing_type"
    UNKNOWN_TYPE = "unknown_type"
    INVALID_FIELDS = "invalid_fields"  # a field has the wrong type or a required one is missing
    # session
    UNSUPPORTED_PROTOCOL = "unsupported_protocol"
    NOT_INTRODUCED = "not_introduced"  # a message before ``hello``
    # conversations and content
    UNKNOWN_NPC = "unknown_npc"
    UNKNOWN_CONVERSATION = "unknown_conversation"
    CONVERSATION_BUSY = "conversation_busy"
    PERSONA_INVALID = "persona_invalid"
    # dialogue
    PROVIDER_FAILED = "provider_failed"  # a warning: the NPC answered with a fallback line
    PROVIDER_TIMEOUT = "provider_timeout"  # a warning: the NPC answered with a fallback line
    ACTION_REJECTED = "action_rejected"  # a warning: the model proposed an action the rules refuse
    # world, memory, voice
    WORLD_EVENT_INVALID = "world_event_invalid"
    WORLD_UNAVAILABLE = "world_unavailable"  # a world message, but no world file is loaded
    SAVE_INVALID = "save_invalid"
    SAVE_ALTERED = "save_altered"  # a warning: the save's checksum does not match; it was loaded anyway
    MEMORY_INVALID = "memory_invalid"
    AUDIO_INVALID = "audio_invalid"
    AUDIO_TIMEOUT = "audio_timeout"
    # security
    INSECURE_TRANSPORT = "insecure_transport"  # a warning after welcome: a non-loopback bind without CURVE
    # cluster mode (docs/scaling.md)
    NOT_AUTHORITY = "not_authority"  # load/world_reset/game_time from a client without the authority role
    CONVERSATION_MOVED = "conversation_moved"  # a warning: the conversation now runs on another worker
    # anything else
    INTERNAL = "internal"


class ProtocolError(NpcRuntimeError):
    """An error that is answered on the wire with an ``error`` message."""

    def __init__(
        self, code: ErrorCode, message: str, *, ref: str | int | None = None, field: str | None = None
    ) -> None:
        self.code = code
        self.message = message
        self.ref = ref
        self.field = field  # the offending field's path ("changes.trust"), when one field is to blame
        super().__init__(f"{code}: {message}")
