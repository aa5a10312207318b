"""``voice.turn``: how a hands-free turn ends (docs/voice.md, "End of turn")."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class TurnConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    policy: Literal["auto", "smart_turn", "cues", "silence"] = Field(
        default="auto",
        description="auto: smart-turn plus the cheap cues (last word, pitch fall, the NPC's question); "
        "smart_turn or cues alone; silence: voice.end_silence_ms of silence, as before",
    )
    min_ms: float = Field(default=160, ge=0, description="Never end a turn before this much silence")
    cue_ms: float = Field(
        default=300, ge=0, description="Without smart-turn: a pitch fall or an answer to a question ends here"
    )
    base_ms: float = Field(default=1000, ge=0, description="Silence that ends a turn no cue decides")
    unconfirmed_ms: float = Field(
        default=600,
        ge=0,
        description="auto: silence that ends a turn smart-turn judges finished (threshold or above, under "
        "sure) when no cheap cue confirms it (the voice did not fade, no question asked, no complete "
        "transcript) and the last word does not hang; at most base_ms",
    )
    max_ms: float = Field(
        default=1000, ge=60, description="Silence that always ends the turn (the longest thinking pause held)"
    )
    probe_ms: list[float] = Field(
        default_factory=lambda: [80.0],
        description="Silence at which smart-turn is asked (each once per pause)",
    )
    cap_ms: float = Field(default=300, gt=0, description="A smart-turn answer later than this is ignored")
    retry_busy: bool = Field(
        default=True,
        description="A smart-turn call not made because every model thread was busy (many conversations "
        "pausing at once) is made as soon as one is free, up to retry_until_ms of silence; false: "
        "that pause goes by the cues alone",
    )
    retry_until_ms: float = Field(
        default=700,
        ge=0,
        description="retry_busy: when no cue (faded voice, the NPC's question, a complete transcript) "
        "would end the pause before base_ms, a shed call is still made once a thread is free until "
        "this much silence (else until cap_ms after the probe was due); every retry judges the audio "
        "of the probe's time; 0: off",
    )
    recheck_ms: float = Field(
        default=500,
        ge=0,
        description="auto/smart_turn: a pause smart-turn held (under hold_below) is asked again at this much "
        "silence (with recheck_complete, only where the pause's transcript is a complete question); an "
        "answer at or above hold_below releases it (the turn then ends at complete_ms, unconfirmed_ms or "
        "base_ms, never at once); 0: off",
    )
    recheck_complete: bool = Field(
        default=True,
        description="recheck_ms asks again only where the pause's final transcript is a complete "
        'question ("?", or a question word first: a short question smart-turn doubts; auto/cues); '
        "false: every held pause",
    )
    complete_ms: float = Field(
        default=600,
        ge=0,
        description="auto/cues: when the final transcript made at the pause (hands-free speculation, "
        "Whisper's punctuation) ends a sentence after a word that does not hang, the turn ends after "
        "this much silence (instead of base_ms) and smart-turn needs only question_threshold; 0: off",
    )
    complete_marks: str = Field(
        default="?",
        description="The final punctuation marks that make the pause's transcript complete for complete_ms "
        '(".?!": any sentence; Whisper also ends a phrase cut at a comma with ".")',
    )
    complete_questions: bool = Field(
        default=True,
        description="auto/cues: a pause's transcript that opens with a question word or an auxiliary "
        '("Any gossip.", "Do you sell rope.": Whisper often ends a short question with ".") is complete '
        "whatever its final mark; false: only complete_marks count",
    )
    final_words: bool = Field(
        default=True,
        description="auto/cues: once the pause's final transcript has come, its last word (not the "
        "streaming recogniser's, which lags the voice) says whether the turn hangs; a hesitation "
        '("um") in the streaming text still holds it',
    )
    threshold: float = Field(default=0.5, ge=0, le=1, description="smart-turn probability that ends the turn")
    sure: float = Field(
        default=0.9,
        ge=0,
        le=1,
        description="auto: at or above this smart-turn probability the turn ends without the cheap cues' "
        "agreement (a voice that did not fade)",
    )
    question_threshold: float = Field(
        default=0.35, ge=0, le=1, description="The same right after the NPC asked a question"
    )
    hold_below: float = Field(
        default=0.2, ge=0, le=1, description="Below this probability the turn is held open until max_ms"
    )
    fade_db: float = Field(
        default=-12.0,
        le=0,
        description="The voice has faded out when its last 200 ms are this far below its loudest (dB)",
    )
    model_path: str | None = Field(
        default=None, description="Another smart-turn v3 ONNX file; default: the one in the pipecat-ai wheel"
    )
    workers: int = Field(default=2, ge=1, le=8, description="Threads running smart-turn (shared)")
    threads: int = Field(default=1, ge=1, le=8, description="onnxruntime threads per smart-turn call")
