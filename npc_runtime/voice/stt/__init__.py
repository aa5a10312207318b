"""Speech-to-text providers (see :mod:`.base`)."""

from __future__ import annotations

from typing import Any

from .base import SttCaps, SttProvider, SttStream


def load_stt(name: str, **options: Any) -> SttProvider:
    """``pocketsphinx`` (default, offline) or ``openai`` (cloud)."""
    if name == "pocketsphinx":
        from .pocketsphinx import PocketsphinxStt

        return PocketsphinxStt(**options)
    if name == "openai":
        from .openai import OpenAiStt

        return OpenAiStt(**options)
    raise ValueError(f"unknown STT provider {name!r}; use 'pocketsphinx' or 'openai'")


__all__ = ["SttCaps", "SttProvider", "SttStream", "load_stt"]
