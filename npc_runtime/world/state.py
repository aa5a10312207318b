"""The changing part of a world: variable values, quest states, relations, who knows what.

Separate from the content (:class:`~npc_runtime.world.compiled.World`), like ink's StoryState:
the state is what saves, loads and the SQLite store hold. Relations live in a networkx
``MultiDiGraph`` whose nodes are entity ids and whose edge keys are relation types.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import networkx as nx

from .compiled import World

STATE_FORMAT = 1  # version of the snapshot layout below


@dataclass
class Known:
    """An NPC knows a fact: since when (game hours) and how it learned it."""

    since: float
    source: str  # start | witnessed | told:<who> | rumour:<who> | effect


@dataclass
class WorldState:
    vars: dict[str, Any]
    quests: dict[str, str]
    graph: nx.MultiDiGraph
    knowledge: dict[str, dict[str, Known]] = field(default_factory=dict)  # npc -> fact -> Known
    event_facts: dict[str, str] = field(default_factory=dict)  # generated facts (seen events): id -> prose
    pending: list[tuple[float, str, str]] = field(default_factory=list)  # rumours: (due, npc, fact), a heap
    seq: int = 0  # number of the last applied event
    game_time: float = 0.0

    def relations(self) -> list[tuple[str, str, str]]:
        return sorted((a, k, b) for a, b, k in self.graph.edges(keys=True))

    def knows(self, npc: str, fact: str) -> bool:
        return fact in self.knowledge.get(npc, ())

    def copy(self) -> WorldState:
        return WorldState(
            dict(self.vars),
            dict(self.quests),
            self.graph.copy(),
            {n: dict(f) for n, f in self.knowledge.items()},
            dict(self.event_facts),
            list(self.pending),
            self.seq,
            self.game_time,
        )

    # snapshots (saves, the store's epochs) --------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "format": STATE_FORMAT,
            "vars": dict(self.vars),
            "quests": dict(self.quests),
            "relations": [list(r) for r in self.relations()],
            "knowledge": {
                npc: {f: [k.since, k.source] for f, k in sorted(facts.items())}
                for npc, facts in sorted(self.knowledge.items())
            },
            "event_facts": dict(self.event_facts),
            "pending": [list(p) for p in sorted(self.pending)],
            "seq": self.seq,
            "game_time": self.game_time,
        }

    @classmethod
    def from_dict(cls, doc: dict[str, Any], world: World) -> WorldState:
        """Rebuild from :meth:`to_dict` output (already reconciled with ``world``)."""
        g = new_graph(world)
        for a, k, b in doc["relations"]:
            g.add_edge(a, b, key=k)
        knowledge = {
            npc: {f: Known(float(v[0]), str(v[1])) for f, v in facts.items()}
            for npc, facts in doc["knowledge"].items()
        }
        return cls(
            vars=dict(doc["vars"]),
            quests=dict(doc["quests"]),
            graph=g,
            knowledge=knowledge,
            event_facts=dict(doc.get("event_facts", {})),
            pending=sorted((float(d), str(n), str(f)) for d, n, f in doc.get("pending", [])),  # a valid heap
            seq=int(doc.get("seq", 0)),
            game_time=float(doc.get("game_time", 0.0)),
        )


def new_graph(world: World) -> nx.MultiDiGraph:
    g = nx.MultiDiGraph()
    for eid, e in world.file.entities.items():
        g.add_node(eid, kind=e.kind)
    return g


def initial_state(world: World) -> WorldState:
    """The state a new game starts in (before transitions that fire at once; see Engine.start)."""
    g = new_graph(world)
    for r in world.file.relations:
        g.add_edge(r.from_, r.to, key=r.type)
    knowledge: dict[str, dict[str, Known]] = {}
    for fid, fact in world.file.facts.items():
        who = sorted(world.npcs) if fact.known_by == "all" else fact.known_by
        for npc in who:
            knowledge.setdefault(npc, {})[fid] = Known(0.0, "start")
    return WorldState(
        vars={name: v.start_value() for name, v in world.file.variables.items()},
        quests={q: quest.initial for q, quest in world.file.quests.items()},
        graph=g,
        knowledge=knowledge,
    )
