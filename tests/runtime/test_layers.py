"""The package's layers, checked over its import graph (read from the source with ``ast``).

From the top: the command line, then the runtime (the host), then the concerns (world, memory,
voice: independent of each other), then the host seam, then dialogue, then the leaves. A module
may import its own package and anything in a lower layer, never a higher one or a sibling concern,
and no chain of imports leads back to where it started.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "npc_runtime"

# Top to bottom. Names in one tuple are siblings that must not import each other.
LAYERS: list[tuple[str, ...]] = [
    ("cli",),
    ("tools_chat", "evals"),
    ("cluster",),
    ("runtime",),
    ("world", "memory", "voice"),
    ("host",),
    ("dialogue",),
    ("personas",),
    ("expr", "storage", "transport", "settings", "console", "text", "observability"),
    ("protocol",),
    ("clock", "errors", "__init__"),
]
RANK = {name: i for i, names in enumerate(LAYERS) for name in names}


def _module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path, runtime_only: bool, modules: set[str]) -> Iterator[str]:
    """Absolute names of the npc_runtime modules ``path`` imports (``runtime_only``: leave out
    imports under ``if TYPE_CHECKING:``, which never run)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    skip: set[int] = set()
    if runtime_only:
        for node in ast.walk(tree):
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                skip |= {id(n) for child in node.body for n in ast.walk(child)}
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            if target.startswith("npc_runtime"):
                subs = [f"{target}.{a.name}" for a in node.names if f"{target}.{a.name}" in modules]
                # "from . import scoring" imports the module scoring (its package is already
                # being imported); "from .memory import MemoryService" imports the package.
                yield from subs or [target]
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("npc_runtime"):
                    yield alias.name


def _graph(runtime_only: bool) -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        found = _imports(path, runtime_only, set(modules))
        graph[name] = {t for t in found if t in modules and t != name}
    return graph


def _top(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def test_every_top_level_module_and_package_has_a_layer() -> None:
    tops = {_top(m) for m in _graph(runtime_only=False)}
    assert tops - set(RANK) == set(), "give new top-level modules a layer in LAYERS"


def test_no_module_imports_a_higher_layer_or_a_sibling_concern() -> None:
    wrong = []
    for module, targets in _graph(runtime_only=False).items():
        src = _top(module)
        for target in targets:
            dst = _top(target)
            if dst != src and RANK[dst] <= RANK[src]:
                wrong.append(f"{module} -> {target}")
    assert wrong == []


def test_there_are_no_import_cycles() -> None:
    graph = _graph(runtime_only=True)
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append([*path[path.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert cycles == []


@pytest.mark.parametrize("concern", ["world", "memory", "voice"])
def test_concerns_know_the_host_seam_not_the_runtime(concern: str) -> None:
    graph = _graph(runtime_only=False)
    reach = {t for m, ts in graph.items() if _top(m) == concern for t in ts}
    assert not any(_top(t) in ("runtime", "cli", "tools_chat") for t in reach)
