"""Speech-to-text providers (see :mod:`.base`), registered by name."""

from __future__ import annotations

from typing import Any

from .base import SttCaps, SttProvider, SttStream

PROVIDERS = ("cascade", "whisper", "pocketsphinx", "openai")


def load_stt(name: str, **options: Any) -> SttProvider:
    """``cascade`` (default: pocketsphinx interim + Whisper final, offline), ``whisper``,
    ``pocketsphinx`` (offline) or ``openai`` (cloud)."""
    if name == "pocketsphinx":
        from .pocketsphinx import PocketsphinxStt

        return PocketsphinxStt(**options)
    if name == "whisper":
        from .whisper import WhisperStt

        return WhisperStt(**options)
    if name == "cascade":
        from .cascade import MAX_INTERIM, CascadeStt, interim_options

        interim = options.pop("interim", "pocketsphinx")
        final = options.pop("final", "whisper")
        interim_opts = interim_options(interim or "", options.pop("interim_options", None))
        final_opts = options.pop("final_options", {})
        max_interim = int(options.pop("max_interim", MAX_INTERIM))
        if options:
            raise ValueError(f"unknown cascade STT options: {', '.join(sorted(options))}")
        return CascadeStt(
            load_stt(final, **final_opts),
            load_stt(interim, **interim_opts) if interim else None,
            max_interim,
        )
    if name == "openai":
        from .openai import OpenAiStt

        return OpenAiStt(**options)
    raise ValueError(f"unknown STT provider {name!r}; use one of {', '.join(PROVIDERS)}")


__all__ = ["PROVIDERS", "SttCaps", "SttProvider", "SttStream", "load_stt"]
