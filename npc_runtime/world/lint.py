"""``npc-runtime world lint``: every problem of a world (and its personas) at once.

Besides schema, name and type errors, each quest's state graph is analysed with networkx:

- states that cannot be reached from the quest's initial state;
- transitions that can never fire: their ``from`` state is unreachable, an earlier transition from
  the same state has no condition and always wins, their condition is false whatever happens
  (constant, outside a variable's declared bounds, or reading only variables nothing ever changes);
- dead ends: reachable states that are not ``final`` and have no way out;
- states from which no final state can be reached (a warning: the quest can get stuck).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import networkx as nx

from ..expr import Bin, EvalError, ExprError, Lit, Name, Node, Type, check_condition
from ..expr.evaluate import compile_node
from ..personas.loader import PERSONA_SUFFIX, load_persona_file
from ..personas.schema import Persona
from ..personas.yamlfile import Loc, Problem, field_name, line_for, load_yaml
from .compiled import WORLD_SUFFIX, World, compile_text
from .engine import WorldEnv
from .personas import action_writes, check_persona, persona_warnings
from .state import initial_state

# Keys that the game itself can change through built-in events and messages.
GAME_WRITES = {"r:owns", "r:located_in", "r:*", "k:*"}


def world_files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(path.glob(f"*{WORLD_SUFFIX}"))
    return [path]


def lint_path(path: Path, external: dict[str, Type] | None = None) -> list[Problem]:
    """Lint a world file, or a folder's world file and persona files (personas are checked
    against the world, plus ``external``: names other concerns own, e.g. ``relationship.trust``).
    A world file next to persona files is linted with them."""
    files = world_files(path)
    if not files:
        return [Problem(str(path), None, "", f"no *{WORLD_SUFFIX} file found")]
    if len(files) > 1:
        return [
            Problem(
                str(path),
                None,
                "",
                f"several world files found ({', '.join(f.name for f in files)}); keep one",
            )
        ]
    wfile = files[0]
    try:
        text = wfile.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return [Problem(str(wfile), None, "", f"cannot read file: {exc}")]
    folder = path if path.is_dir() else wfile.parent
    return lint_world_text(text, str(wfile), sorted(folder.glob(f"*{PERSONA_SUFFIX}")), external)


def lint_world_text(
    text: str, file: str, persona_files: Iterable[Path] = (), external: dict[str, Type] | None = None
) -> list[Problem]:
    world, problems, lines = compile_text(text, file)
    if world is None:
        return problems
    personas: list[Persona] = []
    for pf in persona_files:
        persona, found = load_persona_file(pf, lambda p: check_persona(world, p, external))
        problems.extend(found)
        if persona is not None:
            personas.append(persona)
            _, plines = load_yaml(pf.read_text(encoding="utf-8"), str(pf))
            for fld, message in persona_warnings(world, persona, external):
                loc = tuple(int(x) if x.isdigit() else x for x in fld.split("."))
                problems.append(Problem(str(pf), line_for(plines, loc), fld, message, "warning"))
    writes = world.writes | GAME_WRITES | action_writes(world, personas)
    for loc, message, severity in graph_problems(world, writes):
        problems.append(Problem(file, line_for(lines, loc), field_name(loc), message, severity))
    return problems


def quest_graph(world: World, quest_id: str) -> nx.MultiDiGraph:
    """States as nodes; one edge per transition (key = its index in the file)."""
    quest = world.file.quests[quest_id]
    g = nx.MultiDiGraph()
    for s, st in quest.states.items():
        g.add_node(s, final=st.final)
    for i, t in enumerate(quest.transitions):
        if t.from_ in quest.states and t.to in quest.states:
            g.add_edge(t.from_, t.to, key=i, label=t.id or "", when=t.when or "", silent=t.say is None)
    return g


def graph_problems(world: World, writes: set[str]) -> list[tuple[Loc, str, str]]:
    out: list[tuple[Loc, str, str]] = []
    state = initial_state(world)
    for q, quest in world.file.quests.items():
        if quest.initial not in quest.states:
            continue
        g = quest_graph(world, q)
        reachable = nx.descendants(g, quest.initial) | {quest.initial}
        for s in quest.states:
            if s not in reachable:
                out.append(
                    (
                        ("quests", q, "states", s),
                        f"state '{s}' of quest '{q}' cannot be reached from '{quest.initial}'",
                        "error",
                    )
                )
        never: set[int] = set()
        unconditional: dict[str, int] = {}
        for i, t in enumerate(quest.transitions):
            loc: Loc = ("quests", q, "transitions", i)
            why = None
            if t.from_ not in reachable:
                why = f"its 'from' state '{t.from_}' cannot be reached"
            elif t.from_ in unconditional:
                why = f"transition {unconditional[t.from_]} from '{t.from_}' has no condition and always fires first"
            elif t.when is not None:
                why = _never_true(world, t.when, writes, state)
            if why:
                never.add(i)
                out.append(
                    (loc, f"transition {t.id or i} ({t.from_} -> {t.to}) can never fire: {why}", "error")
                )
            if t.when is None and t.from_ not in unconditional:
                unconditional[t.from_] = i
        live = nx.DiGraph()
        live.add_nodes_from(quest.states)
        live.add_edges_from(
            (t.from_, t.to)
            for i, t in enumerate(quest.transitions)
            if i not in never and t.to in quest.states
        )
        finals = {s for s, st in quest.states.items() if st.final}
        for s in sorted(reachable):
            st = quest.states[s]
            if not st.final and live.out_degree(s) == 0:
                out.append(
                    (
                        ("quests", q, "states", s),
                        f"dead end: quest '{q}' can reach state '{s}' but never leave it; add a transition or mark it final: true",
                        "error",
                    )
                )
        if not finals:
            out.append((("quests", q, "states"), f"quest '{q}' has no final state (final: true)", "warning"))
            continue
        can_finish = set(finals)
        for f in finals:
            can_finish |= nx.ancestors(live, f)
        for s in sorted(reachable - can_finish):
            if live.out_degree(s) > 0:
                out.append(
                    (
                        ("quests", q, "states", s),
                        f"from state '{s}' quest '{q}' can never reach a final state",
                        "warning",
                    )
                )
    return out


# An expression that fails on the start state (division by zero, a name the start state has not):
# lint cannot tell whether it is always false, and says nothing of it.
_CANNOT_TELL = (EvalError, ExprError, LookupError, ArithmeticError, TypeError, ValueError)


def _never_true(world: World, src: str, writes: set[str], state: Any) -> str | None:
    try:
        checked = check_condition(src, world.scope())
    except ExprError:
        return None  # already reported as a type error
    if not checked.reads:
        try:
            value = compile_node(checked.node)(WorldEnv(state))
        except _CANNOT_TELL:
            return None
        return None if value else "its condition is always false"
    bounds = _bounds_conflict(world, checked.node)
    if bounds:
        return bounds
    static = [k for k in checked.reads if not _written(k, writes)]
    if len(static) == len(checked.reads):
        try:
            value = compile_node(checked.node)(WorldEnv(state))
        except _CANNOT_TELL:
            return None
        if not value:
            names = ", ".join(sorted(k[2:] for k in static))
            return f"it reads only {names}, which no event rule, transition or persona action changes, and it is false at the start"
    return None


def _written(key: str, writes: set[str]) -> bool:
    """Whether anything may change what ``key`` reads (r:<type>:<to> is covered by r:<type> and r:*)."""
    if key in writes:
        return True
    if key.startswith("r:"):
        return "r:*" in writes or "r:" + key.split(":")[1] in writes
    if key.startswith("k:"):
        return "k:*" in writes
    return False


def _conjuncts(node: Node) -> list[Node]:
    if isinstance(node, Bin) and node.op == "and":
        return _conjuncts(node.left) + _conjuncts(node.right)
    return [node]


def _bounds_conflict(world: World, node: Node) -> str | None:
    """A conjunction of ``var <op> number`` comparisons that no value within the bounds satisfies."""
    ranges: dict[str, tuple[float, float]] = {}
    for c in _conjuncts(node):
        if not (isinstance(c, Bin) and c.op in ("==", "<", "<=", ">", ">=")):
            continue
        if isinstance(c.left, Name) and c.left.kind == "var" and isinstance(c.right, Lit):
            name, op, n = c.left.name, c.op, c.right.value
        elif isinstance(c.right, Name) and c.right.kind == "var" and isinstance(c.left, Lit):
            flip = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "=="}
            name, op, n = c.right.name, flip[c.op], c.left.value
        else:
            continue
        if not isinstance(n, int) or isinstance(n, bool):
            continue
        decl = world.file.variables[name]
        lo, hi = ranges.get(
            name,
            (
                decl.min if decl.min is not None else float("-inf"),
                decl.max if decl.max is not None else float("inf"),
            ),
        )
        if op == "==":
            lo, hi = max(lo, n), min(hi, n)
        elif op == ">":
            lo = max(lo, n + 1)
        elif op == ">=":
            lo = max(lo, n)
        elif op == "<":
            hi = min(hi, n - 1)
        else:
            hi = min(hi, n)
        if lo > hi:
            span = f"min {decl.min}" if decl.min is not None else ""
            span += (", " if span and decl.max is not None else "") + (
                f"max {decl.max}" if decl.max is not None else ""
            )
            return f"no value of {name} ({span or 'no bounds'}) satisfies it"
        ranges[name] = (lo, hi)
    return None
