"""Whether the NPC just asked a question: the answer ("yes", "the mill", "three") is often short
and complete, so the policy may accept a lower end-of-turn probability."""

from __future__ import annotations

from .base import Cue, Utterance


class QuestionCue(Cue):
    name = "question"

    def judge(self, utt: Utterance, silence_ms: float) -> float | None:
        line = utt.npc_line.rstrip().rstrip("\"')]")
        return 0.65 if line.endswith("?") else None
