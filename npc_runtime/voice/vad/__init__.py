"""Voice activity detection models (see :mod:`.base`)."""

from __future__ import annotations

from .base import VadModel, VadStream


def load_vad(name: str) -> VadModel:
    """``silero`` (default) or ``webrtc``; raises ValueError for anything else."""
    if name == "silero":
        from .silero import SileroVad

        return SileroVad()
    if name == "webrtc":
        from .webrtc import WebRtcVad

        return WebRtcVad()
    raise ValueError(f"unknown VAD {name!r}; use 'silero' or 'webrtc'")


__all__ = ["VadModel", "VadStream", "load_vad"]
