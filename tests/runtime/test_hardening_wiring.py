"""Hardening that the host (``npc_runtime/runtime/``) provides: replies carry ``ref``, messages
after ``bye`` are answered, a deleted persona ends its conversations, ``serve`` binds first.
Also the host's use of the save checksum (``save_integrity``)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import msgpack
import pytest
import zmq
import zmq.asyncio
import zmq.auth

from npc_runtime.protocol.messages import (
    ConversationEnd,
    ConversationEnded,
    Load,
    Loaded,
    PersonaError,
    Ping,
    Pong,
    Save,
    SaveData,
    WarningMessage,
)
from npc_runtime.protocol.messages.world import WorldStateQuery, WorldStateReply
from npc_runtime.runtime.app import Runtime
from npc_runtime.settings import Settings
from npc_runtime.transport.client import AsyncClient, RuntimeErrorReply


async def test_conversation_end_replies_carry_ref(client: AsyncClient) -> None:
    conv = await client.start_conversation("mira", greet=False)
    end = ConversationEnd(conversation_id=conv.conversation_id, id=client.next_id())
    await client.send(end)
    ended = await client.next_event(types=("conversation_ended",), timeout=30)
    assert isinstance(ended, ConversationEnded) and ended.ref == end.id


async def test_messages_after_bye_get_not_introduced(runtime_server: Runtime) -> None:
    # A plain (blocking) socket sends hello, bye and a world_state without yielding to the event
    # loop, so the world_state is queued behind the bye in the session's inbox: today it is
    # dropped in silence (the fuzz test found it against a serve process).
    ctx = zmq.Context()
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(runtime_server.endpoint)
    try:
        sock.send(msgpack.packb({"type": "hello", "id": 1, "protocol": 1}))
        while not sock.poll(0):
            await asyncio.sleep(0.01)  # the runtime runs in this loop: let it answer (a poll)
        assert msgpack.unpackb(sock.recv())["type"] == "welcome"
        sock.send(msgpack.packb({"type": "bye"}))
        sock.send(msgpack.packb({"type": "world_state", "id": 2}))
        assert not await _quiet(sock), "silence after bye"
        reply = msgpack.unpackb(sock.recv())
        assert reply["type"] == "error" and reply["code"] == "not_introduced" and reply["ref"] == 2
    finally:
        sock.close(linger=0)
        ctx.term()


async def _quiet(sock: zmq.Socket[bytes], seconds: float = 5.0) -> bool:
    """True when nothing arrives for ``seconds`` (the runtime stays silent)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while loop.time() < end:
        if sock.poll(0):
            return False
        await asyncio.sleep(0.01)
    return True


async def test_deleting_a_persona_ends_its_conversation(
    runtime_server: Runtime, client: AsyncClient, personas_dir: Path
) -> None:
    conv = await client.start_conversation("tomas", greet=False)
    (personas_dir / "tomas.persona.yaml").unlink()
    ended = await client.next_event(types=("conversation_ended",), timeout=30)
    assert isinstance(ended, ConversationEnded)
    assert ended.conversation_id == conv.conversation_id and ended.reason == "persona_removed"


