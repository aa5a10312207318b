"""espeak-ng (Debian package ``espeak-ng``) as the always-available fallback voice.

Robotic but instant (~10 ms), and it reports its IPA phonemes for lip-sync. Supports ``voice``
(an espeak voice such as ``en-us`` or ``en-gb+m3``), ``speed`` and ``pitch``, and the voice design
(:mod:`.design`). A persona's ``espeak`` voice+variant (``en-us+f3``) stands for its pitch and
formant on this engine (the variant already is a woman's, a child's, an old man's voice); without
one the design's pitch goes to espeak's ``-p`` and its formant is resampled as for Piper. Timbre
and mood apply either way.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import tempfile
import wave
from dataclasses import replace
from pathlib import Path

import numpy as np

from ...errors import MissingDependencyError, ProviderError
from ..frames import AudioFrame, SynthChunk
from ..lipsync import time_phonemes
from .base import TtsCaps, TtsProvider, VoiceParams
from .design import style_chunks

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

    def cache_identity(self, params: VoiceParams) -> str:
        return f"espeak:{self._bin}:{self._default_voice}"

    def synthesize(self, text: str, params: VoiceParams) -> list[SynthChunk]:
        variant = params.voice or params.espeak
        if variant:  # the variant is the voice's pitch and size; keep the mood's pitch only
            params = replace(params, pitch=None, design=replace(params.design, pitch=0.0, formant=0.0))
        design, speed, _ = params.effective()
        args = [self._bin, "--ipa", "-v", variant or self._default_voice]
        args += ["-s", str(max(80, int(_BASE_WPM * speed / design.stretch)))]
        rest = design.pitch - design.formant
        if rest:  # espeak pitch 0..99, 50 = normal; ~4 units per semitone
            args += ["-p", str(int(min(99, max(0, 50 + 4 * rest))))]
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
        return style_chunks(
            [SynthChunk(frame, text, time_phonemes(phonemes, frame))], design, text, engine_pitch=True
        )
