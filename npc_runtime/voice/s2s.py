"""The seam for a speech-to-speech model (one model that hears and speaks, as the OpenAI Realtime
API does) to take the place of STT + dialogue + TTS. Interfaces only: no provider ships yet.

What stays: the wire protocol (audio_start/audio_chunk in; transcript, npc_audio with subtitles
and visemes, stop_playback, turn_metrics out), playback reports, the echo gate and the
persona/world/memory context. What is swapped: :class:`~.session.VoiceConversation`'s pipeline.
A speech-to-speech conversation feeds player audio to :meth:`SpeechToSpeechSession.push_audio`,
and turns the session's events into the same wire messages: ``SpokenText`` deltas become
npc_audio ``text``, ``AudioOut`` becomes npc_audio (visemes from the envelope, as for OpenAI TTS),
and on barge-in :meth:`SpeechToSpeechSession.truncate` tells the model how much was heard, so its
own history keeps only those words, as ours does. The finished turn is reported to the
extensions through the same :class:`~npc_runtime.runtime.extension.TurnRecord` (heard_text
included), so memory and world see no difference.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from ..dialogue.context import DialogueContext
from .frames import Int16Array


@dataclass(frozen=True)
class HeardText:
    """The player's words as the model understood them (interim or final)."""

    text: str
    final: bool


@dataclass(frozen=True)
class SpokenText:
    """Text of the NPC's reply as the model speaks it (subtitles, and the turn's npc_text)."""

    text: str


@dataclass(frozen=True)
class AudioOut:
    samples: Int16Array
    sample_rate: int


@dataclass(frozen=True)
class TurnEnded:
    interrupted: bool


S2SEvent = HeardText | SpokenText | AudioOut | TurnEnded


class SpeechToSpeechSession:
    async def push_audio(self, samples: Int16Array) -> None:
        """Player audio at 16 kHz, continuously (the model does its own turn detection)."""
        raise NotImplementedError

    def events(self) -> AsyncIterator[S2SEvent]:
        raise NotImplementedError

    async def truncate(self, heard_ms: float) -> None:
        """Barge-in: cut the reply in flight at what the player heard."""
        raise NotImplementedError

    async def update_context(self, ctx: DialogueContext) -> None:
        """New persona/world/memory context (built exactly as for text turns) before a turn."""
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError


class SpeechToSpeech:
    """A provider: loaded once per process, one session per conversation."""

    name = "s2s"

    async def session(self, ctx: DialogueContext) -> SpeechToSpeechSession:
        raise NotImplementedError
