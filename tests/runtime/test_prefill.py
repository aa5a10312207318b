"""Reading the next turn ahead (runtime/prefill.py) with the real local model (SmolLM2-135M, small
enough for tests) in a real embedded runtime over loopback ZeroMQ. What is checked is the order of
events and what the model had to read after the player's last words, never time."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from npc_runtime.dialogue.providers.local import LocalProvider
from npc_runtime.protocol.messages import PlayerText
from npc_runtime.runtime.app import Runtime
from npc_runtime.settings import Settings
from npc_runtime.transport.client import AsyncClient

pytestmark = pytest.mark.timeout(1800)  # a real model on a loaded machine

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
async def village(tmp_path: Path) -> AsyncIterator[tuple[Runtime, AsyncClient]]:
    settings = Settings(
        bind="tcp://127.0.0.1:0",
        personas_dir=REPO / "personas",
        db=str(tmp_path / "prefill.sqlite3"),
        dialogue={
            "provider": "local",
            "model": "smollm2-135m",
            "seed": 5,
            "slots": 3,
            "warm_up": False,
            "model_dir": str(tmp_path),
            "opener_after": None,
            "first_token_timeout": 900,
            "timeout": 1200,
        },
        prefer_authored=1.01,  # every turn goes to the model
        voice={"enabled": False},
    )
    runtime = Runtime(settings)
    endpoint = await runtime.start()
    client = AsyncClient(endpoint, name="prefill-test")
    await client.connect()
    try:
        yield runtime, client
    finally:
        await client.close()
        await runtime.stop()


def _tail(provider: LocalProvider) -> int:
    return int(provider.last_timings.get("prompt_n") or 0)


async def test_the_turn_was_read_ahead_so_only_the_last_words_are_left(
    village: tuple[Runtime, AsyncClient],
) -> None:
    runtime, client = village
    provider = runtime.provider
    assert isinstance(provider, LocalProvider)
    conv_id = (await client.start_conversation("mira", greet=False)).conversation_id
    conv = runtime.conversations[conv_id]
    # 1. The conversation starts: the whole prompt up to the player's words is read.
    await runtime.prefiller.wait_idle(conv_id)
    assert runtime.prefiller.done == 1 and _tail(provider) > 300
    # 2. Interim transcripts while the player speaks: each read ahead takes the words so far.
    conv.prefill("Have you ever")
    conv.prefill("Have you ever fallen in")  # arrives while the first read runs: the latest wins
    await runtime.prefiller.wait_idle(conv_id)
    assert provider.last_prompt is not None
    assert provider.last_prompt.messages[-1]["content"].endswith('"Have you ever fallen in"')
    assert runtime.prefiller.done in (2, 3)
    # 3. The final line: only its last words and the template's few tokens are left to read.
    line = "Have you ever fallen in the river?"
    msg = PlayerText(conversation_id=conv_id, text=line, id=client.next_id())
    await client.send(msg)
    final = await client.wait_final(conv_id, ref=msg.id, timeout=1200)
    assert final.text.strip()
    generated_from = provider.last_timings
    assert 0 < _tail(provider) <= 12, generated_from
    assert int(generated_from["cache_n"]) > 300
    # 4. After the reply, the next turn is read ahead while the player thinks (the exchange, the
    # world now, the memories): the next line again leaves only its own words.
    await runtime.prefiller.wait_idle(conv_id)
    assert provider.last_prompt.messages[-1]["content"].endswith("(says nothing)")
    msg = PlayerText(conversation_id=conv_id, text="What scares you?", id=client.next_id())
    await client.send(msg)
    await client.wait_final(conv_id, ref=msg.id, timeout=1200)
    assert _tail(provider) <= 16, provider.last_timings
