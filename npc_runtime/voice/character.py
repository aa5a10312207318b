"""A persona's ``voice:`` block -> :class:`VoiceParams` for the TTS, and its mood by condition.

Presets are starting points designed from the one packaged neural voice (Piper ``joe``, an adult
man): a designer picks one and adjusts single fields, which override the preset's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields

from ..personas.schema import VoiceSettings
from .tts.base import VoiceParams
from .tts.design import Delivery, VoiceDesign

# Field values per preset (anything left out is 0 / the engine's own). espeak: the variant the
# fallback engine uses for the same character.
PRESETS: dict[str, dict[str, float | str]] = {
    "male": {"espeak": "en-us+m3"},
    "young_male": {"pitch": 1.5, "formant": 0.7, "brightness": 0.2, "speed": 1.05, "espeak": "en-us+m1"},
    "old_male": {
        "pitch": -1.5,
        "formant": -0.5,
        "tremble": 0.25,
        "breathiness": 0.2,
        "brightness": -0.2,
        "speed": 0.9,
        "espeak": "en-gb+m7",
    },
    "big_male": {
        "pitch": -3.5,
        "formant": -2.0,
        "warmth": 0.4,
        "gruffness": 0.3,
        "speed": 0.92,
        "espeak": "en-gb+m2",
    },
    "female": {"pitch": 9.0, "formant": 3.0, "brightness": 0.15, "breathiness": 0.1, "espeak": "en-us+f3"},
    "young_female": {"pitch": 10.0, "formant": 3.5, "brightness": 0.3, "speed": 1.05, "espeak": "en-us+f4"},
    "old_female": {
        "pitch": 7.0,
        "formant": 2.5,
        "tremble": 0.35,
        "breathiness": 0.25,
        "brightness": -0.15,
        "speed": 0.88,
        "espeak": "en-gb+f2",
    },
    "child": {"pitch": 12.0, "formant": 5.0, "brightness": 0.2, "speed": 1.05, "espeak": "en-us+f5"},
}

_DESIGN_FIELDS = tuple(f.name for f in fields(VoiceDesign) if f.name != "gain_db")


def voice_params(settings: VoiceSettings | None, delivery: Delivery | None = None) -> VoiceParams:
    """The TTS parameters a persona's voice block describes (preset first, then its own fields)."""
    if settings is None:
        return VoiceParams(delivery=delivery)
    base = PRESETS.get(settings.preset or "", {})
    given = settings.model_fields_set

    def value(name: str) -> float:
        own = getattr(settings, name)
        if own is not None and (name != "speed" or "speed" in given):
            return float(own)
        return float(base.get(name, 1.0 if name == "speed" else 0.0))

    design = VoiceDesign(**{name: value(name) for name in _DESIGN_FIELDS})
    espeak = settings.espeak or (str(base["espeak"]) if "espeak" in base else None)
    return VoiceParams(
        voice=settings.voice,
        speaker=settings.speaker,
        speed=value("speed"),
        pitch=settings.pitch,
        design=design,
        delivery=delivery,
        espeak=espeak,
        expressiveness=value("expressiveness"),
    )


def select_delivery(settings: VoiceSettings | None, holds: Callable[[str], bool]) -> Delivery | None:
    """The first ``moods`` rule whose ``when`` holds (``holds`` evaluates a condition on the NPC's
    view, e.g. ``DialogueContext.allows``); None when no rule applies."""
    if settings is None:
        return None
    for rule in settings.moods:
        if rule.when is None or holds(rule.when):
            return Delivery(rule.mood, rule.intensity)
    return None
