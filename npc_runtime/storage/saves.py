"""The save blob: one versioned msgpack document holding every concern's part.

The game stores the bytes in its own save slot. Layout::

    {"format": "npc-runtime-save", "version": 1, "min_reader": 1,
     "runtime": "0.1.0", "parts": {"world": {...}, "memory": {...}}, "checksum": "sha256:..."}

``version`` is the format this runtime wrote; ``min_reader`` the oldest format version a reader
must understand to load it. A blob newer than this runtime can read, or older than
:data:`SAVE_MIN_FORMAT`, is refused with a precise :class:`SaveFormatError`. ``checksum`` (added
without a format change: older readers ignore it) tells a blob edited outside the runtime.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Literal

import msgpack

from .. import __version__
from ..errors import MSGPACK_DECODE_ERRORS, SaveFormatError

SAVE_MAGIC = "npc-runtime-save"
SAVE_FORMAT = 1
SAVE_MIN_FORMAT = 1


Integrity = Literal["allow", "warn", "refuse"]


@dataclass
class SaveBlob:
    parts: dict[str, Any] = field(default_factory=dict)
    version: int = SAVE_FORMAT
    runtime: str = __version__
    altered: bool | None = None  # decoded blobs: True when the checksum does not match, None without one


def checksum(parts: Any) -> str:
    """SHA-256 of the parts as msgpack. It tells a blob edited outside the runtime from one it
    wrote (a hex editor, a save editor); it is not a signature: whoever edits a save can recompute
    it, so a game that must resist cheating signs blobs itself."""
    return "sha256:" + hashlib.sha256(msgpack.packb(parts, use_bin_type=True)).hexdigest()


def encode_save(blob: SaveBlob) -> bytes:
    doc = {
        "format": SAVE_MAGIC,
        "version": blob.version,
        "min_reader": SAVE_MIN_FORMAT,
        "runtime": blob.runtime,
        "parts": blob.parts,
        "checksum": checksum(blob.parts),
    }
    return msgpack.packb(doc, use_bin_type=True)


def decode_save(data: bytes, integrity: Integrity = "warn") -> SaveBlob:
    """Bytes -> a save blob; ``integrity="refuse"`` refuses a blob whose checksum does not match
    (or that has none); with ``"warn"`` or ``"allow"`` such a blob loads with ``altered`` set, for
    the caller to report (or not)."""
    try:
        doc = msgpack.unpackb(data, raw=False, strict_map_key=False)
    except MSGPACK_DECODE_ERRORS as exc:
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
    stored = doc.get("checksum")
    try:
        altered = None if stored is None else stored != checksum(parts)
    except (TypeError, ValueError, OverflowError):  # parts msgpack cannot re-pack: not ours
        altered = True
    if integrity == "refuse" and altered is not False:
        what = "carries no checksum" if altered is None else "was altered after npc-runtime wrote it"
        raise SaveFormatError(
            f"the save blob {what} (its checksum does not match) and save_integrity is 'refuse'; "
            "use a save the runtime wrote, or set save_integrity to 'warn' to allow edited saves"
        )
    return SaveBlob(parts=parts, version=version, runtime=str(doc.get("runtime")), altered=altered)
