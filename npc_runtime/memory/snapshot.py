"""The memory part of the game's save blob: every table of the ``memory`` namespace as rows.

Embeddings are not saved (they are recomputed on load, in the load transaction), which keeps the
blob small and lets a save outlive a change of embedding model. Ids are kept, so reflections still
point at their evidence. Loading replaces all memory state: branches of a game never mix.
"""

from __future__ import annotations

import math
import sqlite3
import zlib
from typing import Any

import msgpack
import numpy as np

from ..errors import SaveFormatError
from .embeddings import Embedder
from .types import KINDS

PART_VERSION = 1

_ITEM_COLS = (
    "id",
    "npc_id",
    "kind",
    "text",
    "importance",
    "game_time",
    "wall_time",
    "player_id",
    "speaker",
    "conversation_id",
)
_TABLES: dict[str, tuple[str, ...]] = {
    "evidence": ("reflection_id", "memory_id"),
    "npc_state": ("npc_id", "seeded", "pending_importance", "reflected_upto"),
    "relationships": ("npc_id", "player_id", "dimension", "value", "game_time"),
    "facts": ("id", "npc_id", "player_id", "kind", "text", "game_time"),
}
_TABLE_NAMES = {
    "evidence": "memory_evidence",
    "npc_state": "memory_npc_state",
    "relationships": "memory_relationships",
    "facts": "memory_player_facts",
}


def export_state(conn: sqlite3.Connection) -> dict[str, Any]:
    out: dict[str, Any] = {"version": PART_VERSION}
    out["items"] = [
        list(r) for r in conn.execute(f"SELECT {', '.join(_ITEM_COLS)} FROM memory_items ORDER BY id")
    ]
    for key, cols in _TABLES.items():
        out[key] = [list(r) for r in conn.execute(f"SELECT {', '.join(cols)} FROM {_TABLE_NAMES[key]}")]
    return out


def pack(state: dict[str, Any]) -> dict[str, Any]:
    """The part as stored in the save blob: msgpack, zlib-compressed (memory text compresses ~4x,
    and the whole blob travels in one wire message)."""
    raw = msgpack.packb(state, use_bin_type=True)
    return {"version": PART_VERSION, "encoding": "msgpack+zlib", "data": zlib.compress(raw, 6)}


def unpack(part: Any) -> Any:
    """Inverse of :func:`pack`; a part without ``encoding`` is taken as the plain state."""
    if isinstance(part, dict) and part.get("encoding") == "msgpack+zlib":
        try:
            return msgpack.unpackb(zlib.decompress(part["data"]), raw=False, strict_map_key=False)
        except Exception as exc:  # zlib and msgpack raise several unrelated types on garbage
            raise SaveFormatError(f"the save's memory part is damaged ({exc}); use another save") from exc
    return part


def import_state(conn: sqlite3.Connection, data: Any, embedder: Embedder | None) -> None:
    """Replace all memory state with ``data`` (inside the caller's transaction)."""
    data = unpack(data)
    if not isinstance(data, dict) or not isinstance(data.get("version"), int):
        raise SaveFormatError(
            "the save's memory part is not a map with a version; it is not from npc-runtime"
        )
    if data["version"] > PART_VERSION:
        raise SaveFormatError(
            f"the save's memory part has version {data['version']}, newer than this runtime reads "
            f"({PART_VERSION}): upgrade npc-runtime"
        )
    items = _rows(data, "items", len(_ITEM_COLS))
    for r in items:
        if (
            not isinstance(r[0], int)
            or not isinstance(r[1], str)
            or r[2] not in KINDS
            or not isinstance(r[3], str)
        ):
            raise SaveFormatError(f"the save's memory part has a malformed memory row: {r[:4]!r}")
        if not all(isinstance(v, int | float) and math.isfinite(v) for v in r[4:7]):
            raise SaveFormatError(f"the save's memory part has a memory with bad numbers: id {r[0]}")
    tables = {key: _rows(data, key, len(cols)) for key, cols in _TABLES.items()}
    for table in (
        "memory_evidence",
        "memory_items",
        "memory_npc_state",
        "memory_relationships",
        "memory_player_facts",
    ):
        conn.execute(f"DELETE FROM {table}")
    vecs = embedder.embed([r[3] for r in items]) if embedder is not None and items else None
    model_id = embedder.model_id if embedder is not None else None
    conn.executemany(
        f"INSERT INTO memory_items({', '.join(_ITEM_COLS)}, embedding, model_id) VALUES ({','.join('?' * (len(_ITEM_COLS) + 2))})",
        [
            (*r, None if vecs is None else vecs[i].astype(np.float16).tobytes(), model_id)
            for i, r in enumerate(items)
        ],
    )
    for key, cols in _TABLES.items():
        conn.executemany(
            f"INSERT INTO {_TABLE_NAMES[key]}({', '.join(cols)}) VALUES ({','.join('?' * len(cols))})",
            tables[key],
        )


def _rows(data: dict[str, Any], key: str, width: int) -> list[list[Any]]:
    rows = data.get(key, [])
    if not isinstance(rows, list) or not all(isinstance(r, list) and len(r) == width for r in rows):
        raise SaveFormatError(f"the save's memory part has a malformed '{key}' table")
    return rows
