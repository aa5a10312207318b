"""The memory concern: per-NPC memory streams, retrieval, relationships, facts and reflection.

See docs/memory.md. :class:`MemoryService` is the entry point; the runtime reaches it through
``runtime.extension("memory")`` (:class:`npc_runtime.runtime.memory_ext.MemoryExtension`).
"""

from .relations import Fact, RelationshipChange, extract_facts
from .service import MemoryService, Recall, dialogue_importance
from .settings import Bound, MemorySettings, Weights
from .store import MemoryStore
from .types import InvalidMemoryError, Memory, NewMemory, Retrieved, describe

__all__ = [
    "Bound",
    "Fact",
    "InvalidMemoryError",
    "Memory",
    "MemoryService",
    "MemorySettings",
    "MemoryStore",
    "NewMemory",
    "Recall",
    "RelationshipChange",
    "Retrieved",
    "Weights",
    "describe",
    "dialogue_importance",
    "extract_facts",
]
