"""Playing the NPC's voice (``npc_audio`` chunks) on a pygame mixer channel, and telling the
runtime what the player heard (``playback_started`` / ``playback_report``), which it uses for
echo handling, barge-in and to remember only the words that were actually heard."""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass

import numpy as np
import pygame

from npc_runtime.protocol.messages import Message
from npc_runtime.protocol.messages.voice import NpcAudio, PlaybackReport, PlaybackStarted

log = logging.getLogger(__name__)


# How far the mouth opens for each Oculus viseme (docs/voice.md); "mouth_open" chunks carry 0..1.
VISEME_OPEN = {"sil": 0.0, "PP": 0.05, "FF": 0.2, "TH": 0.3, "DD": 0.4, "kk": 0.4, "CH": 0.4, "SS": 0.3}
VISEME_OPEN |= {"nn": 0.3, "RR": 0.4, "aa": 1.0, "E": 0.7, "ih": 0.5, "oh": 0.8, "ou": 0.6}


@dataclass
class _Chunk:
    turn_id: int
    sound: pygame.mixer.Sound
    ms: float
    npc_id: str = ""
    visemes: list[list[float | str]] | None = None


@dataclass
class _Turn:
    conversation_id: str
    turn_id: int
    played_ms: float = 0.0
    started: bool = False
    ended: bool = False  # npc_audio_end received


class Speaker:
    """Plays chunks in order; one turn at a time. Created only when a mixer could be opened."""

    def __init__(self) -> None:
        init = pygame.mixer.get_init()
        assert init is not None, "open the mixer first (Speaker.open)"
        self.rate, _, self.channels = init
        self.channel = pygame.mixer.Channel(0)
        self.queue: deque[_Chunk] = deque()
        self.turns: dict[int, _Turn] = {}
        self.current: _Chunk | None = None
        self.current_since = 0.0
        self.now = 0.0

    @classmethod
    def open(cls) -> Speaker | None:
        try:
            if pygame.mixer.get_init() is None:
                pygame.mixer.init(frequency=22_050, size=-16, channels=1)
            return cls()
        except pygame.error as exc:
            log.info("no audio output (%s): NPC voices are shown as subtitles only", exc)
            return None

    def add(self, msg: NpcAudio) -> None:
        turn = self.turns.setdefault(msg.turn_id, _Turn(msg.conversation_id, msg.turn_id))
        if turn.ended:
            return
        samples = np.frombuffer(msg.pcm, dtype="<i2")
        if msg.sample_rate != self.rate and len(samples):
            n = max(1, round(len(samples) * self.rate / msg.sample_rate))
            samples = np.interp(np.linspace(0, len(samples) - 1, n), np.arange(len(samples)), samples)
        pcm = np.asarray(samples, dtype="<i2")
        if self.channels > 1:
            pcm = np.repeat(pcm, self.channels)
        ms = 1000.0 * len(samples) / self.rate
        sound = pygame.mixer.Sound(buffer=pcm.tobytes())
        self.queue.append(_Chunk(msg.turn_id, sound, ms, msg.npc_id, msg.visemes))

    def end_turn(self, turn_id: int) -> None:
        if turn_id in self.turns:
            self.turns[turn_id].ended = True

    def stop(self, turn_id: int | None = None) -> list[Message]:
        """Cut playback (of one turn, or all); reports what was heard of each cut turn."""
        out: list[Message] = []
        for tid, turn in list(self.turns.items()):
            if turn_id is not None and tid != turn_id:
                continue
            if self.current is not None and self.current.turn_id == tid:
                self.channel.stop()
                self.current = None
            self.queue = deque(c for c in self.queue if c.turn_id != tid)
            if turn.started:
                out.append(self._report(turn))
            del self.turns[tid]
        return out

    def update(self, now: float) -> list[Message]:
        """Feed the channel; returns the playback messages to send."""
        out: list[Message] = []
        self.now = now
        if self.current is not None and not self.channel.get_busy():
            turn = self.turns.get(self.current.turn_id)
            if turn is not None:
                turn.played_ms += self.current.ms
            self.current = None
        if self.current is None and self.queue:
            self.current, self.current_since = self.queue.popleft(), now
            self.channel.play(self.current.sound)
            turn = self.turns[self.current.turn_id]
            if not turn.started:
                turn.started = True
                out.append(PlaybackStarted(conversation_id=turn.conversation_id, turn_id=turn.turn_id))
        for tid, turn in list(self.turns.items()):
            idle = self.current is None or self.current.turn_id != tid
            if turn.ended and idle and not any(c.turn_id == tid for c in self.queue):
                if turn.started:
                    out.append(self._report(turn))
                del self.turns[tid]
        return out

    def mouth(self) -> tuple[str, float] | None:
        """(npc id, mouth opening 0..1) of the chunk playing now, from its lip-sync track."""
        chunk = self.current
        if chunk is None:
            return None
        t_ms = (self.now - self.current_since) * 1000.0
        value: float | str = 0.0
        for key in chunk.visemes or []:
            if float(key[0]) > t_ms:
                break
            value = key[1]
        opening = VISEME_OPEN.get(value, 0.5) if isinstance(value, str) else float(value)
        return chunk.npc_id, opening

    @property
    def playing(self) -> bool:
        return self.current is not None

    def _report(self, turn: _Turn) -> PlaybackReport:
        played = turn.played_ms
        if self.current is not None and self.current.turn_id == turn.turn_id:
            played += min(self.current.ms, (self.now - self.current_since) * 1000.0)
        return PlaybackReport(
            conversation_id=turn.conversation_id,
            turn_id=turn.turn_id,
            played_ms=round(played, 1),
            finished=True,
        )
