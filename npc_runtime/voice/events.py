"""What the voice pipeline says, as plain events; :mod:`.wire` turns them into protocol messages.

The pipeline (``session.py``, ``speaker.py``) knows no wire format: a renamed wire field changes
the adapter only. The conversation id is added by the adapter too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..protocol.errors import ErrorCode


@dataclass(frozen=True)
class Heard:
    """A transcript of the player's utterance: interim while they talk, final at the end."""

    utterance: int
    text: str
    final: bool
    used: bool = True  # final only: False when the utterance does not start a turn
    reason: str | None = None  # why it was not used (no_speech, backchannel, npc_speaking...)


@dataclass(frozen=True)
class AudioOut:
    """One chunk of the NPC's voice, with the subtitle words it speaks and lip-sync values."""

    turn_id: int
    npc_id: str
    seq: int
    sample_rate: int
    pcm: bytes
    text: str
    visemes: list[list[float | str]]
    viseme_kind: Literal["viseme", "mouth_open"]


@dataclass(frozen=True)
class AudioDone:
    """The NPC's voice for a turn is complete (or was cut: ``interrupted``)."""

    turn_id: int
    npc_id: str
    chunks: int
    duration_ms: float
    interrupted: bool


@dataclass(frozen=True)
class PlaybackStop:
    """The client must stop playing a turn's audio now (a barge-in or an interrupt)."""

    turn_id: int
    reason: str
    detection_ms: float | None  # from detecting the barge-in to this event


@dataclass(frozen=True)
class Timings:
    """A turn's latency figures, in ms after the end of the player's speech."""

    turn_id: int | None
    utterance: int
    mode: Literal["push_to_talk", "hands_free"]
    end_of_speech: float | None
    transcript_final: float | None
    first_dialogue_token: float | None
    first_tts_audio: float | None
    first_audio_sent: float | None
    opener: bool | None = None  # a language model's reply: it began with an opener line
    guard_regenerated: int | None = None  # the output guard, before the first words
    guard_replaced: bool | None = None


@dataclass(frozen=True)
class Problem:
    """Something went wrong with the player's audio (``error``) or with a provider (``warning``)."""

    code: ErrorCode
    message: str
    severity: Literal["warning", "error"]


VoiceEvent = Heard | AudioOut | AudioDone | PlaybackStop | Timings | Problem
