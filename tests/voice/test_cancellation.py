"""A voice turn's waits keep the turn's cancellation when what they wait for happens in the same
instant (Python 3.11's ``asyncio.wait_for`` returned normally then, and the cancelled turn ran on).

The instant cannot be hit reliably through a whole runtime, so these tests drive the waiting code
directly and order the two events with the loop's own scheduling: a recording conversation stands in
for the runtime's (as in test_read_ahead.py), the speaker is the real one."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from npc_runtime.clock import ManualClock
from npc_runtime.voice.events import VoiceEvent
from npc_runtime.voice.extension import _Port
from npc_runtime.voice.speaker import Reply, Speaker
from npc_runtime.voice.tts.base import VoiceParams

HANG = 30.0  # a hang bound only: each case ends within a few loop iterations


class _Conversation:
    id = "c1"

    def __init__(self) -> None:
        self.turns: list[str] = []
        self.never = asyncio.Event()

    async def run_turn(self, text: str, reply_with: Any = None) -> None:
        self.turns.append(text)
        await self.never.wait()  # a turn that runs until it is cancelled


class _Voice:
    def __init__(self) -> None:
        self.stream_idle = asyncio.Event()


async def test_a_voice_turn_cancelled_as_the_previous_reply_stream_goes_idle_stays_cancelled() -> None:
    conv = _Conversation()
    port = _Port(None, conv)  # type: ignore[arg-type]
    voice = _Voice()
    port.voice = voice  # type: ignore[assignment]
    turn = asyncio.create_task(port._turn("hello"))
    await asyncio.sleep(0)  # the turn waits for the interrupted reply to unwind
    voice.stream_idle.set()  # the reply stream is over ...
    asyncio.get_running_loop().call_soon(turn.cancel)  # ... as the conversation ends
    done, _ = await asyncio.wait([turn], timeout=HANG)
    assert done, "the cancelled voice turn is still running"
    assert turn.cancelled()


def _speaker() -> tuple[Speaker, list[VoiceEvent]]:
    events: list[VoiceEvent] = []

    async def emit(event: VoiceEvent) -> None:
        events.append(event)

    return Speaker("c1", emit, ManualClock(), chunk_ms=40.0, fallback=lambda: None), events


async def test_a_turn_cancelled_as_a_barge_in_stops_its_reply_stays_cancelled() -> None:
    speaker, _ = _speaker()
    reply = Reply(turn_id=1, npc_id="mira", provider=None, params=VoiceParams())  # type: ignore[arg-type]
    reply.task = asyncio.create_task(asyncio.Event().wait())  # synthesis in progress
    waiter = asyncio.create_task(speaker.wait_synth(reply, timeout=HANG))
    await asyncio.sleep(0)
    await speaker.stop(reply, "interrupt")  # the player barges in ...
    waiter.cancel()  # ... and the turn is cancelled in the same instant
    done, _ = await asyncio.wait([waiter], timeout=HANG)
    assert done and waiter.cancelled()


async def test_wait_synth_returns_when_the_reply_is_stopped_and_times_out_otherwise() -> None:
    speaker, _ = _speaker()
    stopped = Reply(turn_id=1, npc_id="mira", provider=None, params=VoiceParams())  # type: ignore[arg-type]
    stopped.task = asyncio.create_task(asyncio.Event().wait())
    waiter = asyncio.create_task(speaker.wait_synth(stopped, timeout=HANG))
    await asyncio.sleep(0)
    await speaker.stop(stopped, "interrupt")
    done, _ = await asyncio.wait([waiter], timeout=HANG)
    assert done and waiter.result() is None  # returns: a stopped synthesis is over
    assert stopped.task.cancelled()

    stuck = Reply(turn_id=2, npc_id="mira", provider=None, params=VoiceParams())  # type: ignore[arg-type]
    stuck.task = asyncio.create_task(asyncio.Event().wait())
    with pytest.raises(TimeoutError):
        await speaker.wait_synth(stuck, timeout=0.01)
    stuck.task.cancel()

    async def fails() -> None:
        raise RuntimeError("the voice file is gone")

    failed = Reply(turn_id=3, npc_id="mira", provider=None, params=VoiceParams())  # type: ignore[arg-type]
    failed.task = asyncio.create_task(fails())
    with pytest.raises(RuntimeError, match="voice file"):  # a synthesis failure reaches the caller
        await speaker.wait_synth(failed, timeout=HANG)
