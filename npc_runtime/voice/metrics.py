"""Per-turn latency, measured from the end of the player's speech on the injected clock."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from .events import Timings


@dataclass
class TurnTimer:
    conversation_id: str
    utterance: int
    mode: Literal["push_to_talk", "hands_free"]
    t_end: float  # clock seconds at the end of the player's speech
    end_of_speech: float | None = None  # clock seconds when it was detected
    transcript_final: float | None = None
    first_dialogue_token: float | None = None
    first_tts_audio: float | None = None
    first_audio_sent: float | None = None
    turn_id: int | None = None
    sent: bool = False
    # The turn's dialogue context extras (a language model's guard report and opener), read when
    # the metrics are sent: regenerations and replacements happen before the first words.
    dialogue: dict[str, Any] = field(default_factory=dict)

    def _ms(self, t: float | None) -> float | None:
        return None if t is None else round((t - self.t_end) * 1000.0, 1)

    def event(self) -> Timings:
        return Timings(
            turn_id=self.turn_id,
            utterance=self.utterance,
            mode=self.mode,
            end_of_speech=self._ms(self.end_of_speech),
            transcript_final=self._ms(self.transcript_final),
            first_dialogue_token=self._ms(self.first_dialogue_token),
            first_tts_audio=self._ms(self.first_tts_audio),
            first_audio_sent=self._ms(self.first_audio_sent),
            **self._dialogue(),
        )

    def _dialogue(self) -> dict[str, Any]:
        guard = self.dialogue.get("guard")
        if guard is None:  # not a language model's reply
            return {}
        return {
            "opener": "opener" in self.dialogue,
            "guard_regenerated": int(getattr(guard, "regenerated", 0)),
            "guard_replaced": bool(getattr(guard, "replaced", False)),
        }
