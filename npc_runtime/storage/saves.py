"""The save blob: one versioned msgpack document holding every concern's part.

The game stores the bytes in its own save slot. Layout::

    {"format": "npc-runtime-save", "version": 1, "min_reader": 1,
     "runtime": "0.1.0", "parts": {"world": {...}, "memory": {...}}}

``version`` is the format this runtime wrote; ``min_reader`` the oldest format version a reader
must understand to load it. A blob newer than this runtime can read, or older than
:data:`SAVE_MIN_FORMAT`, is refused with a precise :class:`SaveFormatError`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import msgpack

from .. import __version__
from ..errors import SaveFormatError

SAVE_MAGIC = "npc-runtime-save"
SAVE_FORMAT = 1
SAVE_MIN_FORMAT = 1


@dataclass
class SaveBlob:
    parts: dict[str, Any] = field(default_factory=dict)
    version: int = SAVE_FORMAT
    runtime: str = __version__


def encode_save(blob: SaveBlob) -> bytes:
    doc = {
        "format": SAVE_MAGIC,
        "version": blob.version,
        "min_reader": SAVE_MIN_FORMAT,
        "runtime": blob.runtime,
        "parts": blob.parts,
    }
    return msgpack.packb(doc, use_bin_type=True)


def decode_save(data: bytes) -> SaveBlob:
    try:
        doc = msgpack.unpackb(data, raw=False, strict_map_key=False)
    except Exception as exc:  # msgpack raises several unrelated types for garbage input
        raise SaveFormatError(f"not an npc-runtime save blob: {exc}") from exc
    if not isinstance(doc, dict) or doc.get("format") != SAVE_MAGIC:
        raise SaveFormatError("not an npc-runtime save blob (missing the 'npc-runtime-save' marker)")
    version = doc.get("version")
    min_reader = doc.get("min_reader", version)
    if not isinstance(version, int) or not isinstance(min_reader, int):
        raise SaveFormatError("save blob has no integer format version")
    if min_reader > SAVE_FORMAT:
        raise SaveFormatError(
            f"save blob needs a reader of format {min_reader} (written by npc-runtime "
            f"{doc.get('runtime')}); this runtime reads format {SAVE_FORMAT}: upgrade npc-runtime"
        )
    if version < SAVE_MIN_FORMAT:
        raise SaveFormatError(
            f"save blob format {version} is older than the oldest this runtime loads "
            f"({SAVE_MIN_FORMAT}); load it with npc-runtime {doc.get('runtime')} and save again"
        )
    parts = doc.get("parts")
    if not isinstance(parts, dict):
        raise SaveFormatError("save blob has no 'parts' map")
    return SaveBlob(parts=parts, version=version, runtime=str(doc.get("runtime")))
