"""The import order the design promises: layers run one way, and no modules import each other.

providers ← accounts ← keys ← generation ← aniavatar: a package may import those left of it, never one to
its right. `providers` (and the provider double, a stand-in for the providers) import no app. Imports
inside functions count too: a local import that closes a circle is still a circle; only imports for
type checkers (`if TYPE_CHECKING:`) do not. Read from the source with `ast`, so nothing is imported.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAYERS = {"providers": 0, "accounts": 1, "keys": 2, "generation": 3, "aniavatar": 4}
STANDALONE = {"provider_double"}  # imports no app and no layer
PACKAGES = [*LAYERS, *STANDALONE]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _sources() -> dict[str, Path]:
    modules = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" not in path.parts:
                modules[_module_name(path)] = path
    return modules


def _imported(name: str, path: Path, node: ast.Import | ast.ImportFrom) -> list[str]:
    """Return the dotted names an import statement refers to (candidates, most specific first)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:
        package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        anchor = package[: len(package) - (node.level - 1)]
        base = ".".join([*anchor, base] if base else anchor)
    # `from generation import tasks` imports the module generation.tasks; `from x import name` imports x.
    return [f"{base}.{alias.name}" for alias in node.names] + [base]


def _runtime_imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Return every import statement except those under `if TYPE_CHECKING:` (never run)."""
    found: list[ast.Import | ast.ImportFrom] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.append(node)
        elif isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.orelse:
                visit(child)
            return
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def _graph() -> dict[str, set[str]]:
    modules = _sources()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in _runtime_imports(tree):
            for target in _imported(name, path, node):
                # The most specific module of ours it names (an attribute import names its module).
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target and target != name and not name.startswith(f"{target}."):
                    graph[name].add(target)
    return graph


def _layer_violations(graph: dict[str, set[str]]) -> list[str]:
    found = []
    for importer, targets in graph.items():
        top = importer.split(".")[0]
        for target in targets:
            other = target.split(".")[0]
            if other == top:
                continue
            if top in STANDALONE or other in STANDALONE or LAYERS[other] > LAYERS[top]:
                found.append(f"{importer} imports {target}")
    return sorted(found)


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Return the strongly connected groups of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups


def test_layers_are_imported_one_way_only():
    assert _layer_violations(_graph()) == []


def test_no_modules_import_each_other():
    assert _cycles(_graph()) == []


def test_the_checks_see_what_they_must_refuse():
    graph = {
        "keys.services": {"generation.providers"},
        "generation.providers": {"keys.redaction"},
        "keys.redaction": set(),
        "generation.pipeline": {"generation.tasks"},
        "generation.tasks": {"generation.pipeline"},
        "providers.base": {"accounts.models"},
        "accounts.models": set(),
    }
    assert _layer_violations(graph) == [
        "keys.services imports generation.providers",
        "providers.base imports accounts.models",
    ]
    assert _cycles(graph) == [["generation.pipeline", "generation.tasks"]]


def test_relative_and_local_imports_are_followed():
    graph = _graph()
    assert "providers.base" in graph["providers.adapters.openai"]  # `from providers.base import …`
    assert "generation.tasks" in graph["generation.services"]
    assert "provider_double.server" in graph["provider_double"]  # `from .server import …`
