"""Test vectors from docs/protocol.md: every JSON example there, validated and msgpack-encoded.

``tools/protocol_vectors.py`` writes them to ``docs/protocol-vectors.json``; the Python tests check
the docs against the code, and the C# and GDScript codecs are tested against the same file.
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

import msgpack

from .messages import CLIENT_TYPES, SERVER_TYPES

_BLOCK = re.compile(r"```json\n(.*?)```", re.S)


def _unbin(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"$bin"}:
            return base64.b64decode(value["$bin"])
        return {k: _unbin(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unbin(v) for v in value]
    return value


def examples(doc: str) -> list[dict[str, Any]]:
    """Every ```json block of the document, parsed (binary values as bytes)."""
    out = []
    for block in _BLOCK.findall(doc):
        try:
            out.append(_unbin(json.loads(block)))
        except json.JSONDecodeError as exc:
            raise ValueError(f"bad JSON example in protocol doc: {exc}\n{block}") from exc
    return out


def direction(mtype: str) -> str:
    if mtype in CLIENT_TYPES:
        return "client"
    if mtype in SERVER_TYPES:
        return "server"
    raise ValueError(f"example of unknown message type {mtype!r}")


def build_vectors(doc_path: Path) -> list[dict[str, Any]]:
    vectors = []
    for ex in examples(doc_path.read_text(encoding="utf-8")):
        mtype = ex.get("type")
        if not isinstance(mtype, str):
            continue
        cls = (CLIENT_TYPES if direction(mtype) == "client" else SERVER_TYPES)[mtype]
        cls.model_validate(ex)  # raises if the doc disagrees with the code
        packed = msgpack.packb(ex, use_bin_type=True)
        vectors.append(
            {
                "type": mtype,
                "direction": direction(mtype),
                "json": json.loads(json.dumps(ex, default=lambda b: {"$bin": base64.b64encode(b).decode()})),
                "msgpack_hex": packed.hex(),
            }
        )
    return vectors
