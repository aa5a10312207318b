"""espeak-ng (Debian package ``espeak-ng``) as the always-available fallback voice.

Robotic but instant (~10 ms), and it reports its IPA phonemes for lip-sync. Supports ``voice``
(an espeak voice such as ``en-us`` or ``en-gb+m3``), ``speed`` and ``pitch``.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import tempfile
import wave
from pathlib import Path

import numpy as np

from ...errors import MissingDependencyError, ProviderError
from ..frames import AudioFrame, SynthChunk
from ..lipsync import time_phonemes
from .base import TtsCaps, TtsProvider, VoiceParams

_RATE = 22_050
_BASE_WPM = 175


class EspeakTts(TtsProvider):
    name = "espeak"
    caps = TtsCaps(phonemes=True, pitch=True, speakers=False, offline=True)

    def __init__(self, binary: str = "espeak-ng", default_voice: str = "en-us") -> None:
        found = shutil.which(binary)
        if found is None:
            raise MissingDependencyError("espeak-ng (apt-get install espeak-ng)", "voice")
        self._bin = found
        self._default_voice = default_voice

    def sample_rate(self, params: VoiceParams) -> int:
        return _RATE

    def synthesize(self, text: str, params: VoiceParams) -> list[SynthChunk]:
        args = [self._bin, "--ipa", "-v", params.voice or self._default_voice]
        args += ["-s", str(int(_BASE_WPM * params.speed))]
        if params.pitch is not None:  # espeak pitch 0..99, 50 = normal; ~4 units per semitone
            args += ["-p", str(int(min(99, max(0, 50 + 4 * params.pitch))))]
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "out.wav"
            proc = subprocess.run(
                [*args, "-w", str(out), "--", text], capture_output=True, timeout=20, check=False
            )
            if proc.returncode != 0 or not out.is_file():
                raise ProviderError(
                    "espeak", proc.stderr.decode(errors="replace").strip() or "synthesis failed"
                )
            data = out.read_bytes()
        with wave.open(io.BytesIO(data)) as w:
            rate = w.getframerate()
            samples = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.int16)
        frame = AudioFrame(samples, rate)
        phonemes = [c for c in proc.stdout.decode(errors="replace").strip()]
        return [SynthChunk(frame, text, time_phonemes(phonemes, frame))]
