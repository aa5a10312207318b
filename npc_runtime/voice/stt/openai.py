"""OpenAI transcription (``audio.transcriptions``) as the cloud option.

Not streaming: the utterance is buffered and uploaded as WAV when the turn ends. Works with any
OpenAI-compatible server through ``base_url``. The scene vocabulary goes in as the prompt.
"""

from __future__ import annotations

import io
import wave
from collections.abc import Iterable
from typing import Any

import numpy as np

from ...errors import ProviderError
from ..cloud import openai_client
from ..frames import STT_RATE, Int16Array
from .base import SttCaps, SttProvider, SttStream


class OpenAiStt(SttProvider):
    name = "openai"
    caps = SttCaps(streaming=False, interim=False, offline=False)

    def __init__(
        self,
        model: str = "gpt-4o-mini-transcribe",
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: float = 20.0,
    ) -> None:
        self._client: Any = openai_client(base_url, api_key, timeout)
        self._model = model
        self._prompt = ""

    def set_vocabulary(self, words: Iterable[str]) -> None:
        self._prompt = ", ".join(sorted(set(words)))[:800]

    def stream(self) -> SttStream:
        return _BufferedStream(self)

    def upload(self, samples: Int16Array) -> str:
        buf = io.BytesIO()
        with wave.open(buf, "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(STT_RATE)
            w.writeframes(samples.astype("<i2").tobytes())
        try:
            resp = self._client.audio.transcriptions.create(
                model=self._model,
                file=("speech.wav", buf.getvalue(), "audio/wav"),
                prompt=self._prompt or None,
            )
        except Exception as exc:
            raise ProviderError("openai-stt", f"{type(exc).__name__}: {exc}") from exc
        return str(getattr(resp, "text", "")).strip()


class _BufferedStream(SttStream):
    def __init__(self, provider: OpenAiStt) -> None:
        self._provider = provider
        self._parts: list[Int16Array] = []

    def feed(self, samples: Int16Array) -> str | None:
        self._parts.append(samples)
        return None

    def finish(self) -> str:
        if not self._parts:
            return ""
        return self._provider.upload(np.concatenate(self._parts))
