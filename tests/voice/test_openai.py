"""The cloud providers against a local HTTP server that speaks the OpenAI audio API (no OpenAI
server is reachable here; this checks what we send and how we read the answers)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import numpy as np
import pytest

from npc_runtime.errors import ProviderError
from npc_runtime.voice.stt.openai import OpenAiStt
from npc_runtime.voice.tts.base import VoiceParams
from npc_runtime.voice.tts.openai import OpenAiTts

from .conftest import player_line

TONE = (np.sin(2 * np.pi * 200 * np.arange(12_000) / 24_000) * 8000).astype("<i2").tobytes()


class _Api(BaseHTTPRequestHandler):
    seen: ClassVar[list[tuple[str, bytes, str]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.seen.append((self.path, body, self.headers.get("Content-Type", "")))
        if self.path == "/v1/audio/speech":
            request = json.loads(body)
            if request["input"] == "fail":
                self.send_response(500)
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "audio/pcm")
            self.end_headers()
            self.wfile.write(TONE)
        elif self.path == "/v1/audio/transcriptions":
            payload = json.dumps({"text": "open the gate"}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        else:
            self.send_response(404)
            self.end_headers()

    def log_message(self, *args: Any) -> None:
        return None


@pytest.fixture
def api() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Api)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Api.seen = []
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def test_openai_speech(api: str) -> None:
    tts = OpenAiTts(base_url=api, api_key="k", timeout=5)
    chunks = tts.synthesize("Mind the wolves.", VoiceParams(voice="onyx", speed=1.1))
    assert chunks[0].audio.sample_rate == 24_000 and len(chunks[0].audio.samples) == 12_000
    assert chunks[0].phonemes == []  # no phonemes: the speaker uses the envelope for lip-sync
    request = json.loads(_Api.seen[0][1])
    assert request["voice"] == "onyx" and request["response_format"] == "pcm" and request["speed"] == 1.1
    with pytest.raises(ProviderError):
        OpenAiTts(base_url=api, api_key="k", timeout=5).synthesize("fail", VoiceParams())


def test_openai_transcription(api: str) -> None:
    stt = OpenAiStt(base_url=api, api_key="k", timeout=5)
    stt.set_vocabulary(["Thornwood", "Bram"])
    stream = stt.stream()
    line = player_line("Open the gate.")
    assert stream.feed(line[:8000]) is None and stream.feed(line[8000:]) is None  # no interim results
    assert stream.finish() == "open the gate"
    path, body, ctype = _Api.seen[0]
    assert path == "/v1/audio/transcriptions" and ctype.startswith("multipart/form-data")
    assert b"RIFF" in body and b"WAVE" in body  # the utterance went up as a WAV file
    assert b"Bram, Thornwood" in body  # the scene vocabulary as the prompt
