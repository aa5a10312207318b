"""Voice messages: player audio in, transcripts, NPC audio out with subtitles and lip-sync,
barge-in and playback reports, per-turn metrics. See docs/voice.md and docs/protocol.md."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .base import Message, MessageId
from .numbers import Count, Millis, SampleRate, WireInt

MAX_AUDIO_CHUNK_BYTES = 64_000  # 2 s of 16 kHz s16; send ~20-100 ms per chunk


# -- client -> runtime ---------------------------------------------------------------------------
class AudioStart(Message):
    """Declare the microphone format for a voice conversation (before the first audio_chunk)."""

    type: Literal["audio_start"] = "audio_start"
    conversation_id: str
    sample_rate: SampleRate = Field(description="Hz; 8000..48000, resampled to 16 kHz by the runtime")
    format: str = Field(default="s16le", description="Only 's16le' (PCM signed 16-bit little-endian)")
    channels: int = Field(default=1, strict=True, ge=0, le=64, description="Only 1 (mono)")


class AudioChunk(Message):
    type: Literal["audio_chunk"] = "audio_chunk"
    conversation_id: str
    seq: Count = Field(description="Increasing per conversation; gaps are reported, not fatal")
    pcm: bytes = Field(description="PCM in the declared format, an even number of bytes")


class SpeechStart(Message):
    """Push-to-talk: the player pressed the talk key."""

    type: Literal["speech_start"] = "speech_start"
    conversation_id: str


class SpeechEnd(Message):
    """Push-to-talk: the player released the talk key (send it after the last audio_chunk)."""

    type: Literal["speech_end"] = "speech_end"
    conversation_id: str


class PlaybackStarted(Message):
    """The engine started playing the NPC audio of ``turn_id`` (used for echo handling)."""

    type: Literal["playback_started"] = "playback_started"
    conversation_id: str
    turn_id: WireInt


class PlaybackReport(Message):
    """How much of a turn's audio the player heard: after stop_playback, or when playback ended."""

    type: Literal["playback_report"] = "playback_report"
    conversation_id: str
    turn_id: WireInt
    played_ms: Millis | None = Field(default=None, description="Audio played, in ms")
    heard_chars: Count | None = Field(default=None, description="Or: subtitle characters shown")
    finished: bool = Field(default=True, strict=True, description="Playback of this turn is over")


# -- runtime -> client ---------------------------------------------------------------------------
class AudioReady(Message):
    type: Literal["audio_ready"] = "audio_ready"
    ref: MessageId | None = None
    conversation_id: str
    sample_rate: int
    mode: Literal["push_to_talk", "hands_free"]
    tts_sample_rate: int


class Transcript(Message):
    type: Literal["transcript"] = "transcript"
    conversation_id: str
    utterance: int
    text: str
    final: bool
    used: bool = Field(default=True, description="False: heard but ignored (backchannel, echo, nothing)")
    reason: str | None = None


class NpcAudio(Message):
    type: Literal["npc_audio"] = "npc_audio"
    conversation_id: str
    turn_id: int
    npc_id: str
    seq: int
    sample_rate: int
    pcm: bytes
    text: str = Field(description="The subtitle words this chunk speaks")
    visemes: list[list[float | str]] = Field(description="[[t_ms from chunk start, viseme or 0..1], ...]")
    viseme_kind: Literal["viseme", "mouth_open"]


class NpcAudioEnd(Message):
    type: Literal["npc_audio_end"] = "npc_audio_end"
    conversation_id: str
    turn_id: int
    npc_id: str
    chunks: int
    duration_ms: float
    interrupted: bool = False


class StopPlayback(Message):
    type: Literal["stop_playback"] = "stop_playback"
    conversation_id: str
    turn_id: int
    reason: Literal["barge_in", "interrupt"] = "barge_in"
    detection_ms: float | None = Field(default=None, description="Barge-in detected -> this message sent")


class TurnMetrics(Message):
    """Milliseconds from the end of the player's speech (hands-free: last voiced audio;
    push-to-talk: speech_end) to each stage; null when a stage did not happen."""

    type: Literal["turn_metrics"] = "turn_metrics"
    conversation_id: str
    turn_id: int | None = None
    utterance: int
    mode: Literal["push_to_talk", "hands_free"]
    end_of_speech: float | None = Field(default=None, description="Detection delay (the VAD wait)")
    transcript_final: float | None = None
    first_dialogue_token: float | None = None
    first_tts_audio: float | None = None
    first_audio_sent: float | None = None
    opener: bool | None = Field(
        default=None, description="A language model's reply began with one of the persona's openers"
    )
    guard_regenerated: int | None = Field(
        default=None, description="Replies the output guard threw away before the first words"
    )
    guard_replaced: bool | None = Field(
        default=None, description="The guard replaced the reply with an authored deflection"
    )


CLIENT_MESSAGES = (AudioStart, AudioChunk, SpeechStart, SpeechEnd, PlaybackStarted, PlaybackReport)
SERVER_MESSAGES = (AudioReady, Transcript, NpcAudio, NpcAudioEnd, StopPlayback, TurnMetrics)