def test_a_second_instance_fails_before_loading_anything(tmp_path: Path) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        out = subprocess.run(
            [sys.executable, "-m", "npc_runtime.cli", "serve", "--bind", f"tcp://127.0.0.1:{port}",
             "--personas", str(Path(__file__).resolve().parents[2] / "personas"),
             "--db", str(tmp_path / "db.sqlite3"), "--log-level", "INFO"],
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
    assert out.returncode == 2 and f"cannot bind tcp://127.0.0.1:{port}" in out.stderr
    assert "persona" not in out.stderr and "voice" not in out.stderr.lower()  # nothing loaded first


async def _altered_blob(client: AsyncClient) -> bytes:
    saved = await client.request(Save())
    assert isinstance(saved, SaveData)
    doc = msgpack.unpackb(saved.blob, raw=False)
    doc["runtime"] = "edited"  # outside the checksummed parts: still fine
    doc["parts"]["world"]["state"]["game_time"] = 1.0  # inside: altered
    return msgpack.packb(doc, use_bin_type=True)


async def _events_until_pong(client: AsyncClient) -> list[str]:
    """The runtime answers one peer in order: every event it sent before this pong has been read
    once the pong is back."""
    await client.request(Ping())
    seen: list[str] = []
    while True:
        try:
            msg = await client.next_event(timeout=0.001)
        except TimeoutError:
            return seen
        seen.append(getattr(msg, "code", msg.type))


async def test_an_altered_save_is_reported(client: AsyncClient) -> None:
    """The default ``save_integrity = "warn"``: loaded, then a ``save_altered`` warning."""
    blob = await _altered_blob(client)
    load = Load(blob=blob)
    loaded = await client.request(load)
    assert isinstance(loaded, Loaded)
    warning = await client.next_event(types=("warning",), timeout=10)
    assert isinstance(warning, WarningMessage)
    assert warning.code == "save_altered" and warning.ref == load.id
    state = await client.request(WorldStateQuery())
    assert isinstance(state, WorldStateReply) and state.game_time == 1.0  # it was applied


async def test_an_unaltered_save_loads_without_a_warning(client: AsyncClient) -> None:
    saved = await client.request(Save())
    assert isinstance(saved, SaveData)
    assert isinstance(await client.request(Load(blob=saved.blob)), Loaded)
    assert "save_altered" not in await _events_until_pong(client)


@pytest.mark.parametrize("integrity", ["allow", "refuse"])
async def test_save_integrity_allow_or_refuse(make_settings: Callable[..., Settings], integrity: str) -> None:
    runtime = Runtime(make_settings(save_integrity=integrity))
    await runtime.start()
    client = AsyncClient(runtime.endpoint, name="saves")
    try:
        await client.connect(timeout=10)
        blob = await _altered_blob(client)
        if integrity == "allow":
            assert isinstance(await client.request(Load(blob=blob)), Loaded)
            assert "save_altered" not in await _events_until_pong(client)
            expected = 1.0
        else:
            with pytest.raises(RuntimeErrorReply) as refused:
                await client.request(Load(blob=blob))
            assert refused.value.error.code == "save_invalid"
            assert "save_integrity is 'refuse'" in refused.value.error.message
            expected = 0.0  # nothing changed (the story's start)
        state = await client.request(WorldStateQuery())
        assert isinstance(state, WorldStateReply) and state.game_time == expected
    finally:
        await client.close()
        await runtime.stop()


def _non_loopback_address() -> str:
    """A local address other machines could reach: the one the default route leaves from (a UDP
    "connect" sends nothing), or, on a machine without one, the wildcard (every interface)."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: only the routing table is consulted
            address = str(probe.getsockname()[0])
        except OSError:
            return "0.0.0.0"
    return address if not address.startswith("127.") else "0.0.0.0"


@pytest.mark.parametrize("curve", [False, True])
async def test_a_non_loopback_bind_without_curve_warns_each_client(
    make_settings: Callable[..., Settings], tmp_path: Path, curve: bool
) -> None:
    from npc_runtime.transport.security import generate_keys

    address = _non_loopback_address()
    extra: dict[str, object] = {}
    server_key = None
    if curve:
        public, secret = generate_keys(tmp_path / "keys")
        extra["curve_secret_file"] = secret
        server_key = zmq.auth.load_certificate(str(public))[0]
    runtime = Runtime(make_settings(bind=f"tcp://{address}:0", allow_remote=True, **extra))
    await runtime.start()
    port = runtime.endpoint.rsplit(":", 1)[1]
    target = "127.0.0.1" if address == "0.0.0.0" else address  # a real non-loopback bind either way
    clients = [
        AsyncClient(f"tcp://{target}:{port}", name=f"lan-{i}", server_key=server_key) for i in range(2)
    ]
    try:
        for client in clients:
            await client.connect(timeout=10)
            seen = await _events_until_pong(client)
            if curve:
                assert "insecure_transport" not in seen
            else:
                assert seen == ["insecure_transport"]  # sent right after welcome, to every client
        if not curve:
            warning = await _warning_after_welcome(runtime, target, port)
            assert f"tcp://{address}:{port}" in warning.message and "CURVE" in warning.message
    finally:
        for client in clients:
            await client.close()
        await runtime.stop()


async def _warning_after_welcome(runtime: Runtime, host: str, port: str) -> WarningMessage:
    """The very next message after ``welcome`` (a raw socket: nothing reordered or buffered)."""
    from npc_runtime.protocol import codec

    ctx = zmq.asyncio.Context()
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(f"tcp://{host}:{port}")
    try:
        await sock.send(msgpack.packb({"type": "hello", "id": 1, "protocol": 1}))
        first = codec.decode_server(await asyncio.wait_for(sock.recv(), 30))
        second = codec.decode_server(await asyncio.wait_for(sock.recv(), 30))
    finally:
        sock.close(linger=0)
        ctx.term()
    assert first.type == "welcome" and isinstance(second, WarningMessage)
    assert second.code == "insecure_transport"
    return second


async def _burst(runtime: Runtime, *messages: dict[str, object]) -> list[dict[str, object]]:
    """Send ``messages`` back to back from a plain (blocking) socket, without yielding to the event
    loop the runtime runs in, so they all reach it in one burst; return one reply per message."""
    ctx = zmq.Context()
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(runtime.endpoint)
    replies: list[dict[str, object]] = []
    try:
        for msg in messages:
            sock.send(msgpack.packb(msg))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60
        while len(replies) < len(messages) and loop.time() < deadline:
            if sock.poll(0):
                replies.append(msgpack.unpackb(sock.recv()))
            else:
                await asyncio.sleep(0.01)  # the runtime runs in this loop: let it answer (a poll)
    finally:
        sock.close(linger=0)
        ctx.term()
    return replies


async def test_messages_right_behind_hello_are_handled_in_order(runtime_server: Runtime) -> None:
    replies = await _burst(
        runtime_server,
        {"type": "hello", "id": 1, "protocol": 1},
        {"type": "world_state", "id": 2},
        {"type": "list_npcs", "id": 3},
        {"type": "save", "id": 4},
        {"type": "list_npcs", "id": 5},
    )
    assert [(r["type"], r.get("ref")) for r in replies] == [
        ("welcome", 1),
        ("world_state_reply", 2),
        ("npcs", 3),
        ("save_data", 4),
        ("npcs", 5),
    ]


async def test_messages_before_or_after_a_refused_hello_are_not_introduced(
    runtime_server: Runtime,
) -> None:
    replies = await _burst(
        runtime_server,
        {"type": "list_npcs", "id": 1},
        {"type": "hello", "id": 2, "protocol": 99},
        {"type": "world_state", "id": 3},
        {"type": "hello", "id": 4, "protocol": 1},
        {"type": "world_state", "id": 5},
    )
    assert [(r["type"], r.get("code"), r.get("ref")) for r in replies] == [
        ("error", "not_introduced", 1),
        ("error", "unsupported_protocol", 2),
        ("error", "not_introduced", 3),
        ("welcome", None, 4),
        ("world_state_reply", None, 5),
    ]


async def test_clients_are_answered_while_a_persona_file_is_read(
    runtime_server: Runtime, client: AsyncClient, personas_dir: Path
) -> None:
    """Hot reload reads persona files off the event loop. The new file is a named pipe, so its
    reader blocks until the test writes: while it is blocked (a writer could attach, so the reader
    is inside its read), a ping and a whole text turn are answered; then an alias bomb is written
    and the reload reports it as a ``persona_error``, the live personas untouched."""
    import os

    pipe = personas_dir / "slow.persona.yaml"
    os.mkfifo(pipe)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 60
    while True:  # ENXIO until the reloader has the pipe open for reading
        try:
            writer = os.open(pipe, os.O_WRONLY | os.O_NONBLOCK)
            break
        except OSError:
            assert loop.time() < deadline, "the reloader never opened the new persona file"
            await asyncio.sleep(0.01)
    try:
        assert isinstance(await client.request(Ping(t=7.0)), Pong)
        conv = await client.start_conversation("tomas", greet=False)
        final = await client.say(conv.conversation_id, "hello there", timeout=60)
        assert final.text
    finally:
        os.set_blocking(writer, True)
        os.write(writer, BOMB.encode())
        os.close(writer)
    error = await client.next_event(types=("persona_error",), timeout=60)
    assert isinstance(error, PersonaError) and error.file == str(pipe)
    assert error.npc_id is None and "values" in error.problems[0].message
    assert runtime_server.personas.get("mira") is not None


BOMB = "\n".join(  # a YAML alias bomb: 9**9 values once expanded
    ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    + [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 9)]
)
