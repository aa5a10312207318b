"""Helpers shared by tests (importable as ``testsupport``; pytest puts tests/ on sys.path)."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable

from npc_runtime.transport.client import AsyncClient

ClientFactory = Callable[..., Awaitable[AsyncClient]]


class RuntimeProcess:
    def __init__(self, proc: subprocess.Popen[str], endpoint: str) -> None:
        self.proc = proc
        self.endpoint = endpoint


def start_runtime_process(
    args: list[str], env: dict[str, str] | None = None, timeout: float = 60.0
) -> RuntimeProcess:
    """Start ``npc-runtime serve`` and wait for its 'listening on ENDPOINT' line."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "npc_runtime.cli", "serve", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **(env or {})},
    )
    assert proc.stdout is not None
    lines = []
    loop_deadline = timeout
    start = time.monotonic()
    while time.monotonic() - start < loop_deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        m = re.search(r"listening on (\S+)", line)
        if m:
            return RuntimeProcess(proc, m.group(1))
    proc.kill()
    raise RuntimeError("runtime did not start:\n" + "".join(lines))


async def wait_for(predicate: Callable[[], bool], timeout: float = 5.0, interval: float = 0.01) -> None:
    """Poll a condition (for state that has no event to await); fails with TimeoutError."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise TimeoutError("condition not met in time")
        await asyncio.sleep(interval)
