"""The memory part of the game's save blob: every table of the ``memory`` namespace as rows.

Embeddings are not saved (they are recomputed on load, in the load transaction), which keeps the
blob small and lets a save outlive a change of embedding model. Ids are kept, so reflections still
point at their evidence. Loading replaces all memory state: branches of a game never mix.
"""

from __future__ import annotations

import math
import sqlite3
import zlib
from collections.abc import Mapping
from typing import Any

import msgpack
import numpy as np

from ..errors import MSGPACK_DECODE_ERRORS, SaveFormatError
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


def export_state(conn: Any) -> dict[str, Any]:
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


MAX_UNPACKED_BYTES = 256 << 20  # a zlib bomb in an edited save stops here, not at the RAM's end


_DAMAGED: tuple[type[Exception], ...] = (zlib.error, KeyError, *MSGPACK_DECODE_ERRORS)


def unpack(part: Any, max_bytes: int = MAX_UNPACKED_BYTES) -> Any:
    """Inverse of :func:`pack`; a part without ``encoding`` is taken as the plain state."""
    if isinstance(part, dict) and part.get("encoding") == "msgpack+zlib":
        try:
            inflater = zlib.decompressobj()
            raw = inflater.decompress(part["data"], max_bytes)
            if inflater.unconsumed_tail:
                raise SaveFormatError(
                    f"the save's memory part inflates to over {max_bytes} bytes; it is not a save "
                    "this runtime wrote"
                )
            return msgpack.unpackb(raw, raw=False, strict_map_key=False)
        except SaveFormatError:
            raise
        except _DAMAGED as exc:  # no 'data', or garbage in it
            raise SaveFormatError(f"the save's memory part is damaged ({exc}); use another save") from exc
    return part


def _opt_str(v: Any) -> bool:
    return v is None or isinstance(v, str)


def _int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and -(2**63) <= v < 2**63


def _finite(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _hours(v: Any) -> bool:
    return _finite(v) and 0 <= v <= 1e9


# Column checks per table, in the column order of _ITEM_COLS / _TABLES.
_CHECKS: dict[str, tuple[Any, ...]] = {
    "items": (_int, lambda v: isinstance(v, str), lambda v: v in KINDS, lambda v: isinstance(v, str),
              lambda v: _finite(v) and 0 <= v <= 10, _hours, _finite, _opt_str, _opt_str, _opt_str),
    "evidence": (_int, _int),
    "npc_state": (lambda v: isinstance(v, str), lambda v: _int(v) or isinstance(v, bool), _finite, _int),
    "relationships": (lambda v: isinstance(v, str), lambda v: isinstance(v, str),
                      lambda v: isinstance(v, str), _finite, _hours),
    "facts": (_int, lambda v: isinstance(v, str), lambda v: isinstance(v, str),
              lambda v: isinstance(v, str), lambda v: isinstance(v, str), _hours),
}  # fmt: skip


def check_rows(
    key: str, rows: list[list[Any]], bounds: Mapping[str, tuple[float, float]] | None = None
) -> list[str]:
    """Problems of one table of the memory part, each with its path in the save blob."""
    cols = _ITEM_COLS if key == "items" else _TABLES[key]
    problems: list[str] = []
    for i, row in enumerate(rows):
        for col, value, ok in zip(cols, row, _CHECKS[key], strict=True):
            if not ok(value):
                problems.append(f"parts.memory.{key}.{i}.{col}: {value!r} is not valid here")
        if key == "relationships" and bounds is not None and not problems:
            dim, value = row[2], row[3]
            if dim not in bounds:
                problems.append(f"parts.memory.relationships.{i}.dimension: unknown dimension '{dim}'")
            elif not bounds[dim][0] <= value <= bounds[dim][1]:
                lo, hi = bounds[dim]
                problems.append(f"parts.memory.relationships.{i}.value: {value} is outside [{lo}, {hi}]")
        if len(problems) >= 5:
            break
    return problems


def import_state(
    conn: Any,
    data: Any,
    embedder: Embedder | None,
    bounds: Mapping[str, tuple[float, float]] | None = None,
    *,
    shared: bool = False,
) -> None:
    """Replace all memory state with ``data`` (inside the caller's transaction).

    Every row is checked before anything is deleted; ``bounds`` (dimension -> (min, max)) also
    checks relationship values. Raises :class:`SaveFormatError` naming the path of the problem."""
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
    problems = check_rows("items", items)
    for key, rows in tables.items():
        problems += check_rows(key, rows, bounds)
    if problems:
        raise SaveFormatError("the save's memory part is invalid: " + "; ".join(problems[:5]))
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
    try:
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
    except sqlite3.IntegrityError as exc:  # duplicate keys, evidence of memories that do not exist
        raise SaveFormatError(f"the save's memory part is inconsistent ({exc})") from None
    if shared:  # PostgreSQL: identities continue after the loaded ids; every NPC gets a new
        # memory version, so the other workers' cached indexes are seen to be stale
        for table in ("memory_items", "memory_player_facts"):
            conn.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"GREATEST((SELECT max(id) FROM {table}), 1), (SELECT max(id) FROM {table}) IS NOT NULL)"
            )
        conn.execute(
            "INSERT INTO memory_npc_state(npc_id) SELECT DISTINCT npc_id FROM memory_items ON CONFLICT DO NOTHING"
        )
        conn.execute("UPDATE memory_npc_state SET version = nextval('memory_version'), prev_version = 0")
        conn.execute("UPDATE memory_npc_state SET reset_version = version")


def _rows(data: dict[str, Any], key: str, width: int) -> list[list[Any]]:
    rows = data.get(key, [])
    if not isinstance(rows, list) or not all(isinstance(r, list) and len(r) == width for r in rows):
        raise SaveFormatError(f"the save's memory part has a malformed '{key}' table")
    return rows
