"""The thin adapter from the voice pipeline's events (:mod:`.events`) to wire messages."""

from __future__ import annotations

from ..protocol.messages import Error, Message, WarningMessage
from ..protocol.messages.voice import NpcAudio, NpcAudioEnd, StopPlayback, Transcript, TurnMetrics
from .events import AudioDone, AudioOut, Heard, PlaybackStop, Problem, Timings, VoiceEvent


def to_message(conversation_id: str, event: VoiceEvent) -> Message:
    cid = conversation_id
    if isinstance(event, AudioOut):
        return NpcAudio(
            conversation_id=cid,
            turn_id=event.turn_id,
            npc_id=event.npc_id,
            seq=event.seq,
            sample_rate=event.sample_rate,
            pcm=event.pcm,
            text=event.text,
            visemes=event.visemes,
            viseme_kind=event.viseme_kind,
        )
    if isinstance(event, Heard):
        return Transcript(
            conversation_id=cid,
            utterance=event.utterance,
            text=event.text,
            final=event.final,
            used=event.used,
            reason=event.reason,
        )
    if isinstance(event, AudioDone):
        return NpcAudioEnd(
            conversation_id=cid,
            turn_id=event.turn_id,
            npc_id=event.npc_id,
            chunks=event.chunks,
            duration_ms=event.duration_ms,
            interrupted=event.interrupted,
        )
    if isinstance(event, PlaybackStop):
        return StopPlayback(
            conversation_id=cid, turn_id=event.turn_id, reason=event.reason, detection_ms=event.detection_ms
        )
    if isinstance(event, Timings):
        return TurnMetrics(
            conversation_id=cid,
            turn_id=event.turn_id,
            utterance=event.utterance,
            mode=event.mode,
            end_of_speech=event.end_of_speech,
            transcript_final=event.transcript_final,
            first_dialogue_token=event.first_dialogue_token,
            first_tts_audio=event.first_tts_audio,
            first_audio_sent=event.first_audio_sent,
        )
    if event.severity == "error":
        return Error(code=event.code, message=event.message, conversation_id=cid)
    return WarningMessage(code=event.code, message=event.message, conversation_id=cid)


__all__ = ["Problem", "to_message"]
