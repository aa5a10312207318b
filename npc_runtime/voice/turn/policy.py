"""Policies that weigh the cues: smart-turn alone, the cheap cues alone, or both (``auto``).

All share one shape. Never before ``min_ms`` of silence (the VAD's own hang-over), always by
``max_ms`` (nobody waits longer than that for a player who stopped). In between:

- a *hanging* last word ("and", "the", "um", a comma) holds the turn open;
- smart-turn is asked at ``probe_ms`` of silence (each entry once; a call not made because
  every model thread was busy is asked again as soon as one is free, with ``retry_busy``, up to
  ``cap_ms`` after the probe was due, and when no cue would end the pause before ``base_ms``
  until ``retry_until_ms`` of silence; with the audio the probe would have judged, so the answer
  is the one it would have given, later; the policy waits for its
  answer at most ``cap_ms`` of wall time after the request): at or above ``threshold`` (``question_threshold``
  when the NPC has just asked a question) the turn ends at once, if the cheap cues agree (with
  cues: the voice faded out, or the NPC asked a question) or the model is ``sure`` on its own,
  and at ``unconfirmed_ms`` of silence when no cue confirms it ("I need a bed for the night.":
  the final "t" keeps the voice from fading); below ``hold_below`` it is held open until a later
  probe or ``max_ms`` (a held pause is asked again at ``recheck_ms``, with ``recheck_complete``
  only when its transcript is a complete question, below: an answer at or above ``hold_below`` releases it,
  and the turn ends at ``complete_ms``, ``unconfirmed_ms`` or ``base_ms`` as for a first answer,
  never at once); otherwise it ends at ``base_ms``;
- a *complete* final transcript (``complete_ms`` > 0, with cues: the speculation's Whisper text of
  the utterance up to this pause ends in one of ``complete_marks``, by default only "?", after a
  word that does not hang; with ``complete_questions`` also any ".", "?" or "!" there when the text
  opens with a question word or an auxiliary, "any gossip.", which Whisper writes for a short
  question) lowers
  the threshold to ``question_threshold`` and ends the turn at ``complete_ms`` of silence
  instead of ``base_ms`` (a short finished line, "Any gossip?", that smart-turn doubts), unless
  smart-turn holds it (below ``hold_below``: Whisper also ends a phrase cut at a comma with ".");
- without smart-turn (``cues``, or the model failed or was late): a faded voice or an answer to
  a question ends the turn at ``cue_ms``, anything else at ``base_ms``.

The reason a turn ended (:attr:`TurnPolicy.reason`, logged at DEBUG by ``npc_runtime.voice.turn``)
names the cue; at ``base_ms``/``max_ms`` it says what held the turn ("silence 1000 ms (held by
smart-turn p=0.08)", "(smart-turn p=0.30)", "(no smart-turn answer in time)", "(the last word
hangs)").
"""

from __future__ import annotations

from dataclasses import dataclass

from ..frames import Int16Array
from .base import TurnPolicy
from .prosody import ProsodyCue
from .question import QuestionCue
from .smart_turn import Probe, SmartTurnRunner
from .syntax import SyntaxCue


@dataclass(frozen=True)
class TurnParams:
    min_ms: float = 160
    cue_ms: float = 300
    base_ms: float = 1000
    unconfirmed_ms: float = 600
    max_ms: float = 1000
    probe_ms: tuple[float, ...] = (80,)
    cap_ms: float = 300
    threshold: float = 0.5
    sure: float = 0.9
    question_threshold: float = 0.35
    hold_below: float = 0.2
    fade_db: float = -12.0
    retry_busy: bool = True
    retry_until_ms: float = 700
    recheck_ms: float = 500
    recheck_complete: bool = True
    complete_ms: float = 600
    complete_marks: str = "?"
    complete_questions: bool = True
    final_words: bool = True


