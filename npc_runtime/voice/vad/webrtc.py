"""WebRTC VAD (``webrtcvad-wheels``): tiny and fast, a little jumpier than Silero."""

from __future__ import annotations

from ...errors import MissingDependencyError
from ..frames import STT_RATE, Int16Array
from .base import VadModel, VadStream

try:
    import webrtcvad
except ImportError as exc:  # pragma: no cover - only without the package
    raise MissingDependencyError("webrtcvad-wheels", "voice") from exc


class WebRtcVad(VadModel):
    name = "webrtc"

    def __init__(self, aggressiveness: int = 2) -> None:
        if not 0 <= aggressiveness <= 3:
            raise ValueError("webrtc VAD aggressiveness must be 0..3")
        self.aggressiveness = aggressiveness

    def stream(self) -> VadStream:
        return _WebRtcStream(self.aggressiveness)


class _WebRtcStream(VadStream):
    frame_samples = 480  # 30 ms at 16 kHz

    def __init__(self, aggressiveness: int) -> None:
        super().__init__()
        self._vad = webrtcvad.Vad(aggressiveness)

    def _frame(self, frame: Int16Array) -> float:
        return 1.0 if self._vad.is_speech(frame.astype("<i2").tobytes(), STT_RATE) else 0.0
