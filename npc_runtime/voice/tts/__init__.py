"""Text-to-speech providers (see :mod:`.base`)."""

from __future__ import annotations

from typing import Any

from .base import TtsCaps, TtsProvider, VoiceParams
from .design import Delivery, VoiceDesign


def load_tts(name: str, **options: Any) -> TtsProvider:
    """``piper`` (default, offline), ``espeak`` (fallback) or ``openai`` (cloud)."""
    if name == "piper":
        from .piper import PiperTts

        return PiperTts(**options)
    if name == "espeak":
        from .espeak import EspeakTts

        return EspeakTts(**options)
    if name == "openai":
        from .openai import OpenAiTts

        return OpenAiTts(**options)
    raise ValueError(f"unknown TTS provider {name!r}; use 'piper', 'espeak' or 'openai'")


__all__ = ["Delivery", "TtsCaps", "TtsProvider", "VoiceDesign", "VoiceParams", "load_tts"]
