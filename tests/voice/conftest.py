"""Voice test helpers: player lines synthesized with the real Piper voice, and a client-side
microphone that streams them over the real protocol."""

from __future__ import annotations

import asyncio
import functools
import json
import select
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from piper import SynthesisConfig

from npc_runtime.protocol.messages import Message
from npc_runtime.protocol.messages.voice import AudioChunk, AudioStart, NpcAudio, SpeechEnd, SpeechStart
from npc_runtime.settings import Settings
from npc_runtime.transport.client import AsyncClient
from npc_runtime.voice.models import shared_tts
from npc_runtime.voice.resample import resample

RATE = 16_000

# Short time-outs so the bad-input tests finish quickly.
VOICE_TEST_SETTINGS: dict[str, Any] = {"audio_timeout_s": 0.6, "report_wait_ms": 400}


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(voice=VOICE_TEST_SETTINGS)


@functools.lru_cache(maxsize=64)
def _synth(text: str, rate: int, speed: float) -> bytes:
    # Piper samples noise on every call; without it the same line is the same audio every run,
    # so recognition results (and these tests) are deterministic.
    voice = shared_tts("piper")._voice(None)  # type: ignore[attr-defined]
    cfg = SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0, length_scale=1.0 / speed)
    audio = np.concatenate([c.audio_int16_array for c in voice.synthesize(text, cfg)])
    return resample(audio.astype(np.int16), voice.config.sample_rate, rate).astype("<i2").tobytes()


def player_line(text: str, rate: int = RATE, speed: float = 1.0) -> np.ndarray:
    """The real Piper voice saying ``text``, as s16 mono at ``rate`` (the player's microphone)."""
    return np.frombuffer(_synth(text, rate, speed), dtype="<i2").astype(np.int16)


def silence(seconds: float, rate: int = RATE) -> np.ndarray:
    return np.zeros(int(seconds * rate), dtype=np.int16)


class Mic:
    """Streams audio for one conversation in numbered chunks (as fast as the socket takes it,
    unless ``realtime``)."""

    def __init__(
        self, client: AsyncClient, conversation_id: str, rate: int = RATE, chunk_ms: int = 100
    ) -> None:
        self.client = client
        self.cid = conversation_id
        self.rate = rate
        self.step = int(rate * chunk_ms / 1000)
        self.seq = 0

    async def open(self) -> Message:
        return await self.client.request(AudioStart(conversation_id=self.cid, sample_rate=self.rate))

    async def play(self, samples: np.ndarray, realtime: bool = False) -> None:
        for i in range(0, len(samples), self.step):
            part = samples[i : i + self.step]
            await self.client.send(
                AudioChunk(conversation_id=self.cid, seq=self.seq, pcm=part.astype("<i2").tobytes())
            )
            self.seq += 1
            if realtime:
                await asyncio.sleep(len(part) / self.rate)

    async def push_to_talk(self, samples: np.ndarray) -> None:
        await self.client.send(SpeechStart(conversation_id=self.cid))
        await self.play(samples)
        await self.client.send(SpeechEnd(conversation_id=self.cid))


async def collect(
    client: AsyncClient, conversation_id: str, until: Callable[[Message], bool], timeout: float = 300.0
) -> list[Message]:
    """Events of one conversation up to and including the first that satisfies ``until``.

    The time-out is only a bound for a hung test: order is what the tests assert, and a loaded
    2-core machine may take many seconds for a turn (pocketsphinx and Piper share the cores)."""
    out: list[Message] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        msg = await client.next_event(timeout=max(0.001, deadline - loop.time()))
        if getattr(msg, "conversation_id", conversation_id) != conversation_id:
            continue
        out.append(msg)
        if until(msg):
            return out


def pcm_of(chunks: list[NpcAudio]) -> np.ndarray:
    return np.concatenate([np.frombuffer(c.pcm, dtype="<i2") for c in chunks]).astype(np.int16)


def of_type(msgs: list[Message], mtype: str) -> list[Any]:
    return [m for m in msgs if m.type == mtype]  # type: ignore[attr-defined]


REALTIME_SERVER = Path(__file__).with_name("fake_realtime_server.py")


def start_fake_realtime(script: dict[str, Any], folder: Path) -> tuple[subprocess.Popen[str], int, Path]:
    """Start the tests' own Realtime websocket server (a real process on loopback) playing
    ``script``: (the process, its port, the JSON-lines log of what it received)."""
    script_path, log = folder / "realtime-script.json", folder / "realtime-log.jsonl"
    script_path.write_text(json.dumps(script), encoding="utf-8")
    proc = subprocess.Popen(
        [sys.executable, str(REALTIME_SERVER), str(script_path), str(log)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], 60.0)
    line = proc.stdout.readline() if ready else ""
    if not line.startswith("LISTENING "):
        proc.kill()
        proc.wait(timeout=10)
        proc.stdout.close()
        raise AssertionError(f"the fake realtime server did not start: {line!r}")
    return proc, int(line.split()[1]), log
