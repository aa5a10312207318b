"""Speech-to-speech: a realtime model that hears the player and answers in audio, beside the
cascade (STT -> dialogue -> TTS). See docs/voice.md, section 12."""

from __future__ import annotations

from .base import S2S_RATE, S2sRequest, S2sSession
from .config import S2sConfig, S2sProfile


def open_session(profile: S2sProfile) -> S2sSession:
    """A (not yet connected) session for one conversation."""
    if profile.provider == "openai-realtime":
        from .openai_realtime import OpenAiRealtime, api_key_for

        return OpenAiRealtime(profile, api_key_for(profile))
    raise ValueError(f"unknown speech-to-speech provider {profile.provider!r}; use 'openai-realtime'")


__all__ = ["S2S_RATE", "S2sConfig", "S2sProfile", "S2sRequest", "S2sSession", "open_session"]
