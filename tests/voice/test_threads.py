"""Voice's own bounded thread pool (npc_runtime/voice/threads.py): blocking voice work runs there,
and the event loop's default pool stays as asyncio made it for the rest of the runtime."""

from __future__ import annotations

import asyncio
import contextvars
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from npc_runtime.runtime.app import Runtime
from npc_runtime.settings import Settings
from npc_runtime.transport.client import AsyncClient
from npc_runtime.voice import threads

from .conftest import VOICE_TEST_SETTINGS, Mic, collect, player_line, silence

_who: contextvars.ContextVar[str] = contextvars.ContextVar("who", default="")


async def test_voice_work_runs_in_its_own_pool_with_the_callers_context() -> None:
    _who.set("caller")
    name, who = await threads.run(lambda: (threading.current_thread().name, _who.get()))
    assert name.startswith(threads.NAME + "_") and who == "caller"
    assert threads.pool()._max_workers == threads.THREADS  # bounded


async def test_a_voice_runtime_leaves_the_loops_default_pool_alone(
    make_settings: Callable[..., Settings], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    loop = asyncio.get_running_loop()
    before = loop._default_executor  # type: ignore[attr-defined]
    runtime = Runtime(make_settings(db=str(tmp_path / "t.sqlite3"), voice=VOICE_TEST_SETTINGS))
    await runtime.start()
    client = AsyncClient(runtime.endpoint, name="threads")
    seen: set[str] = set()
    real_run = threads.run

    async def spy(fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        def call() -> Any:
            seen.add(threading.current_thread().name.split("_")[0])
            return fn(*args, **kwargs)

        return await real_run(call)

    monkeypatch.setattr(threads, "run", spy)
    try:
        await client.connect()
        conv = await client.start_conversation("mira", mode="push_to_talk", greet=False)
        mic = Mic(client, conv.conversation_id)
        await mic.open()
        await mic.push_to_talk(np.concatenate([player_line("I need a bed for the night."), silence(0.2)]))
        await collect(client, mic.cid, lambda m: m.type == "npc_audio_end")
    finally:
        await client.close()
        await runtime.stop()
    assert seen == {threads.NAME}  # the recogniser and the synthesis ran on voice's threads
    # the loop's default pool, if anything made it, is asyncio's own size (not voice's)
    default = loop._default_executor  # type: ignore[attr-defined]  # asyncio's own (private) slot
    assert default is before or default._max_workers == min(32, (os.cpu_count() or 1) + 4)
