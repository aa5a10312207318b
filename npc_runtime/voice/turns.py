"""Turn taking without I/O: speech segments from VAD frames, and what a segment means.

:class:`Segmenter` turns 16 kHz audio into speech-start / audio / speech-end events with a
pre-roll (pocketsphinx loses the first word without ~0.3 s of audio before onset). In hands-free
mode the end of a turn is ``end_silence_ms`` of non-speech; in push-to-talk mode the client's
speech_start/speech_end decide and the VAD only measures how much voice there was.

While the NPC's audio is playing the segmenter uses the stricter ``echo_threshold`` (what leaks
from the speakers is quieter and less speech-like than the player close to the microphone), and
:func:`classify` decides whether an utterance is a real barge-in, a backchannel or the NPC's own
words coming back.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass

import numpy as np

from .frames import STT_RATE, Int16Array, rms_dbfs
from .turn.base import TurnPolicy
from .vad.base import VadStream


@dataclass(slots=True)
class SpeechStarted:
    t: float  # stream seconds of the first voiced frame
    pre_roll: Int16Array  # audio before (and including) onset, to feed the STT first


@dataclass(slots=True)
class SpeechAudio:
    samples: Int16Array


@dataclass(slots=True)
class SpeechPaused:
    """Hands-free: a short pause (``speculate_ms``) that may be the end of the turn."""

    t_last_voice: float


@dataclass(slots=True)
class SpeechResumed:
    """Voice again after a :class:`SpeechPaused`: the turn goes on."""


@dataclass(slots=True)
class SpeechEnded:
    t_last_voice: float  # stream seconds at the end of the last voiced frame
    t_detected: float  # stream seconds when the silence was long enough
    voiced_ms: float


SegEvent = SpeechStarted | SpeechAudio | SpeechPaused | SpeechResumed | SpeechEnded


class Segmenter:
    def __init__(
        self,
        vad: VadStream,
        *,
        hands_free: bool,
        threshold: float = 0.5,
        echo_threshold: float = 0.8,
        min_speech_ms: float = 90,
        end_silence_ms: float = 300,
        pre_roll_ms: float = 400,
        quiet_db: float | None = 50.0,
        speculate_ms: float | None = None,
        turn: TurnPolicy | None = None,
    ) -> None:
        self.vad = vad
        self.quiet_db = quiet_db
        self.hands_free = hands_free
        self.threshold = threshold
        self.echo_threshold = echo_threshold
        self.min_speech_ms = min_speech_ms
        self.end_silence_ms = end_silence_ms
        self.speculate_ms = speculate_ms or None
        self.turn = turn  # hands-free: decides when the silence ends the turn (else end_silence_ms)
        self._paused = False  # a SpeechPaused was emitted in the current silence
        self._npc_playing = False  # the NPC is audible: pauses end at the plain silence
        frame_s = vad.frame_seconds
        self._frame_s = frame_s
        self._ring: deque[Int16Array] = deque(maxlen=max(1, int(pre_roll_ms / 1000 / frame_s) + 1))
        self._pending = np.zeros(0, dtype=np.int16)
        self.t = 0.0  # stream seconds consumed by the VAD
        self.in_speech = False
        self.forced = False  # push-to-talk key held
        self.voiced_ms = 0.0
        self._onset_frames = 0
        self._silence_ms = 0.0
        self._t_last_voice = 0.0
        self._peak_db = -120.0

    def process(self, samples: Int16Array, npc_playing: bool) -> list[SegEvent]:
        buf = np.concatenate([self._pending, samples]) if len(self._pending) else samples
        n = self.vad.frame_samples
        count = len(buf) // n
        self._pending = buf[count * n :].copy()
        events: list[SegEvent] = []
        threshold = self.echo_threshold if npc_playing else self.threshold
        # While the NPC is audible, a pause is not held open by the turn policy: the player's
        # "uh-huh"s must stay separate short utterances (backchannels), not merge into one long
        # utterance that reads as an interruption.
        self._npc_playing = npc_playing
        for i in range(count):
            frame = buf[i * n : (i + 1) * n]
            probs = self.vad.process(frame)
            voiced = bool(probs) and probs[0] >= threshold
            if self.in_speech and self.quiet_db is not None:
                # Silero's probability stays high ~100 ms after the voice has stopped; a frame far
                # quieter than this utterance's loudest is silence whatever the model says.
                level = rms_dbfs(frame)
                if voiced:
                    self._peak_db = max(self._peak_db, level)
                if level < self._peak_db - self.quiet_db:
                    voiced = False
            self._step(frame, voiced, events)
        return events

    def _step(self, frame: Int16Array, voiced: bool, events: list[SegEvent]) -> None:
        frame_ms = self._frame_s * 1000
        t0, self.t = self.t, self.t + self._frame_s
        if not self.in_speech:
            self._ring.append(frame)
            if not self.hands_free and not self.forced:
                return
            self._onset_frames = self._onset_frames + 1 if voiced else 0
            if self.forced or self._onset_frames * frame_ms >= self.min_speech_ms:
                self.in_speech = True
                self.voiced_ms = self._onset_frames * frame_ms
                self._silence_ms = 0.0
                self._t_last_voice = self.t
                onset = self.t - self._onset_frames * self._frame_s
                pre = np.concatenate(list(self._ring))
                self._ring.clear()
                if self.turn is not None:
                    self.turn.begin(pre)
                events.append(SpeechStarted(onset, pre))
            return
        events.append(SpeechAudio(frame))
        if self.turn is not None:
            self.turn.audio(frame, voiced, frame_ms)
        if voiced:
            if self._paused:
                self._paused = False
                events.append(SpeechResumed())
            self.voiced_ms += frame_ms
            self._silence_ms = 0.0
            self._t_last_voice = self.t
        else:
            self._silence_ms += frame_ms
            if not self.hands_free or self.forced:
                return
            if (
                self.turn.should_end(self._silence_ms, self.t)
                if self.turn is not None and not self._npc_playing
                else self._silence_ms >= self.end_silence_ms
            ):
                events.append(self._end(t0 + self._frame_s))
            elif self.speculate_ms is not None and not self._paused and self._silence_ms >= self.speculate_ms:
                self._paused = True
                events.append(SpeechPaused(self._t_last_voice))

    def _end(self, t_detected: float) -> SpeechEnded:
        ev = SpeechEnded(self._t_last_voice, t_detected, self.voiced_ms)
        if self.turn is not None:
            self.turn.end()
        self._peak_db = -120.0
        self._paused = False
        self.in_speech = False
        self._onset_frames = 0
        self._silence_ms = 0.0
        self.voiced_ms = 0.0
        return ev

    def end_in_pause(self) -> SpeechEnded | None:
        """Hands-free: the audio stopped while the turn was held open in a pause: end it now."""
        if not self.in_speech or self.forced or self._silence_ms <= 0:
            return None
        return self._end(self.t)

    # push-to-talk -------------------------------------------------------------------------------
    def key_down(self) -> list[SegEvent]:
        """speech_start: the utterance begins now, with the pre-roll already buffered."""
        self.forced = True
        if self.in_speech:
            return []
        self.in_speech = True
        self.voiced_ms = 0.0
        self._t_last_voice = self.t
        pre = np.concatenate(list(self._ring)) if self._ring else np.zeros(0, dtype=np.int16)
        self._ring.clear()
        return [SpeechStarted(self.t, pre)]

    def key_up(self) -> list[SegEvent]:
        """speech_end: flush what is buffered and end the utterance now."""
        self.forced = False
        if not self.in_speech:
            return []
        events: list[SegEvent] = []
        if len(self._pending):
            events.append(SpeechAudio(self._pending))
            self.t += len(self._pending) / STT_RATE
            self._pending = np.zeros(0, dtype=np.int16)
        ev = self._end(self.t)
        ev.t_last_voice = self.t  # the key release is the end of speech
        events.append(ev)
        return events

    def abort(self) -> None:
        """Drop the utterance in progress (time-out, conversation end)."""
        self.forced = False
        self.in_speech = False
        if self.turn is not None:
            self.turn.end()
        self._paused = False
        self._peak_db = -120.0
        self._onset_frames = 0
        self._silence_ms = 0.0
        self.voiced_ms = 0.0
        self._pending = np.zeros(0, dtype=np.int16)


_TOKEN = re.compile(r"[a-z']+")


def _norm(text: str) -> list[str]:
    return _TOKEN.findall(text.lower().replace("-", " "))


def classify(
    text: str,
    backchannels: list[str],
    npc_text: str = "",
    *,
    short: bool = False,
    interrupt_words: list[str] | None = None,
    min_words: int = 1,
) -> str:
    """What an utterance is: ``speech`` (answer it / let it interrupt), ``backchannel``,
    ``echo`` (mostly the NPC's own current words) or ``empty``.

    ``short`` marks an utterance with little voice (under ``backchannel_max_ms``): the recogniser
    mangles "mm-hmm" into any short word, so one or two words of it count as a backchannel unless
    one of them is an ``interrupt_words`` command ("stop", "wait"). Likewise any utterance of
    fewer than ``min_words`` words."""
    words = _norm(text)
    if not words:
        return "empty"
    phrases = {" ".join(_norm(b)) for b in backchannels}
    singles = {w for p in phrases for w in p.split()}
    if " ".join(words) in phrases or all(w in singles for w in words):
        return "backchannel"
    commands = set(interrupt_words or ())
    if ((short and len(words) <= 2) or len(words) < min_words) and not any(w in commands for w in words):
        return "backchannel"
    if npc_text:
        npc_words = set(_norm(npc_text))
        if len(words) >= 2 and sum(w in npc_words for w in words) / len(words) >= 0.75:
            return "echo"
    return "speech"
