"""`npc-runtime voice say` and `voice transcribe` end to end (real Piper, real pocketsphinx)."""

from __future__ import annotations

import json
import wave
from pathlib import Path

import pytest

from npc_runtime.cli import main


def test_say_then_transcribe(tmp_path: Path, personas_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "tomas.wav"
    vis = tmp_path / "v.json"
    assert (
        main(
            [
                "voice",
                "say",
                "tomas",
                "Open the gate.",
                "-o",
                str(out),
                "--personas",
                str(personas_dir),
                "--visemes",
                str(vis),
            ]
        )
        == 0
    )
    with wave.open(str(out)) as w:
        assert w.getframerate() == 22050 and w.getnframes() > 22050 // 2
    keys = json.loads(vis.read_text())
    assert keys[-1][1] == "sil" and len(keys) > 5
    capsys.readouterr()
    assert main(["voice", "transcribe", str(out), "--personas", str(personas_dir)]) == 0
    assert "open the gate" in capsys.readouterr().out.lower()  # Whisper writes "Open the gate."
    assert main(["voice", "say", "nobody", "hi", "-o", str(out), "--personas", str(personas_dir)]) == 2
    assert "unknown NPC 'nobody'" in capsys.readouterr().err
