"""The protocol doc and the code agree; every message round-trips through the codec."""

from __future__ import annotations

import json
from pathlib import Path

import msgpack
import pytest

from npc_runtime.protocol import codec
from npc_runtime.protocol.messages import CLIENT_TYPES, SERVER_TYPES
from npc_runtime.protocol.vectors import build_vectors

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "protocol.md"
VECTORS = build_vectors(DOC)


def test_every_message_type_has_a_documented_example() -> None:
    documented = {v["type"] for v in VECTORS}
    missing = sorted((set(CLIENT_TYPES) | set(SERVER_TYPES)) - documented)
    assert not missing, f"docs/protocol.md has no example for: {missing}"


@pytest.mark.parametrize("vector", VECTORS, ids=lambda v: v["type"])
def test_example_round_trips(vector: dict) -> None:  # type: ignore[type-arg]
    data = bytes.fromhex(vector["msgpack_hex"])
    decode = codec.decode_client if vector["direction"] == "client" else codec.decode_server
    msg = decode(data)
    again = decode(codec.encode(msg))
    assert again == msg
    # the codec writes back every documented field with the documented value
    written = msgpack.unpackb(codec.encode(msg), raw=False)
    documented = msgpack.unpackb(data, raw=False)
    for key, value in documented.items():
        assert written.get(key) == value, (
            f"{vector['type']}.{key}: wrote {written.get(key)!r}, doc says {value!r}"
        )


def test_vectors_file_is_current() -> None:
    on_disk = json.loads((ROOT / "docs" / "protocol-vectors.json").read_text(encoding="utf-8"))
    assert on_disk == json.loads(json.dumps(VECTORS)), "run: python tools/protocol_vectors.py"


def test_client_and_server_types_do_not_overlap() -> None:
    assert not set(CLIENT_TYPES) & set(SERVER_TYPES)
