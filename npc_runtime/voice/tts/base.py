"""Text to speech: a provider loaded once per process, synthesizing one sentence at a time.

``synthesize`` blocks (it runs a model); callers run it with ``asyncio.to_thread`` so one
conversation never stalls the others. Each provider says what it supports in :class:`TtsCaps`.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..frames import SynthChunk


@dataclass(frozen=True)
class VoiceParams:
    """Per-persona voice settings (``Persona.voice``); ``None`` means the provider's default."""

    voice: str | None = None
    speaker: int | None = None
    speed: float = 1.0
    pitch: float | None = None  # semitones, where supported


@dataclass(frozen=True)
class TtsCaps:
    phonemes: bool  # chunks carry phonemes (visemes from them) rather than only audio
    pitch: bool
    speakers: bool
    offline: bool


class TtsProvider:
    name = "tts"
    caps = TtsCaps(phonemes=False, pitch=False, speakers=False, offline=True)

    def sample_rate(self, params: VoiceParams) -> int:
        raise NotImplementedError

    def synthesize(self, text: str, params: VoiceParams) -> list[SynthChunk]:
        """Speech for ``text`` (one sentence, usually), as one or more chunks in order."""
        raise NotImplementedError

    def warm_up(self, params: VoiceParams) -> None:
        """Run once so the first real sentence is not slowed by lazy initialisation."""
        self.synthesize("Hello.", params)
