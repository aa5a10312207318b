"""npc_runtime: a headless, local-first NPC voice runtime for games.

Engines talk to it over ZeroMQ with msgpack (see ``docs/protocol.md``).
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
