"""The runtime over real ZeroMQ sockets on loopback: session, conversations, bad input."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path

import msgpack
import pytest
import zmq
import zmq.asyncio

from npc_runtime.clock import ManualClock
from npc_runtime.protocol import codec
from npc_runtime.protocol.messages import (
    Bye,
    ConversationEnd,
    ConversationEnded,
    Error,
    Hello,
    Interrupt,
    Npcs,
    NpcTextDelta,
    NpcTextFinal,
    Ping,
    PlayerText,
    Pong,
    Save,
    Welcome,
)
from npc_runtime.runtime.app import Runtime
from npc_runtime.transport.client import AsyncClient, RuntimeErrorReply
from testsupport import ClientFactory, wait_for


async def test_hello_welcome_lists_npcs(client: AsyncClient) -> None:
    assert client.welcome is not None
    assert client.welcome.protocol == 1
    ids = {n.id for n in client.welcome.npcs}
    assert {"mira", "bram", "elda", "tomas"} <= ids
    reply = await client.request(Ping(t=1.5))
    assert isinstance(reply, Pong) and reply.t == 1.5


async def test_unsupported_protocol_is_refused(make_client: ClientFactory) -> None:
    c = await make_client(connect=False)
    c._sock.connect(c.endpoint)
    c._tasks.append(asyncio.create_task(c._reader()))
    with pytest.raises(RuntimeErrorReply) as err:
        await c.request(Hello(protocol=99, client="future"), timeout=5)
    assert err.value.code == "unsupported_protocol"


async def test_messages_before_hello_get_not_introduced(runtime_server: Runtime) -> None:
    ctx = zmq.asyncio.Context()
    sock = ctx.socket(zmq.DEALER)
    sock.connect(runtime_server.endpoint)
    try:
        await sock.send(codec.encode_map({"type": "list_npcs", "id": 7}))
        reply = codec.decode_server(await asyncio.wait_for(sock.recv(), 5))
        assert isinstance(reply, Error) and reply.code == "not_introduced" and reply.ref == 7
        # ping works before hello (used for reachability checks)
        await sock.send(codec.encode_map({"type": "ping", "id": 8}))
        reply = codec.decode_server(await asyncio.wait_for(sock.recv(), 5))
        assert isinstance(reply, Pong) and reply.ref == 8
    finally:
        sock.close(linger=0)
        ctx.term()


async def test_text_conversation_streams_and_ends(client: AsyncClient) -> None:
    started = await client.start_conversation("mira", player_id="p1")
    greeting = await client.wait_final(started.conversation_id)
    assert greeting.source == "greeting" and greeting.turn_id == 1
    deltas: list[str] = []
    final = await client.say(started.conversation_id, "do you have a room for me?", on_delta=deltas.append)
    assert final.source == "authored"
    assert "".join(deltas) == final.text
    assert "silver" in final.text or "stairs" in final.text
    drink = await client.say(started.conversation_id, "pour me an ale please")
    assert [(a.name, a.args) for a in drink.actions] == [("serve_drink", {"drink": "ale"})]
    await client.end_conversation(started.conversation_id)
    farewell = await client.wait_final(started.conversation_id)
    assert farewell.source == "farewell"
    ended = await client.next_event(types=("conversation_ended",))
    assert isinstance(ended, ConversationEnded) and ended.reason == "client"
    with pytest.raises(RuntimeErrorReply) as err:
        await client.say(started.conversation_id, "hello?", timeout=5)
    assert err.value.code == "unknown_conversation"


async def test_fallback_never_repeats_twice_in_a_row(client: AsyncClient) -> None:
    conv = (await client.start_conversation("mira", greet=False)).conversation_id
    lines = [(await client.say(conv, f"zorblax quux {i}")).text for i in range(6)]
    assert all(a != b for a, b in itertools.pairwise(lines))


async def test_unknown_npc_and_conversation(client: AsyncClient) -> None:
    with pytest.raises(RuntimeErrorReply) as err:
        await client.start_conversation("nobody")
    assert err.value.code == "unknown_npc"
    with pytest.raises(RuntimeErrorReply) as err:
        await client.say("does-not-exist", "hi", timeout=5)
    assert err.value.code == "unknown_conversation"


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        (b"\xc1\xc1not msgpack", "malformed"),
        (msgpack.packb([1, 2, 3]), "malformed"),
        (msgpack.packb({"id": 5, "text": "no type"}), "missing_type"),
        (msgpack.packb({"type": "teleport", "id": 6}), "unknown_type"),
        (
            msgpack.packb({"type": "player_text", "id": 7, "conversation_id": 12, "text": ["x"]}),
            "invalid_fields",
        ),
        (msgpack.packb({"type": "conversation_start", "id": 8}), "invalid_fields"),
        (
            msgpack.packb({"type": "player_text", "id": 9, "conversation_id": "x", "text": "a" * 2_000_000}),
            "message_too_large",
        ),
    ],
)
async def test_bad_input_gets_typed_error_and_others_unaffected(
    make_client: ClientFactory, payload: bytes, code: str
) -> None:
    bad = await make_client("bad")
    good = await make_client("good")
    conv = (await good.start_conversation("bram", greet=False)).conversation_id
    await bad.send_raw(payload)
    err = await bad.next_event(types=("error",))
    assert isinstance(err, Error) and err.code == code, err
    if code not in ("malformed", "message_too_large"):
        assert err.ref is not None
    # the bad client still works, and so does everyone else
    assert isinstance(await bad.request(Ping()), Pong)
    final = await good.say(conv, "what are you working on?")
    assert "trap" in final.text.lower() or "horseshoe" in final.text.lower()


async def test_unknown_fields_are_ignored(client: AsyncClient) -> None:
    await client.send_raw(msgpack.packb({"type": "list_npcs", "id": 42, "shiny_new_field": True}))
    # list_npcs answers with ref=42, which the client routes as an event (no pending request)
    msg = await client.next_event(types=("npcs",))
    assert isinstance(msg, Npcs) and msg.ref == 42


async def test_many_clients_concurrent_conversations(make_client: ClientFactory) -> None:
    clients = [await make_client(f"c{i}") for i in range(6)]
    npcs = ["mira", "bram", "elda", "tomas", "mira", "bram"]

    async def talk(c: AsyncClient, npc: str) -> list[NpcTextFinal]:
        conv = (await c.start_conversation(npc, greet=False)).conversation_id
        return [await c.say(conv, q) for q in ("tell me about the wolves", "nonsense words here", "wolves?")]

    results = await asyncio.gather(*(talk(c, n) for c, n in zip(clients, npcs, strict=True)))
    for finals, npc in zip(results, npcs, strict=True):
        assert all(f.npc_id == npc for f in finals)
        assert finals[0].source == "authored" and finals[1].source == "fallback"


async def test_group_conversation_picks_addressed_speaker(client: AsyncClient) -> None:
    conv = (await client.start_conversation(["mira", "bram"], greet=False)).conversation_id
    assert (await client.say(conv, "Bram, what are you making?")).npc_id == "bram"
    assert (await client.say(conv, "do you have a room for the night")).npc_id == "mira"
    assert (await client.say(conv, "anything", to="bram")).npc_id == "bram"
    with pytest.raises(RuntimeErrorReply):
        await client.say(conv, "hi", to="elda", timeout=5)


async def test_client_vanishing_mid_reply_frees_conversation(
    runtime_server: Runtime, make_client: ClientFactory
) -> None:
    c = await make_client("vanisher")
    conv = (await c.start_conversation("elda", greet=False)).conversation_id
    await c.send_raw(codec.encode(PlayerText(conversation_id=conv, text="can you heal me")))
    await c.abort()  # gone without a bye, mid-reply
    await wait_for(lambda: conv not in runtime_server.conversations, timeout=10)
    # the runtime still serves others
    other = await make_client("other")
    assert isinstance(await other.request(Ping()), Pong)


async def test_silent_client_is_dropped_after_timeout(make_settings, personas_dir) -> None:  # type: ignore[no-untyped-def]
    clock = ManualClock()  # the client's silence is measured on the injected clock
    runtime = Runtime(make_settings(client_timeout=5.0, heartbeat_interval=0.1), clock=clock)
    await runtime.start()
    ctx = zmq.asyncio.Context()
    sock = ctx.socket(zmq.DEALER)
    sock.connect(runtime.endpoint)
    try:
        await sock.send(codec.encode(Hello(protocol=1, client="mute", id=1)))
        assert isinstance(codec.decode_server(await asyncio.wait_for(sock.recv(), 5)), Welcome)
        await sock.send(
            codec.encode_map({"type": "conversation_start", "id": 2, "npc_ids": ["tomas"], "greet": False})
        )
        await asyncio.wait_for(sock.recv(), 5)
        assert len(runtime.conversations) == 1
        clock.advance(4.9)
        await asyncio.sleep(0.3)  # several reaper rounds: within the time-out nobody is dropped
        assert len(runtime.conversations) == 1 and len(runtime.connections) == 1
        clock.advance(0.2)
        await wait_for(lambda: not runtime.conversations and not runtime.connections, timeout=5)
    finally:
        sock.close(linger=0)
        ctx.term()
        await runtime.stop()


async def test_interrupt_cancels_reply_and_keeps_heard_text(make_settings) -> None:  # type: ignore[no-untyped-def]
    from collections.abc import AsyncIterator

    from npc_runtime.dialogue.base import DialogueChunk, DialogueProvider, SourceTag, TextPiece
    from npc_runtime.dialogue.context import DialogueContext

    release = asyncio.Event()

    class Slow(DialogueProvider):
        name = "slow"

        async def _stream(self, ctx: DialogueContext) -> AsyncIterator[DialogueChunk]:
            yield SourceTag("llm")
            yield TextPiece("First part. ")
            await release.wait()
            yield TextPiece("Never heard.")

    runtime = Runtime(make_settings(prefer_authored=1.01), provider=Slow())
    await runtime.start()
    c = AsyncClient(runtime.endpoint)
    try:
        await c.connect()
        conv = (await c.start_conversation("mira", greet=False)).conversation_id
        await c.send(PlayerText(conversation_id=conv, text="tell me a long story"))
        delta = await c.next_event(types=("npc_text_delta",))
        assert isinstance(delta, NpcTextDelta) and delta.text == "First part. "
        # meanwhile another conversation is not delayed by the stalled provider
        conv2 = (await c.start_conversation("bram", greet=False)).conversation_id
        assert conv2
        await c.send(Interrupt(conversation_id=conv))
        final = await c.wait_final(conv)
        assert final.interrupted and final.text == "First part. "
        assert list(runtime.conversations[conv].history)[-1].text == "First part. "
    finally:
        release.set()
        await c.close()
        await runtime.stop()


async def test_conversation_end_is_answered_with_its_ref(client: AsyncClient) -> None:
    conv = await client.start_conversation("mira", greet=False)
    reply = await client.request(ConversationEnd(conversation_id=conv.conversation_id))
    assert isinstance(reply, ConversationEnded) and reply.reason == "client"
    farewell = await client.next_event(types=("npc_text_final",))
    assert isinstance(farewell, NpcTextFinal)
    assert farewell.source == "farewell" and farewell.ref == reply.ref


async def test_messages_after_bye_are_answered_not_introduced(client: AsyncClient) -> None:
    await client.send(Bye(id=client.next_id()))
    with pytest.raises(RuntimeErrorReply) as err:
        await client.request(Save())
    assert err.value.code == "not_introduced"


async def test_a_removed_persona_ends_its_conversations(
    runtime_server: Runtime, client: AsyncClient, personas_dir: Path
) -> None:
    conv = await client.start_conversation("tomas", greet=False)
    (personas_dir / "tomas.persona.yaml").unlink()
    ended = await client.next_event(types=("conversation_ended",), timeout=10)
    assert isinstance(ended, ConversationEnded)
    assert (ended.conversation_id, ended.reason) == (conv.conversation_id, "persona_removed")
    assert conv.conversation_id not in runtime_server.conversations
