"""Storage: SQLite access (WAL), per-concern schema migrations, and save blobs."""

from .saves import SAVE_FORMAT, SAVE_MIN_FORMAT, SaveBlob, decode_save, encode_save
from .sqlite import APPLICATION_ID, Database

__all__ = [
    "APPLICATION_ID",
    "SAVE_FORMAT",
    "SAVE_MIN_FORMAT",
    "Database",
    "SaveBlob",
    "decode_save",
    "encode_save",
]
