"""The speech-to-speech link itself (npc_runtime/voice/s2s): every websocket the session opens is
closed, on every path. Against the tests' own realtime server (``fake_realtime_server.py``, a
subprocess on loopback) that logs each connection's opening and end."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from npc_runtime.voice.s2s.config import S2sProfile
from npc_runtime.voice.s2s.openai_realtime import OpenAiRealtime

from .conftest import start_fake_realtime


class Server:
    def __init__(self, proc: subprocess.Popen[str], port: int, log: Path) -> None:
        self.proc, self.port, self.log = proc, port, log

    def count(self, kind: str) -> int:
        lines = self.log.read_text(encoding="utf-8").splitlines() if self.log.exists() else []
        return sum(1 for line in lines if line.strip() and json.loads(line).get("type") == kind)

    async def until(self, kind: str, count: int, timeout: float = 15.0) -> int:
        """How many ``kind`` events the server logged, once there are ``count`` (or the time is up)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while (seen := self.count(kind)) < count and loop.time() < deadline:
            await asyncio.sleep(0.02)
        return seen

    def session(self) -> OpenAiRealtime:
        profile = S2sProfile(
            base_url=f"ws://127.0.0.1:{self.port}/v1", model="fake-realtime", connect_timeout_s=30.0
        )
        return OpenAiRealtime(profile, "sk-test")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    script: dict[str, Any] = {"api": "ga", "transcript": "", "replies": [{"text": "Aye."}]}
    proc, port, log = start_fake_realtime(script, tmp_path)
    try:
        yield Server(proc, port, log)
    finally:
        os.kill(proc.pid, signal.SIGCONT)
        proc.terminate()
        proc.wait(timeout=10)
        proc.stdout.close()


async def test_a_turn_that_needs_the_link_while_the_warm_up_opens_it_shares_that_link(server: Server) -> None:
    # The runtime warms the link up when the conversation starts; on a busy machine the first
    # turn can come before the link is open, and asks for it too.
    session = server.session()
    warm = asyncio.create_task(session.connect())
    await asyncio.sleep(0)  # the warm-up is opening the link
    await session.connect(10.0)  # the turn's own budget
    await warm
    assert session.connected and session.stats["connects"] == 1
    await session.close()
    assert await server.until("__disconnect__", 1) == 1
    assert server.count("__connect__") == 1  # one link, not a second one nothing would close


async def test_a_close_cut_short_still_ends_the_link(server: Server) -> None:
    session = server.session()
    await session.connect()
    assert await server.until("__connect__", 1) == 1
    ws = session._ws
    assert ws is not None
    os.kill(server.proc.pid, signal.SIGSTOP)  # the server does not answer the closing handshake
    try:
        closing = asyncio.create_task(session.close())
        await asyncio.sleep(0.2)
        assert not closing.done()  # waiting for the server's answer
        closing.cancel()  # e.g. the runtime stopping
        with pytest.raises(asyncio.CancelledError):
            await closing
        # the socket is being closed now, not whenever the garbage collector finds it
        assert ws.transport.is_closing()
    finally:
        os.kill(server.proc.pid, signal.SIGCONT)
    assert await server.until("__disconnect__", 1) == 1
