"""The end-of-turn decision in hands-free mode: a small base class for the cues and policies.

The :class:`~npc_runtime.voice.turns.Segmenter` feeds a :class:`TurnPolicy` the utterance's audio
frame by frame and, at each frame of silence, asks :meth:`TurnPolicy.should_end`. The session
adds the interim transcript (:meth:`TurnPolicy.heard`) and the NPC's last line
(:meth:`TurnPolicy.npc_said`). Time is the stream's (seconds of audio consumed), never the wall
clock, so a policy behaves the same on a loaded machine and in a benchmark.

A :class:`Cue` judges one thing about the utterance so far (its words, its pitch, a learned model)
and returns the probability that the turn is over, or None when it has no opinion.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from ..frames import STT_RATE, Int16Array

WINDOW_S = 8.0  # audio kept for the cues (smart-turn looks at the last 8 s)


@dataclass
class Utterance:
    """What the cues may look at: the utterance's recent audio (16 kHz, pre-roll included, the
    silence so far at its end), the latest interim transcript, the final transcript made at the
    current pause (the speculation's; "" until it comes, dropped when the voice resumes) and the
    NPC's last line."""

    frames: deque[Int16Array] = field(default_factory=deque)
    samples: int = 0
    text: str = ""
    final: str = ""
    npc_line: str = ""
    voiced_ms: float = 0.0

    def add(self, frame: Int16Array) -> None:
        self.frames.append(frame)
        self.samples += len(frame)
        limit = int(WINDOW_S * STT_RATE)
        while self.frames and self.samples - len(self.frames[0]) >= limit:
            self.samples -= len(self.frames.popleft())

    def audio(self) -> Int16Array:
        """The kept audio (the last 8 s at most)."""
        if not self.frames:
            return np.zeros(0, dtype=np.int16)
        return np.concatenate(list(self.frames))

    def clear(self) -> None:
        self.frames.clear()
        self.samples = 0
        self.text = ""
        self.final = ""
        self.voiced_ms = 0.0


class Cue:
    """One signal: the probability that the player has finished (None: no opinion)."""

    name = "cue"

    def judge(self, utt: Utterance, silence_ms: float) -> float | None:
        raise NotImplementedError


class TurnPolicy:
    """Decides when a hands-free turn is over. Subclasses implement :meth:`decide`."""

    name = "policy"

    def __init__(self) -> None:
        self.utt = Utterance()
        self.reason = ""  # why the last turn ended (for logs and the benchmark)

    # -- fed by the segmenter ---------------------------------------------------------------------
    def begin(self, pre_roll: Int16Array) -> None:
        self.utt.clear()
        self.reason = ""
        self.on_begin()
        if len(pre_roll):
            self.utt.add(pre_roll)

    def audio(self, frame: Int16Array, voiced: bool, frame_ms: float) -> None:
        self.utt.add(frame)
        if voiced:
            self.utt.voiced_ms += frame_ms
            self.utt.final = ""  # the player went on: the pause's transcript no longer ends the utterance
            self.on_voice()

    def should_end(self, silence_ms: float, t: float) -> bool:
        """Called at each frame of silence inside an utterance; ``t``: stream seconds."""
        reason = self.decide(silence_ms, t)
        if reason:
            self.reason = reason
            return True
        return False

    def end(self) -> None:
        """The utterance ended (or was dropped)."""
        self.on_begin()

    # -- fed by the session -----------------------------------------------------------------------
    def heard(self, text: str) -> None:
        """The recogniser's interim transcript of the utterance so far."""
        self.utt.text = text

    def transcribed(self, text: str) -> None:
        """The final transcript (Whisper's, punctuated) of the utterance up to the current pause,
        made by the speculative end of turn; ignored once the voice has resumed."""
        self.utt.final = text

    def npc_said(self, text: str) -> None:
        """The NPC's last line (a question invites a short answer)."""
        self.utt.npc_line = text

    # -- for subclasses ---------------------------------------------------------------------------
    def decide(self, silence_ms: float, t: float) -> str | None:
        """A short reason when the turn is over now, else None."""
        raise NotImplementedError

    def on_begin(self) -> None:
        """A new utterance (or the old one ended): drop per-utterance state."""
        return None

    def on_voice(self) -> None:
        """Voice again after a pause: what was judged about the pause no longer holds."""
        return None
