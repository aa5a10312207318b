"""Thornbrook: a small pygame open world that talks to its villagers through npc_runtime.

A worked example of a game integration: the game is a plain protocol client (see docs/demo.md).
Run it with ``python -m demo_game``.
"""

__all__: list[str] = []
