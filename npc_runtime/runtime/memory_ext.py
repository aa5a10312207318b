"""Runtime glue for the memory concern (replaced by the memory work)."""

from __future__ import annotations

from .extension import Extension


class MemoryExtension(Extension):
    name = "memory"
