"""Fuzz the wire: hostile messages against a real ``npc-runtime serve`` process over loopback.

Two sources of input, both through hypothesis on a bounded budget (``NPC_FUZZ_EXAMPLES``, default
60 examples of up to 8 messages each, plus as many raw frames):

- messages built field by field from the pydantic client models (``strategies.message_dict``),
  with live conversation ids, real save blobs and edited save blobs;
- raw-byte mutations of the documented examples in ``docs/protocol-vectors.json``.

After every message the test sends ``ping`` and ``world_state`` (a message that is queued behind
the fuzzed one) and asserts: no ``internal`` error ever; a message with an id got a reply carrying
its ``ref`` before the ``world_state`` reply, unless its type is documented as silent; ``pong``
echoes id and ``t``; the world clock is finite and never goes back (except on load and reset);
every variable has its declared type and bounds; every quest is in a declared state; relationship
values are finite and within their dimension's bounds. At the end the server's log must hold no
traceback. The totals are printed (run with ``-s`` to see them).
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgpack
import pytest
import zmq
from fuzz.fuzz_strategies import Vocabulary, message_dict, mutated_blob, mutated_bytes, pick
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from npc_runtime.memory.settings import MemorySettings
from npc_runtime.world.compiled import World, load_world, value_fits

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = int(os.environ.get("NPC_FUZZ_EXAMPLES", "60"))
REPLY_TIMEOUT_MS = int(
    os.environ.get("NPC_FUZZ_REPLY_MS", "60000")
)  # generous: a loaded 2-core machine; only order is asserted

# Valid messages of these types may get no reply carrying their ref (docs/protocol.md).
SILENT = {
    "game_time",
    "bye",
    "interrupt",
    "player_text",  # the reply (npc_text_final) streams later, from the conversation's task
    "conversation_end",
    "world_reset",
    "audio_chunk",
    "speech_start",
    "speech_end",
    "playback_started",
    "playback_report",
}

STATS: dict[str, int] = {"structured": 0, "raw": 0, "internal": 0, "errors": 0, "replies": 0}


class Wire:
    """A plain DEALER socket, so the test sees every frame exactly as sent."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.ctx = zmq.Context()
        self.sock = self._connect()
        self.n = 0

    def _connect(self) -> zmq.Socket[bytes]:
        sock = self.ctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.connect(self.endpoint)
        return sock

    def reconnect(self) -> None:
        """A new connection (a new session), as a client does after ``bye``."""
        self.sock.close(linger=0)
        self.sock = self._connect()
        assert self.hello()["type"] == "welcome"

    def close(self) -> None:
        self.sock.close(linger=0)
        self.ctx.term()

    def send(self, doc: dict[str, Any]) -> None:
        self.sock.send(msgpack.packb(doc, use_bin_type=True))

    def until(self, ref: str) -> list[dict[str, Any]]:
        """Every message received up to and including the one whose ref is ``ref``."""
        got: list[dict[str, Any]] = []
        while True:
            if not self.sock.poll(REPLY_TIMEOUT_MS):
                raise AssertionError(f"no reply to {ref} in {REPLY_TIMEOUT_MS} ms; got {got}")
            msg = msgpack.unpackb(self.sock.recv(), raw=False, strict_map_key=False)
            got.append(msg)
            if msg.get("ref") == ref:
                return got

    def marker(self) -> str:
        self.n += 1
        return f"m-{self.n}"

    def hello(self) -> dict[str, Any]:
        ref = self.marker()
        self.send({"type": "hello", "id": ref, "protocol": 1, "client": "fuzz"})
        return self.until(ref)[-1]


