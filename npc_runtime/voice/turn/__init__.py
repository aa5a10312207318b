"""End of turn in hands-free mode: which policy decides, built from the settings.

Modules: :mod:`.base` (the policy and cue base classes), :mod:`.silence` (fixed silence),
:mod:`.syntax`, :mod:`.prosody`, :mod:`.question` (cheap cues), :mod:`.smart_turn` (the learned
model), :mod:`.policy` (how they are weighed).
"""

from __future__ import annotations

from .base import Cue, TurnPolicy, Utterance
from .config import TurnConfig
from .policy import CuePolicy, TurnParams
from .silence import SilencePolicy
from .smart_turn import SmartTurnRunner, shared_model

__all__ = [
    "Cue",
    "CuePolicy",
    "SilencePolicy",
    "TurnConfig",
    "TurnParams",
    "TurnPolicy",
    "Utterance",
    "build_policy",
    "params_of",
]


def params_of(cfg: TurnConfig, max_ms: float | None = None) -> TurnParams:
    return TurnParams(
        min_ms=cfg.min_ms,
        cue_ms=cfg.cue_ms,
        base_ms=cfg.base_ms,
        unconfirmed_ms=cfg.unconfirmed_ms,
        max_ms=max_ms if max_ms is not None else cfg.max_ms,
        probe_ms=tuple(cfg.probe_ms),
        cap_ms=cfg.cap_ms,
        threshold=cfg.threshold,
        sure=cfg.sure,
        question_threshold=cfg.question_threshold,
        hold_below=cfg.hold_below,
        fade_db=cfg.fade_db,
        retry_busy=cfg.retry_busy,
        retry_until_ms=cfg.retry_until_ms,
        recheck_ms=cfg.recheck_ms,
        recheck_complete=cfg.recheck_complete,
        complete_ms=cfg.complete_ms,
        complete_marks=cfg.complete_marks,
        complete_questions=cfg.complete_questions,
        final_words=cfg.final_words,
    )


def build_policy(cfg: TurnConfig, end_silence_ms: float, *, max_ms: float | None = None) -> TurnPolicy:
    """The policy the settings ask for. ``max_ms`` (a persona's ``voice.turn_max_ms``) overrides
    the longest pause held. Without the smart-turn model file, ``auto`` and ``smart_turn`` fall
    back to the silence policy (:func:`.smart_turn.shared_model` logs why, once)."""
    if cfg.policy == "silence":
        return SilencePolicy(end_silence_ms)
    params = params_of(cfg, max_ms)
    if cfg.policy == "cues":
        return CuePolicy(params, cues=True)
    model = shared_model(cfg.threads, cfg.model_path)
    if model is None:
        return SilencePolicy(end_silence_ms)
    return CuePolicy(params, runner=SmartTurnRunner(model, workers=cfg.workers), cues=cfg.policy == "auto")
