"""No import cycle inside console/, between any two modules.

The layers contract (pyproject.toml) orders the top-level packages; inside a package, modules could
still import each other in a ring. This test reads every module's imports with `ast`: at the top,
inside functions (lazy imports) and under `if TYPE_CHECKING:` alike, since a cycle a type checker
needs is still a cycle a reader has to untangle. A failure names each cycle, module by module.
"""

from __future__ import annotations

import ast
from collections import deque
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

Graph = dict[str, set[str]]


def module_files(root: Path, package: str = "console") -> dict[str, Path]:
    """Every module of the package by dotted name (a package by its own name, not `__init__`)."""
    found = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _known(name: str, modules: dict[str, Path]) -> str | None:
    """The module a dotted name lives in (`console.risk.RiskTracker` -> `console.risk`)."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def _base(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    """`from X import ...`: X as an absolute name (relative imports resolved)."""
    if not node.level:
        return node.module or ""
    here = module.split(".") if is_package else module.split(".")[:-1]
    here = here[: len(here) - node.level + 1]
    return ".".join([*here, *([node.module] if node.module else [])])


def _targets(node: ast.AST, module: str, is_package: bool, modules: dict[str, Path]) -> set[str]:
    """The package's modules one statement imports (`from pkg import sub` imports `pkg.sub`)."""
    if isinstance(node, ast.Import):
        found = {_known(alias.name, modules) for alias in node.names}
    elif isinstance(node, ast.ImportFrom):
        base = _base(node, module, is_package)
        found = {f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules
                 else _known(base, modules) for alias in node.names}
    else:
        return set()
    return {target for target in found if target is not None}


def import_graph(root: Path, package: str = "console") -> Graph:
    """module -> the package's modules it imports, anywhere in its source."""
    modules = module_files(root, package)
    graph: Graph = {}
    for module, path in modules.items():
        is_package = path.name == "__init__.py"
        tree = ast.parse(path.read_text(encoding="utf-8"))
        graph[module] = {target for node in ast.walk(tree)
                         for target in _targets(node, module, is_package, modules)} - {module}
    return graph


def _shortest_cycle_through(start: str, graph: Graph) -> list[str] | None:
    """Breadth first from `start` back to itself: the shortest ring it is part of."""
    came_from: dict[str, str] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for nxt in sorted(graph.get(node, ())):
            if nxt == start:
                path = [node]
                while path[-1] != start:
                    path.append(came_from[path[-1]])
                return [start, *reversed(path[:-1]), start]
            if nxt not in came_from:
                came_from[nxt] = node
                queue.append(nxt)
    return None


def import_cycles(graph: Graph) -> list[str]:
    """Each cycle as `a -> b -> a`, once (by its smallest module), shortest first."""
    seen: set[frozenset[str]] = set()
    cycles = []
    for module in sorted(graph):
        ring = _shortest_cycle_through(module, graph)
        if ring is not None and (members := frozenset(ring)) not in seen:
            seen.add(members)
            cycles.append(" -> ".join(ring))
    return sorted(cycles, key=lambda text: (text.count("->"), text))


def test_no_module_of_console_takes_part_in_an_import_cycle():
    cycles = import_cycles(import_graph(ROOT))
    assert not cycles, "import cycles inside console/:\n  " + "\n  ".join(cycles)


def _write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    return root


def test_a_cycle_hidden_under_type_checking_is_found_and_named(tmp_path):
    root = _write(tmp_path, {
        "console/__init__.py": "",
        "console/board.py": "from console.ranking import ranked\n",
        "console/ranking.py": ("from typing import TYPE_CHECKING\n"
                               "if TYPE_CHECKING:\n    from console.board import CallState\n"),
    })
    assert import_cycles(import_graph(root)) == [
        "console.board -> console.ranking -> console.board"]


def test_a_lazy_relative_import_through_a_package_closes_a_cycle(tmp_path):
    root = _write(tmp_path, {
        "console/__init__.py": "",
        "console/calls/__init__.py": "",
        "console/calls/session.py": "from console.calls import voice\n",
        "console/calls/voice.py": "def speak():\n    from . import session\n",
        "console/events.py": "import console.calls.voice\n",
    })
    assert import_cycles(import_graph(root)) == [
        "console.calls.session -> console.calls.voice -> console.calls.session"]