class CuePolicy(TurnPolicy):
    """Smart-turn and/or the cheap cues (syntax, prosody, the NPC's question)."""

    def __init__(
        self,
        params: TurnParams | None = None,
        *,
        runner: SmartTurnRunner | None = None,
        cues: bool = True,
    ) -> None:
        super().__init__()
        self.p = params or TurnParams()
        self.runner = runner
        self.cues = cues
        self.name = "auto" if runner is not None and cues else "smart_turn" if runner is not None else "cues"
        self.syntax = SyntaxCue(final_words=self.p.final_words)
        self.prosody = ProsodyCue(self.p.fade_db)
        self.question = QuestionCue()
        self._probes: list[Probe] = []
        self._prosody: float | None = None
        self._judged_prosody = False
        self._held = ""  # why the pause was not ended at the last frame (for the reason at max_ms)
        self._shed_audio: Int16Array | None = None  # what the last shed call would have judged
        self._recheck: Probe | None = None  # a held pause asked again at recheck_ms

    def on_begin(self) -> None:
        self._probes = []
        self._recheck = None
        self._shed_audio = None
        self._judged_prosody = False
        self._prosody = None
        self._held = ""

    def on_voice(self) -> None:
        self._probes = []
        self._recheck = None
        self._shed_audio = None
        self._judged_prosody = False
        self._prosody = None

    def _smart(self, silence_ms: float, t: float, ask: bool = True) -> tuple[float | None, bool]:
        """(the newest arrived probability, whether an answer may still come in time); ``ask``
        False: no new call (the turn is held open whatever the model says)."""
        if self.runner is None:
            return None, False
        due = sum(1 for p in self.p.probe_ms if silence_ms >= p) if ask else 0
        while len(self._probes) < due:
            audio = self.utt.audio()
            self._probes.append(self.runner.submit(audio, t))
            self._shed_audio = audio if self._probes[-1].skipped else None
        # shed while every thread was busy (other conversations pausing at once): ask now that one
        # is free, while the answer can still come before the cues' times
        if due:
            self._retry(silence_ms, t, self.p.probe_ms[due - 1] + self.p.cap_ms)
        value, waiting = None, False
        for probe in self._probes:
            got = probe.result(t)
            if got is not None:
                value = got
            elif probe.may_come(t, self.p.cap_ms):
                waiting = True
        return value, waiting

    def _retry(self, silence_ms: float, t: float, until: float) -> bool:
        """Make the last probe's shed call now if a thread is free and ``silence_ms`` < ``until``,
        with the audio of the probe's time (the same input, so the same answer as on an idle
        machine, only later). True when the call was made."""
        if (
            self.runner is None
            or not self.p.retry_busy
            or not self._probes
            or not self._probes[-1].skipped
            or self._shed_audio is None
            or silence_ms >= until
            or not self.runner.has_free_thread()
        ):
            return False
        again = self.runner.submit(self._shed_audio, t)
        if again.skipped:
            return False
        self._probes[-1] = again
        self._shed_audio = None
        return True

    def _rechecked(self, silence_ms: float, t: float, question: bool) -> float | None:
        """A pause smart-turn held is asked again at ``recheck_ms`` of silence (a short line such as
        "Any gossip?" reads unfinished at 80 ms and finished at 400): its answer once arrived. A call shed while the threads were busy is made once one is
        free, while its answer can still matter (before ``base_ms``)."""
        if self.runner is None or self.p.recheck_ms <= 0 or silence_ms < self.p.recheck_ms:
            return None
        if self.p.recheck_complete and not question:
            return None  # only a pause whose transcript is a finished question ("Any gossip?")
        if (self._recheck is None or (self._recheck.skipped and self.runner.has_free_thread())) and (
            silence_ms < self.p.base_ms
        ):
            self._recheck = self.runner.submit(self.utt.audio(), t)
        return None if self._recheck is None or self._recheck.skipped else self._recheck.result(t)

    def decide(self, silence_ms: float, t: float) -> str | None:
        if silence_ms >= self.p.max_ms:
            return f"silence {self.p.max_ms:g} ms" + (f" ({self._held})" if self._held else "")
        hanging = False
        if self.cues:
            s = self.syntax.judge(self.utt, silence_ms)
            hanging = s is not None and s <= 0.1
        # a hanging last word holds the turn whatever smart-turn says: no call for it (CPU), and
        # the call is made once the transcript stops hanging
        smart, waiting = self._smart(silence_ms, t, ask=not hanging)
        if silence_ms < self.p.min_ms:
            return None
        faded = asked = False
        if self.cues:
            if not self._judged_prosody:  # once per pause: the voice before it does not change
                self._prosody = self.prosody.judge(self.utt, silence_ms)
                self._judged_prosody = True
            faded = self._prosody is not None and self._prosody >= 0.7
            asked = self.question.judge(self.utt, silence_ms) is not None
        if hanging:
            self._held = "the last word hangs"
            return None
        complete = (
            self.cues
            and self.p.complete_ms > 0
            and self.syntax.complete(self.utt.final)
            and (
                self.utt.final.rstrip()[-1:] in self.p.complete_marks
                or (self.p.complete_questions and self.syntax.asks(self.utt.final))
            )
        )
        at_complete = complete and silence_ms >= self.p.complete_ms
        agree = not self.cues or faded or asked or complete
        # no cue will end this pause before base_ms: a call shed while every thread was busy is
        # still worth making later (retry_until_ms), its answer can end the turn sooner
        if (
            smart is None
            and not (faded or asked or complete)
            and self._retry(silence_ms, t, self.p.retry_until_ms)
        ):
            waiting = True
        self._held = "no smart-turn answer in time" if self.runner is not None and smart is None else ""
        if smart is not None:
            self._held = f"smart-turn p={smart:.2f}"
            threshold = self.p.question_threshold if asked or complete else self.p.threshold
            if smart >= threshold and (agree or smart >= self.p.sure):
                return f"smart-turn p={smart:.2f}" + (" and a faded voice" if faded else "")
            if smart < self.p.hold_below:  # Whisper ends a phrase cut at a comma with "." too
                question = bool(complete) and self.syntax.finished_question(self.utt.final)
                again = self._rechecked(silence_ms, t, question)
                if again is None or again < self.p.hold_below:
                    self._held = f"held by smart-turn p={smart:.2f}" + (
                        f", then p={again:.2f}" if again is not None else ""
                    )
                    return None
                # released by the later call: the turn ends at the usual silences, never at once
                smart = again
                self._held = f"smart-turn p={smart:.2f} at {self.p.recheck_ms:g} ms"
            if at_complete:
                return f"complete sentence, silence {self.p.complete_ms:g} ms"
            # smart-turn thinks the turn is over but no cheap cue confirms it: unconfirmed_ms
            wait = min(self.p.unconfirmed_ms, self.p.base_ms) if smart >= threshold else self.p.base_ms
            return f"silence {wait:g} ms ({self._held})" if silence_ms >= wait else None
        if waiting:
            return None
        if at_complete:
            return f"complete sentence, silence {self.p.complete_ms:g} ms"
        if self.cues and (faded or asked) and silence_ms >= self.p.cue_ms:
            return "faded voice" if faded else "answer to a question"
        note = f" ({self._held})" if self._held else ""
        return f"silence {self.p.base_ms:g} ms{note}" if silence_ms >= self.p.base_ms else None
