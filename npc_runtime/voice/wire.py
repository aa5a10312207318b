"""The thin adapter from the voice pipeline's events (:mod:`.events`) to wire messages.

Each event's fields are named as its message's fields; the adapter adds the conversation id
(a wire rename changes this table, not the pipeline).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict

from ..protocol.messages import Error, Message, WarningMessage
from ..protocol.messages.voice import NpcAudio, NpcAudioEnd, StopPlayback, Transcript, TurnMetrics
from .events import AudioDone, AudioOut, Heard, PlaybackStop, Problem, Timings, VoiceEvent

_MESSAGES: dict[type, Callable[..., Message]] = {
    AudioOut: NpcAudio,
    Heard: Transcript,
    AudioDone: NpcAudioEnd,
    PlaybackStop: StopPlayback,
    Timings: TurnMetrics,
}


def to_message(conversation_id: str, event: VoiceEvent) -> Message:
    if isinstance(event, Problem):
        cls: Callable[..., Message] = Error if event.severity == "error" else WarningMessage
        return cls(code=event.code, message=event.message, conversation_id=conversation_id)
    return _MESSAGES[type(event)](conversation_id=conversation_id, **asdict(event))
