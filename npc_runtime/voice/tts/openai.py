"""OpenAI speech (``audio.speech``) as the cloud option; works with compatible servers via base_url.

Returns raw 24 kHz s16le PCM. No phonemes: lip-sync comes from the signal envelope.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...errors import ProviderError
from ..cloud import openai_client
from ..frames import AudioFrame, SynthChunk
from .base import TtsCaps, TtsProvider, VoiceParams

_RATE = 24_000


class OpenAiTts(TtsProvider):
    name = "openai"
    caps = TtsCaps(phonemes=False, pitch=False, speakers=False, offline=False)

    def __init__(
        self,
        model: str = "gpt-4o-mini-tts",
        default_voice: str = "alloy",
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: float = 20.0,
    ) -> None:
        self._client: Any = openai_client(base_url, api_key, timeout)
        self._model = model
        self._default_voice = default_voice

    def sample_rate(self, params: VoiceParams) -> int:
        return _RATE

    def cache_identity(self, params: VoiceParams) -> str:
        return f"openai:{self._client.base_url}:{self._model}:{self._default_voice}"

    def warm_up(self, params: VoiceParams) -> None:
        return None  # a network round trip at start-up would cost money and time

    def synthesize(self, text: str, params: VoiceParams) -> list[SynthChunk]:
        try:
            resp = self._client.audio.speech.create(
                model=self._model,
                voice=params.voice or self._default_voice,
                input=text,
                response_format="pcm",
                speed=params.speed,
            )
            pcm = resp.read()
        except Exception as exc:
            raise ProviderError("openai-tts", f"{type(exc).__name__}: {exc}") from exc
        samples = np.frombuffer(pcm[: len(pcm) // 2 * 2], dtype="<i2").astype(np.int16)
        return [SynthChunk(AudioFrame(samples, _RATE), text)]
