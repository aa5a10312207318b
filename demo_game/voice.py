"""Push-to-talk (hold V): microphone audio in, the NPC's voice out (docs/voice.md).

Only used when a microphone exists (or ``--mic-wav`` stands in for one); conversations are then
started in ``push_to_talk`` mode. Without one, the game stays in text mode and says why in the log.

    conversation_started ─► audio_start {sample_rate} ─► audio_ready
    audio_chunk × n, all the time (the runtime keeps a pre-roll)
    V down ─► speech_start ... V up ─► speech_end
    ◄─ transcript {final, used} ◄─ npc_text_delta / npc_audio × n ◄─ npc_audio_end
    playback_started / playback_report (what the player heard) ─►
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Protocol

from npc_runtime.protocol.messages import Message
from npc_runtime.protocol.messages.voice import (
    AudioChunk,
    AudioReady,
    AudioStart,
    NpcAudio,
    NpcAudioEnd,
    SpeechEnd,
    SpeechStart,
    StopPlayback,
    Transcript,
    TurnMetrics,
)

from .audio_out import Speaker
from .mic import Microphone, WavMicrophone, open_device_microphone
from .net import Inbound
from .talk import Phase, Talk

log = logging.getLogger(__name__)


class Sender(Protocol):
    def send(self, msg: Message) -> None: ...
    def request(self, msg: Message, *, what: str, timeout: float = ...) -> None: ...


def describe_metrics(m: TurnMetrics) -> str:
    """``heard 180 ms · reply 420 ms · voice 650 ms``: from the end of the player's speech."""
    parts = [("heard", m.transcript_final), ("reply", m.first_dialogue_token), ("voice", m.first_audio_sent)]
    return " · ".join(f"{name} {value:.0f} ms" for name, value in parts if value is not None)


class PushToTalk:
    mode = "push_to_talk"

    def __init__(self, link: Sender, talk: Talk, mic: Microphone, speaker: Speaker | None) -> None:
        self.link = link
        self.talk = talk
        self.mic = mic
        self.speaker = speaker
        self.conversation_id: str | None = None
        self.ready = False  # audio_ready received for this conversation
        self.holding = False
        self._seq = 0
        self._seq_lock = threading.Lock()
        self.metrics = ""  # the last turn's latencies, for the HUD

    @classmethod
    def open(cls, link: Sender, talk: Talk, wav: Path | None = None, mute: bool = False) -> PushToTalk | None:
        """Push-to-talk with the default microphone (or ``wav``); None when there is no microphone."""
        mic: Microphone | None = WavMicrophone(wav) if wav is not None else open_device_microphone()
        if mic is None:
            talk.notify("No microphone found: type to talk.", "system")
            return None
        speaker = None if mute else Speaker.open()
        if speaker is None and not mute:
            talk.notify("No audio output: NPC voices are subtitles only.", "system")
        talk.notify(f"Voice: hold V to speak ({mic.name}).", "system")
        return cls(link, talk, mic, speaker)

    # -- conversation lifecycle ----------------------------------------------------------------------
    def sync(self) -> None:
        """Called every frame: follow the conversation the Talk state is in."""
        cid = self.talk.conversation_id
        if cid == self.conversation_id:
            return
        self.release()
        self.mic.end()
        if self.speaker is not None and cid is not None:
            self.speaker.stop()  # a new conversation: the old voice is cut
        self.conversation_id, self.ready, self._seq = cid, False, 0
        if cid is not None:
            msg = AudioStart(conversation_id=cid, sample_rate=self.mic.rate)
            self.link.request(msg, what="open the microphone")

    def press(self) -> bool:
        """V went down: start an utterance. False when the conversation is not ready for audio."""
        if self.holding or not self.ready or self.conversation_id is None:
            return False
        if self.speaker is not None:  # the player talks over the NPC: stop its voice at once
            self._send_all(self.speaker.stop())
        self.holding = True
        self.link.send(SpeechStart(conversation_id=self.conversation_id))
        self.mic.key_down()
        return True

    def release(self) -> None:
        if not self.holding:
            return
        self.holding = False
        if self.conversation_id is not None:
            self.link.send(SpeechEnd(conversation_id=self.conversation_id))

    def _chunk(self, pcm: bytes) -> None:  # on the microphone's thread, or the frame loop
        cid = self.conversation_id
        if cid is None:
            return
        with self._seq_lock:
            seq, self._seq = self._seq, self._seq + 1
        self.link.send(AudioChunk(conversation_id=cid, seq=seq, pcm=pcm))

    # -- per frame ----------------------------------------------------------------------------------------
    def update(self, dt: float, now: float) -> None:
        self.sync()
        self.mic.pump(dt)
        if self.speaker is not None:
            reports = self.speaker.update(now)  # a farewell plays on after the conversation closed,
            if self.talk.phase is Phase.OPEN:  # but a closed conversation takes no reports
                self._send_all(reports)

    def handle(self, msg: Inbound) -> bool:
        self.sync()  # the conversation may have started earlier in this same frame
        cid = getattr(msg, "conversation_id", None)
        if cid is None or cid != self.conversation_id:
            return isinstance(
                msg, AudioReady | Transcript | NpcAudio | NpcAudioEnd | StopPlayback | TurnMetrics
            )
        if isinstance(msg, AudioReady):
            self.ready = True
            self.mic.begin(self._chunk)  # stream from now on: the runtime keeps a pre-roll
        elif isinstance(msg, Transcript):
            self._transcript(msg)
        elif isinstance(msg, NpcAudio):
            if self.speaker is not None:
                self.speaker.add(msg)
        elif isinstance(msg, NpcAudioEnd):
            if self.speaker is not None:
                self.speaker.end_turn(msg.turn_id)
        elif isinstance(msg, TurnMetrics):
            self.metrics = describe_metrics(msg)
        elif isinstance(msg, StopPlayback):
            if self.speaker is not None:
                self._send_all(self.speaker.stop(msg.turn_id))
        else:
            return False
        return True

    def _transcript(self, msg: Transcript) -> None:
        if not msg.final:
            return
        if msg.used and msg.text:
            self.talk.add("player", "You (spoken)", msg.text)
            self.talk.awaiting_reply = True
        elif msg.reason:
            self.talk.notify(f"(not answered: {msg.reason.replace('_', ' ')})", "system")

    def _send_all(self, msgs: list[Message]) -> None:
        for m in msgs:
            self.link.send(m)

    def close(self) -> None:
        self.release()
        self.mic.close()
        if self.speaker is not None:
            self.speaker.stop()