class Checker:
    """Invariants of the world and relationships, from the world file and the memory settings."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.clock = 0.0
        bounds = MemorySettings().relationships
        self.bounds = {k: (b.min, b.max) for k, b in bounds.items()}

    def world_state(self, reply: dict[str, Any], reset: bool) -> None:
        assert reply["type"] == "world_state_reply", reply
        t = reply["game_time"]
        assert isinstance(t, int | float) and math.isfinite(t), f"world clock is {t!r}"
        if not reset:
            assert t >= self.clock, f"world clock went back from {self.clock} to {t}"
        self.clock = t
        declared = self.world.file.variables
        assert set(reply["variables"]) == set(declared), reply["variables"]
        for name, value in reply["variables"].items():
            problem = value_fits(value, declared[name])
            assert problem is None, f"variable {name}: {problem}"
        quests = self.world.file.quests
        assert set(reply["quests"]) == set(quests)
        for q, state in reply["quests"].items():
            assert state in quests[q].states, f"quest {q} is in undeclared state {state!r}"

    def relationship(self, msg: dict[str, Any]) -> None:
        for dim, value in msg.get("values", {}).items():
            lo, hi = self.bounds.get(dim, (-math.inf, math.inf))
            assert isinstance(value, int | float) and math.isfinite(value), (dim, value)
            assert lo <= value <= hi, f"relationship {dim}={value} outside [{lo}, {hi}]"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    tmp = tmp_path_factory.mktemp("fuzz")
    log = tmp / "server.log"
    env = {
        **os.environ,
        # espeak and one STT worker: voice conversations work, at a fraction of the CPU.
        "NPC_RUNTIME_VOICE": json.dumps({"tts": "espeak", "stt_processes": 1}),
        # The test's socket sends nothing between exchanges, and one exchange may take long on a
        # loaded machine: the client time-out is not what is fuzzed here.
        "NPC_RUNTIME_CLIENT_TIMEOUT": "600",
    }
    args = ["--bind", "tcp://127.0.0.1:0", "--personas", str(REPO / "personas"), "--db", str(tmp / "f.db")]
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "npc_runtime.cli", "serve", *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    endpoint = ""
    deadline = time.monotonic() + 120
    while not endpoint and time.monotonic() < deadline and proc.poll() is None:
        m = re.search(r"listening on (\S+)", log.read_text())
        if m:
            endpoint = m.group(1)
        else:
            time.sleep(0.05)  # polling a log file: no event to wait on
    assert endpoint, log.read_text()
    try:
        yield endpoint, log
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        print(
            f"\nfuzz: {STATS['structured']} structured + {STATS['raw']} raw messages tried; "
            f"{STATS['internal']} internal errors; {STATS['errors']} typed errors; {STATS['replies']} replies"
        )
        text = log.read_text()
        assert "Traceback" not in text, text[text.index("Traceback") - 2000 :][:6000]


@pytest.fixture(scope="module")
def world() -> World:
    return load_world(REPO / "personas" / "village.world.yaml")


@pytest.fixture(scope="module")
def session(server: tuple[str, Path], world: World) -> Iterator[tuple[Wire, Vocabulary, Checker]]:
    wire = Wire(server[0])
    welcome = wire.hello()
    assert welcome["type"] == "welcome"
    vocab = Vocabulary(
        npcs=[n["id"] for n in welcome["npcs"]],
        entities=sorted(world.kinds),
        facts=sorted(world.file.facts),
        events=sorted(world.file.events),
        dimensions=sorted(MemorySettings().relationships),
    )
    ref = wire.marker()
    wire.send({"type": "save", "id": ref})
    vocab.blobs.append(wire.until(ref)[-1]["blob"])
    yield wire, vocab, Checker(world)
    wire.close()


def exchange(wire: Wire, checker: Checker, frame: bytes, doc: dict[str, Any] | None) -> None:
    """Send one fuzzed frame, then ping and world_state; check replies and invariants."""
    mtype = doc.get("type") if isinstance(doc, dict) else None
    wire.sock.send(frame)
    if mtype == "bye":
        # What a client sees after its bye depends on when the bye is handled; that the runtime
        # answers later messages with not_introduced is tested in tests/runtime/test_hardening_wiring.py.
        wire.reconnect()
    ping, state = wire.marker(), wire.marker()
    wire.send({"type": "ping", "id": ping, "t": 7.25})
    wire.send({"type": "world_state", "id": state})
    try:
        got = wire.until(state)
    except AssertionError as exc:
        raise AssertionError(f"after {doc or frame!r}: {exc}") from None
    fid = doc.get("id") if doc else None
    if isinstance(fid, bool) or not isinstance(fid, str | int):
        fid = None
    replied = error = False
    for msg in got:
        if msg.get("type") == "error":
            assert msg.get("code") != "internal", f"internal error for {doc or frame!r}: {msg}"
            if msg.get("ref") == fid and fid is not None:
                error = True
                STATS["errors"] += 1
        if fid is not None and msg.get("ref") == fid:
            replied = True
        if msg.get("type") in ("relationship", "relationship_changed"):
            checker.relationship(msg)
        if msg.get("type") == "conversation_started" and msg.get("conversation_id"):
            wire_conv = msg["conversation_id"]
            if wire_conv not in VOCAB_CONVERSATIONS:
                VOCAB_CONVERSATIONS.append(wire_conv)
        if msg.get("type") == "save_data" and isinstance(msg.get("blob"), bytes):
            SAVED.append(msg["blob"])
    pongs = [m for m in got if m.get("ref") == ping]
    assert pongs and pongs[0]["type"] == "pong" and pongs[0].get("t") == 7.25, got
    STATS["replies"] += replied
    if fid is not None and isinstance(mtype, str) and mtype not in SILENT:
        assert replied, f"no reply with ref {fid!r} to {doc!r}: {got}"
    reset = mtype in ("load", "world_reset") and not error
    checker.world_state(got[-1], reset)


VOCAB_CONVERSATIONS: list[str] = []
SAVED: list[bytes] = []


def _doc_of(frame: bytes) -> dict[str, Any] | None:
    try:
        doc = msgpack.unpackb(frame, raw=False, strict_map_key=False)
    except Exception:
        return None
    return doc if isinstance(doc, dict) else None


FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    # The server's state carries over between examples, so a replay is not the same test: no
    # shrinking; a failure names the message that caused it.
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)


@FUZZ_SETTINGS
@given(data=st.data())
def test_structured_messages_never_break_the_runtime(
    session: tuple[Wire, Vocabulary, Checker], data: st.DataObject
) -> None:
    wire, vocab, checker = session
    vocab.conversations = VOCAB_CONVERSATIONS[-4:]
    vocab.blobs = (vocab.blobs + SAVED)[-4:]
    for _ in range(data.draw(st.integers(1, 8))):
        doc = message_dict(data.draw, vocab)
        if doc["type"] == "load" and data.draw(st.booleans()) and vocab.blobs:
            doc["blob"] = mutated_blob(data.draw, data.draw(pick(vocab.blobs)))
        doc["id"] = data.draw(st.one_of(st.integers(0, 10**6), st.text(max_size=6).map(lambda s: "f" + s)))
        try:
            frame = msgpack.packb(doc, use_bin_type=True)
        except (OverflowError, ValueError):
            continue  # hypothesis drew an int msgpack cannot carry
        STATS["structured"] += 1
        exchange(wire, checker, frame, doc)


@FUZZ_SETTINGS
@given(data=st.data())
def test_mutated_examples_never_break_the_runtime(
    session: tuple[Wire, Vocabulary, Checker], data: st.DataObject
) -> None:
    wire, _vocab, checker = session
    vectors = json.loads((REPO / "docs" / "protocol-vectors.json").read_text())
    seeds = [bytes.fromhex(v["msgpack_hex"]) for v in vectors if v["direction"] == "client"]
    for _ in range(data.draw(st.integers(1, 8))):
        frame = mutated_bytes(data.draw, seeds)
        STATS["raw"] += 1
        exchange(wire, checker, frame, _doc_of(frame))
