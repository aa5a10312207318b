"""Runtime glue for the voice concern (replaced by the voice work)."""

from __future__ import annotations

from .extension import Extension


class VoiceExtension(Extension):
    name = "voice"
