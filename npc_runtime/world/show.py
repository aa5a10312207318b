"""``npc-runtime world show``: the quest graphs and the entity graph as a picture (pydot + graphviz).

Reading the picture: one box per quest. The initial state is bold, final states have a double
border, unreachable states are red and dashed. Exclusive branches (several transitions leaving one
state) are coloured alike and marked "or". Silent transitions are dashed; a transition that makes an
NPC speak shows the speaker. Below, the entities (shape by kind) and their relations.
"""

from __future__ import annotations

import textwrap
from typing import Literal

import networkx as nx

from ..errors import MissingDependencyError, NpcRuntimeError
from .compiled import World
from .lint import quest_graph

Format = Literal["png", "svg", "dot"]
SHAPES = {
    "character": "ellipse",
    "location": "house",
    "item": "note",
    "faction": "hexagon",
    "creature": "octagon",
}
COLOURS = {
    "character": "#dbeafe",
    "location": "#dcfce7",
    "item": "#fef9c3",
    "faction": "#f3e8ff",
    "creature": "#fee2e2",
}
BRANCH_COLOURS = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c"]
MAX_ENTITIES = 300  # bigger entity graphs are left out (they would be unreadable)


def _q(text: str) -> str:
    """A dot string literal; real newlines become dot's centred line breaks."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return '"' + escaped + '"'


def _wrap(text: str, width: int = 28) -> str:
    return "\n".join(textwrap.wrap(text, width)) if text else ""


def build_dot(world: World, entities: bool = True) -> str:
    """The picture as Graphviz dot source."""
    out = [
        f"digraph {_q(world.file.world)} {{",
        "  graph [rankdir=LR, fontname=Helvetica, compound=true, label="
        + _q(world.file.title or world.file.world)
        + ", labelloc=t, fontsize=20];",
        "  node [fontname=Helvetica, fontsize=11];",
        "  edge [fontname=Helvetica, fontsize=9];",
    ]
    for q, quest in world.file.quests.items():
        g = quest_graph(world, q)
        reachable = nx.descendants(g, quest.initial) | {quest.initial} if quest.initial in g else set()
        out.append(f"  subgraph {_q('cluster_' + q)} {{")
        out.append(f'    label={_q("quest: " + (quest.title or q))}; style=rounded; color="#94a3b8";')
        out.append(f"    {_q(q + '.__start')} [shape=point, width=0.12];")
        for s, st in quest.states.items():
            attrs = ["shape=box", 'style="rounded,filled"', 'fillcolor="#f8fafc"']
            label = s + ("\n" + _wrap(st.description) if st.description else "")
            if st.final:
                attrs.append("peripheries=2")
            if s == quest.initial:
                attrs.append("penwidth=2")
            if s not in reachable:
                attrs += ["color=red", "fontcolor=red", 'style="rounded,dashed"']
                label += "\n(unreachable)"
            out.append(f"    {_q(q + '.' + s)} [label={_q(label)}, {', '.join(attrs)}];")
        out.append(f"    {_q(q + '.__start')} -> {_q(q + '.' + quest.initial)};")
        out.append("  }")
        for s in quest.states:
            leaving = [i for i, t in enumerate(quest.transitions) if t.from_ == s and t.to in quest.states]
            for n, i in enumerate(leaving):
                t = quest.transitions[i]
                parts = [t.id or ""]
                if t.when:
                    parts.append("when " + t.when)
                parts += t.effects
                if t.say:
                    parts.append(f"{t.say.npc} says")
                if len(leaving) > 1:
                    parts.insert(0, "or" if n else "either")
                label = "\n".join(_wrap(p, 34) for p in parts if p)
                attrs = [f"label={_q(label)}"]
                if t.say is None:
                    attrs.append("style=dashed")
                if len(leaving) > 1:
                    c = BRANCH_COLOURS[n % len(BRANCH_COLOURS)]
                    attrs += [f"color={_q(c)}", f"fontcolor={_q(c)}"]
                out.append(f"  {_q(q + '.' + t.from_)} -> {_q(q + '.' + t.to)} [{', '.join(attrs)}];")
    out.extend(_legend())
    if entities and world.file.entities and len(world.file.entities) <= MAX_ENTITIES:
        out.append(f"  subgraph {_q('cluster_entities')} {{")
        out.append('    label="entities and relations"; style=rounded; color="#94a3b8";')
        for eid, e in world.file.entities.items():
            label = (e.name or eid) + (f"\n({eid})" if e.name else "")
            out.append(
                f"    {_q('e.' + eid)} [label={_q(label)}, shape={SHAPES[e.kind]}, style=filled, "
                f"fillcolor={_q(COLOURS[e.kind])}];"
            )
        for r in world.file.relations:
            if r.from_ in world.kinds and r.to in world.kinds:
                out.append(f"    {_q('e.' + r.from_)} -> {_q('e.' + r.to)} [label={_q(r.type)}];")
        out.append("  }")
    out.append("}")
    return "\n".join(out) + "\n"


def _legend() -> list[str]:
    return [
        '  subgraph "cluster_legend" {',
        '    label="legend"; style=rounded; color="#cbd5e1"; fontsize=10;',
        '    node [shape=box, style="rounded,filled", fillcolor="#f8fafc", fontsize=9];',
        '    "legend.initial" [label="initial state", penwidth=2];',
        '    "legend.final" [label="final state", peripheries=2];',
        '    "legend.a" [label="state"]; "legend.b" [label="state"]; "legend.c" [label="state"];',
        '    "legend.initial" -> "legend.a" [label="silent", style=dashed, fontsize=8];',
        '    "legend.a" -> "legend.final" [label="an NPC speaks", fontsize=8];',
        f'    "legend.b" -> "legend.c" [label="either", color="{BRANCH_COLOURS[0]}", fontcolor="{BRANCH_COLOURS[0]}", fontsize=8];',
        f'    "legend.b" -> "legend.final" [label="or (exclusive)", color="{BRANCH_COLOURS[1]}", fontcolor="{BRANCH_COLOURS[1]}", fontsize=8];',
        "  }",
    ]


class RenderError(NpcRuntimeError):
    """Graphviz could not draw the picture."""


def render(world: World, fmt: Format) -> bytes:
    """The picture as png or svg bytes (needs Graphviz's ``dot`` program), or dot source."""
    source = build_dot(world)
    if fmt == "dot":
        return source.encode()
    return _render_with_graphviz(source, fmt)


def _render_with_graphviz(source: str, fmt: str) -> bytes:
    try:
        import pydot
    except ImportError:
        raise MissingDependencyError("pydot", "viz") from None
    graphs = pydot.graph_from_dot_data(source)
    if not graphs:
        raise RenderError("internal error: the generated dot source did not parse")
    try:
        data = graphs[0].create(format=fmt)
    except FileNotFoundError:
        raise RenderError(
            "Graphviz's 'dot' program is not installed (Debian: apt-get install graphviz); "
            "or write --format dot and render it elsewhere"
        ) from None
    if not isinstance(data, bytes):
        raise RenderError(f"graphviz returned {type(data).__name__}, not an image")
    return data
