"""Turn ordering and bookkeeping inside one conversation (real runtime, real sockets)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest

from npc_runtime.dialogue.base import DialogueChunk, DialogueProvider, SourceTag, TextPiece
from npc_runtime.dialogue.context import DialogueContext
from npc_runtime.host import ConversationControl, Extension, TurnSink
from npc_runtime.runtime.app import Runtime
from npc_runtime.settings import Settings
from npc_runtime.transport.client import AsyncClient, RuntimeErrorReply


class Gated(DialogueProvider):
    """Streams 'Reply to <text>.' in two pieces, the second once its gate opens."""

    name = "gated"

    def __init__(self) -> None:
        super().__init__()
        self.gates: dict[str, asyncio.Event] = {}

    async def _stream(self, ctx: DialogueContext) -> AsyncIterator[DialogueChunk]:
        yield SourceTag("llm")
        yield TextPiece("Reply to ")
        await self.gates.setdefault(ctx.player_text, asyncio.Event()).wait()
        yield TextPiece(f"{ctx.player_text}.")


async def test_concurrent_turns_run_one_after_another(make_settings: Callable[..., Settings]) -> None:
    provider = Gated()
    runtime = Runtime(make_settings(prefer_authored=1.01), provider=provider)
    await runtime.start()
    client = AsyncClient(runtime.endpoint)
    try:
        await client.connect()
        conv_id = (await client.start_conversation("mira", greet=False)).conversation_id
        conv = runtime.conversations[conv_id]
        first = asyncio.create_task(conv.run_turn("one"))  # e.g. a spoken line...
        second = asyncio.create_task(conv.run_turn("two"))  # ...and a typed one at the same time
        await asyncio.sleep(0)
        provider.gates.setdefault("two", asyncio.Event()).set()  # "two" is ready first, still waits
        provider.gates.setdefault("one", asyncio.Event()).set()
        one, two = await asyncio.gather(first, second)
        assert one is not None and two is not None
        assert (one.turn_id, one.npc_text) == (1, "Reply to one.")
        assert (two.turn_id, two.npc_text) == (2, "Reply to two.")
        finals = [await client.wait_final(conv_id) for _ in range(2)]
        assert [f.text for f in finals] == ["Reply to one.", "Reply to two."]
    finally:
        await client.close()
        await runtime.stop()


class HalfHeard(TurnSink):
    async def on_end(self, turn_id: int, npc_id: str, full_text: str, interrupted: bool) -> str | None:
        return full_text[: len(full_text) // 2]


async def test_a_turn_heard_only_in_part_is_marked_interrupted(
    runtime_server: Runtime, client: AsyncClient
) -> None:
    conv_id = (await client.start_conversation("bram", greet=False)).conversation_id
    conv = runtime_server.conversations[conv_id]
    conv.add_sink(HalfHeard())
    record = await conv.run_turn("what are you working on?")
    assert record is not None and record.interrupted
    assert record.heard_text == record.npc_text[: len(record.npc_text) // 2]
    final = await client.wait_final(conv_id)
    assert final.interrupted
    assert list(conv.history)[-1].text == record.heard_text


class Broken(Extension):
    name = "broken"

    async def on_conversation_start(self, conv: ConversationControl) -> None:
        raise RuntimeError("boom")


async def test_a_conversation_that_cannot_start_is_not_left_behind(
    make_settings: Callable[..., Settings],
) -> None:
    runtime = Runtime(make_settings(), extensions=[Broken])
    await runtime.start()
    client = AsyncClient(runtime.endpoint)
    try:
        await client.connect()
        with pytest.raises(RuntimeErrorReply) as err:
            await client.start_conversation("mira")
        assert err.value.code == "internal"
        assert runtime.conversations == {}
        assert all(not c.conversations for c in runtime.connections.values())
    finally:
        await client.close()
        await runtime.stop()
