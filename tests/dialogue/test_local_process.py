"""The local provider's model in its own process (the default), on the real packaged test model:
a real child process, real loopback HTTP, real signals."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from npc_runtime.dialogue.base import TextPiece
from npc_runtime.dialogue.context import DialogueContext
from npc_runtime.dialogue.providers.local import LocalProvider, LocalSettings
from npc_runtime.dialogue.providers.local_process import ProcessEngine
from npc_runtime.errors import ProviderError
from npc_runtime.personas.schema import Persona
from npc_runtime.protocol.messages import WarningMessage
from npc_runtime.runtime.app import Runtime
from npc_runtime.settings import Settings
from npc_runtime.transport.client import AsyncClient

pytestmark = pytest.mark.timeout(900)

MIRA: dict[str, Any] = {
    "id": "mira",
    "name": "Mira Thornwood",
    "role": "innkeeper of the Gilded Goose",
    "speaking_style": "Friendly and quick.",
    "fallback": ["Couldn't say, love."],
}


def _settings(**kw: Any) -> LocalSettings:
    base: dict[str, Any] = dict(
        model="smollm2-135m", seed=3, slots=2, context=1024, max_tokens=40, warm_up=False, persist_cache=False
    )
    return LocalSettings(**{**base, **kw, "first_token_timeout": 600, "timeout": 800})


def _ctx(text: str) -> DialogueContext:
    return DialogueContext(persona=Persona.model_validate(MIRA), player_id="p1", player_text=text)


async def _said(p: LocalProvider, text: str) -> str:
    return "".join([c.text async for c in p.stream(_ctx(text)) if isinstance(c, TextPiece)])


def _gone(pid: int, within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


async def test_the_model_answers_from_a_process_of_its_own_which_ends_with_the_provider() -> None:
    p = LocalProvider(_settings())
    try:
        engine = await p.load()
        assert isinstance(engine, ProcessEngine) and engine.pid != os.getpid() and engine.alive()
        assert (await _said(p, "Hello there!")).strip()
        assert int(p.last_timings["predicted_n"]) > 0  # llama.cpp's own figures come over the wire too
    finally:
        await p.aclose()
    assert not engine.alive()  # closed: the child exited and was reaped


async def test_a_model_process_killed_mid_turn_fails_that_turn_and_the_next_turn_starts_it_again() -> None:
    p = LocalProvider(_settings())
    try:
        first = await p.load()
        assert isinstance(first, ProcessEngine)
        os.kill(first.pid, signal.SIGSTOP)  # the request will be in flight, unanswered, when it dies

        async def killer() -> None:
            await asyncio.sleep(0.5)
            os.kill(first.pid, signal.SIGKILL)

        kill = asyncio.create_task(killer())
        with pytest.raises(ProviderError, match="process is gone"):
            await _said(p, "Tell me about the inn.")
        await kill
        assert (await _said(p, "Hello?")).strip()  # started again, answers
        again = await p.load()
        assert isinstance(again, ProcessEngine) and again.pid != first.pid and p.restarts == 1
    finally:
        await p.aclose()


async def test_the_model_can_still_run_in_the_runtimes_process() -> None:
    p = LocalProvider(_settings(own_process=False))
    try:
        engine = await p.load()
        assert not isinstance(engine, ProcessEngine)
        assert (await _said(p, "Hello there!")).strip()
    finally:
        await p.aclose()


def test_the_model_process_never_outlives_a_runtime_killed_with_sigkill(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import asyncio, os, signal, sys
        from npc_runtime.dialogue.providers.local import LocalProvider, LocalSettings

        async def main():
            p = LocalProvider(LocalSettings(model="smollm2-135m", slots=2, context=512, warm_up=False))
            engine = await p.load()
            print(engine.pid, flush=True)
            os.kill(os.getpid(), signal.SIGKILL)  # no clean-up of any kind

        asyncio.run(main())
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    child = int(proc.stdout.split()[0])
    assert _gone(child, within=60), f"the model's process {child} outlived its runtime"


def test_a_model_that_cannot_load_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"GGUF not really a model")
    with pytest.raises(ProviderError, match=r"exited while loading broken\.gguf"):
        ProcessEngine(_settings(model_path=str(bad)), bad)


async def test_a_players_read_ahead_stops_the_warm_up_of_another_npc_which_finishes_later() -> None:
    p = LocalProvider(_settings(warm_up=True, slots=3))
    others = [Persona.model_validate({**MIRA, "id": f"npc{i}", "name": f"Villager {i}"}) for i in range(2)]
    try:
        await p.load()
        warm = asyncio.create_task(p.warm_up(others))
        while p._warm_read is None:  # the first villager's prompt is being read
            await asyncio.sleep(0.01)
        await p.prefill(_ctx("Evening!"))  # the player walks up to Mira meanwhile
        assert p.warm_gave_way == 1 and "npc0" not in p.warmed
        await asyncio.wait_for(warm, 600)
        assert p.warmed == {"npc0", "npc1"}  # read again once the player's work was done
    finally:
        await p.aclose()


async def test_a_model_that_stalls_after_the_opener_ends_the_reply_with_a_fallback_line(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(
        dialogue={
            "provider": "local",
            "model": "smollm2-135m",
            "slots": 2,
            "context": 1024,
            "warm_up": False,
            "persist_cache": False,
            "first_token_timeout": 2.0,
            "timeout": 30.0,
        }
    )
    runtime = Runtime(settings)
    await runtime.start()
    client = AsyncClient(runtime.endpoint)
    engine = await runtime.provider.load()  # type: ignore[attr-defined]
    assert isinstance(engine, ProcessEngine)
    try:
        await client.connect()
        conv = (await client.start_conversation("mira", greet=False)).conversation_id
        mira = runtime.personas.get("mira")
        assert mira is not None and mira.openers  # the sample innkeeper has thinking lines
        os.kill(engine.pid, signal.SIGSTOP)  # the model hangs after the turn starts
        final = await client.say(conv, "What do you think of the weather?")
        said = final.text.strip()
        opener = next(o for o in mira.openers if said.startswith(o))  # the opener came at once...
        rest = said[len(opener) :].strip()
        assert rest in [f.text for f in mira.fallback]  # ...and a fallback line closed the reply
        assert final.source == "fallback"
        warning = await client.next_event(types=("warning",))
        assert isinstance(warning, WarningMessage) and warning.code == "provider_timeout"
    finally:
        os.kill(engine.pid, signal.SIGCONT)
        await client.close()
        await runtime.stop()
