"""Silero VAD (v5/v6 ONNX model shipped inside the ``silero-vad`` wheel) on onnxruntime.

``import silero_vad`` wants torch, so the model file is located without importing the package.
Silero needs 16 kHz input in frames of 512 samples plus 64 samples of context.
"""

from __future__ import annotations

import importlib.util
import threading
from pathlib import Path

import numpy as np

from ...errors import MissingDependencyError
from ..frames import STT_RATE, Int16Array
from .base import VadModel, VadStream

_CONTEXT = 64
# The wheel ships the ONNX model we run with onnxruntime; its own dependencies would pull torch.
_SILERO_INSTALL = "pip install --no-deps silero-vad"


def silero_model_path() -> Path:
    spec = importlib.util.find_spec("silero_vad")
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError("silero-vad", "voice", command=_SILERO_INSTALL)
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "silero_vad.onnx"
    if not path.is_file():
        raise MissingDependencyError("silero-vad", "voice", command=_SILERO_INSTALL)
    return path


class SileroVad(VadModel):
    name = "silero"

    def __init__(self, model_path: Path | None = None) -> None:
        try:
            import onnxruntime
        except ImportError as exc:
            raise MissingDependencyError("onnxruntime", "voice") from exc
        opts = onnxruntime.SessionOptions()
        opts.inter_op_num_threads = 1
        opts.intra_op_num_threads = 1
        self._session = onnxruntime.InferenceSession(
            str(model_path or silero_model_path()), sess_options=opts, providers=["CPUExecutionProvider"]
        )
        self._lock = threading.Lock()

    def stream(self) -> VadStream:
        return _SileroStream(self)

    def run(self, x: np.ndarray, state: np.ndarray) -> tuple[float, np.ndarray]:
        out, new_state = self._session.run(
            None, {"input": x, "state": state, "sr": np.array(STT_RATE, dtype=np.int64)}
        )
        return float(out[0][0]), new_state


class _SileroStream(VadStream):
    frame_samples = 512

    def __init__(self, model: SileroVad) -> None:
        super().__init__()
        self._model = model
        self.reset()

    def reset(self) -> None:
        super().reset()
        self._state = np.zeros((2, 1, 128), dtype=np.float32)
        self._context = np.zeros((1, _CONTEXT), dtype=np.float32)

    def _frame(self, frame: Int16Array) -> float:
        x = (frame.astype(np.float32) / 32768.0).reshape(1, -1)
        inp = np.concatenate([self._context, x], axis=1)
        prob, self._state = self._model.run(inp, self._state)
        self._context = x[:, -_CONTEXT:]
        return prob
