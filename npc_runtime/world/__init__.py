"""The world concern: a branching world-state graph driven by game events.

- :mod:`.model`: the world file schema (what designers write);
- :mod:`.expr` / :mod:`.evaluate`: the expression language (parse, type-check, compile; no eval);
- :mod:`.values`: the same language over plain named values, without a world (used by memory);
- :mod:`.compiled`: a world file checked and compiled, with the transition dependency index;
- :mod:`.state`, :mod:`.engine`, :mod:`.knowledge`: state, applying events, what each NPC knows;
- :mod:`.store`, :mod:`.saves`: persistence (SQLite, the event log) and save blobs;
- :mod:`.lint`, :mod:`.show`, :mod:`.cli`: designer tools.

The core (everything but ``store``, ``show`` and ``cli``) does no I/O.
"""
