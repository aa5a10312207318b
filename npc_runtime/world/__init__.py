"""The world concern: a branching world-state graph driven by game events.

- :mod:`.model`: the world file schema (what designers write);
- the expression language it compiles conditions and effects with is :mod:`npc_runtime.expr`;
- :mod:`.compiled`: a world file checked and compiled, with the transition dependency index;
- :mod:`.state`, :mod:`.engine`, :mod:`.knowledge`: state, applying events, what each NPC knows;
- :mod:`.store`, :mod:`.saves`: persistence (SQLite, the event log) and save blobs;
- :mod:`.lint`, :mod:`.show`, :mod:`.cli`: designer tools;
- :mod:`.extension`: how the world plugs into the host (wire messages, views, actions, saves).

The core (everything but ``store``, ``show``, ``cli`` and ``extension``) does no I/O.
"""
