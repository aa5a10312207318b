"""The OpenAI client shared by the cloud STT and TTS modules (any OpenAI-compatible server)."""

from __future__ import annotations

from typing import Any

from ..errors import MissingDependencyError


def openai_client(base_url: str | None, api_key: str | None, timeout: float) -> Any:
    """A synchronous ``openai.OpenAI`` client; local servers accept any key."""
    try:
        import openai
    except ImportError as exc:
        raise MissingDependencyError("openai", "openai") from exc
    return openai.OpenAI(base_url=base_url, api_key=api_key or "unused", timeout=timeout)
