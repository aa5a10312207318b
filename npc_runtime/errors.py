"""The one documented exception tree of npc_runtime.

Every error a user can cause (a game developer, a designer, an operator) has a type here and a
message that says what to do. Wire-level errors carry an :class:`~npc_runtime.protocol.errors.ErrorCode`.
"""

from __future__ import annotations

import msgpack

# What ``msgpack.unpackb`` raises on garbage (found by mutating valid frames and random bytes):
# ValueError and its kin (ExtraData, FormatError, StackError, UnicodeDecodeError, "incomplete
# input"), TypeError (an unhashable map key) and msgpack's own UnpackException family.
MSGPACK_DECODE_ERRORS: tuple[type[Exception], ...] = (ValueError, TypeError, msgpack.UnpackException)


class NpcRuntimeError(Exception):
    """Base class of every error raised on purpose by npc_runtime."""


class ConfigError(NpcRuntimeError):
    """Settings, flags or a config file are invalid."""


class ContentError(NpcRuntimeError):
    """A designer-facing file (persona, world) is invalid. Carries every problem found."""

    def __init__(self, problems: list[object]) -> None:
        self.problems = problems
        lines = [str(p) for p in problems]
        super().__init__("\n".join(lines) if lines else "invalid content")


class StorageError(NpcRuntimeError):
    """A database file is corrupt, foreign, or from an unsupported version."""


class FencedError(StorageError):
    """A write for a conversation that has moved to another worker (its epoch was bumped; cluster
    mode). The write did not happen; the conversation's new owner answers in its place."""

    def __init__(self, key: str, held: int, current: int | None) -> None:
        self.key, self.held, self.current = key, held, current
        now = "no owner" if current is None else f"epoch {current}"
        super().__init__(
            f"conversation '{key}' moved: this worker holds epoch {held}, the database has {now}"
        )


class SaveFormatError(NpcRuntimeError):
    """A save blob cannot be loaded (unknown format, too old, or from another world)."""


class ProviderError(NpcRuntimeError):
    """A provider (dialogue, STT, TTS, VAD, embeddings) failed or timed out."""

    def __init__(self, provider: str, message: str, *, timeout: bool = False) -> None:
        self.provider = provider
        self.timeout = timeout
        super().__init__(f"{provider}: {message}")


class MissingDependencyError(ImportError, NpcRuntimeError):
    """An optional dependency is not installed. The message names the install command."""

    def __init__(self, package: str, extra: str, *, command: str | None = None) -> None:
        command = command or f"pip install 'npc-runtime[{extra}]'"
        super().__init__(f"{package} is not installed; install it with: {command}")
