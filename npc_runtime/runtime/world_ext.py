"""Runtime glue for the world concern (replaced by the world work)."""

from __future__ import annotations

from .extension import Extension


class WorldExtension(Extension):
    name = "world"
