"""Text to speech: a provider loaded once per process, synthesizing one sentence at a time.

``synthesize`` blocks (it runs a model); callers run it in a thread (voice's pool,
:mod:`..threads`) so one conversation never stalls the others. Each provider says what it supports in :class:`TtsCaps`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from ..frames import SynthChunk
from .design import Delivery, VoiceDesign, delivered, warm_up_design


@dataclass(frozen=True)
class VoiceParams:
    """Per-persona voice settings (``Persona.voice``); ``None`` means the provider's default.

    ``design`` shapes the engine's voice (see :mod:`.design`); ``delivery`` is the character's
    current mood, folded in by :meth:`effective`. ``espeak`` names the espeak-ng voice+variant
    used when this character is spoken by espeak (``tts: espeak`` or the fallback).
    ``expressiveness`` (-1..1) widens or narrows the prosody variation where the engine has it
    (Piper's noise scale).
    """

    voice: str | None = None
    speaker: int | None = None
    speed: float = 1.0
    pitch: float | None = None  # semitones, where supported
    design: VoiceDesign = field(default_factory=VoiceDesign)
    delivery: Delivery | None = None
    espeak: str | None = None
    expressiveness: float = 0.0

    def effective(self) -> tuple[VoiceDesign, float, float]:
        """(design, speed, expressiveness) with the delivery's mood applied."""
        design = self.design
        if self.pitch is not None and design.pitch == 0.0:
            design = replace(design, pitch=self.pitch)  # the older ``pitch:`` field alone
        return delivered(design, self.speed, self.expressiveness, self.delivery)

    def with_delivery(self, delivery: Delivery | None) -> VoiceParams:
        return replace(self, delivery=delivery)

    def for_fallback(self) -> VoiceParams:
        """The same character for another engine: the engine-specific voice and speaker go."""
        return replace(self, voice=None, speaker=None)


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

    def cache_identity(self, params: VoiceParams) -> str:
        """What, besides ``params`` and the text, decides the audio (the engine, its model file):
        part of the phrase cache's key (:mod:`.cache`)."""
        return self.name

    def warm_up(self, params: VoiceParams) -> None:
        """Run once so the first real sentence is not slowed by lazy initialisation."""
        self.synthesize("Hello.", params)
        warm_up_design()
