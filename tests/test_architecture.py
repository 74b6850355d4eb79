"""The house plan, checked: imports go one way, no module grows past 400 lines, and `api/` and
`bench/` reach rag only through its public surface (`rag/__init__.py`).

Imports are read from the source (every `import` statement, including those inside functions),
so a cycle hidden in a lazy import is caught too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import rag

ROOT = Path(__file__).resolve().parents[1]
MAX_LINES = 400


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path) -> set[str]:
    """Every module `path` imports, as dotted names (`from a.b import c` gives a.b and a.b.c)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def rag_graph() -> dict[str, set[str]]:
    """rag module -> the rag modules it imports (excluding the lazy public surface itself)."""
    modules = {module_name(p): p for p in (ROOT / "rag").rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        if name == "rag":
            continue  # the facade imports everything lazily, by name; nothing inside rag imports it
        graph[name] = {m for m in imports_of(path) if m in modules and m != "rag" and m != name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_find_cycle_finds_a_planted_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_rag_has_no_import_cycle():
    assert find_cycle(rag_graph()) is None, find_cycle(rag_graph())


def test_rag_never_imports_the_edges():
    for path in (ROOT / "rag").rglob("*.py"):
        bad = {m for m in imports_of(path) if m.split(".")[0] in ("api", "bench", "tests")}
        assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"


CLI_MODULES = {"cli.py", "cli_eval.py"}  # the CLI is a user of the surface, like api/


def test_nothing_inside_rag_imports_the_public_surface():
    """rag/__init__.py sits on top; a stage importing `rag` itself would climb back up."""
    for path in (ROOT / "rag").rglob("*.py"):
        if path.name == "__init__.py" and path.parent == ROOT / "rag":
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module == "rag" and node.level == 0:
                assert path.name in CLI_MODULES, f"{path.relative_to(ROOT)} imports from the rag facade"


def test_stores_do_not_import_each_other():
    backends = {"rag.stores.faiss_store", "rag.stores.milvus_store"}
    graph = rag_graph()
    for name in backends:
        assert not graph[name] & (backends - {name}), f"{name} imports another backend"


@pytest.mark.parametrize("folder", ["rag", "api"])
def test_no_module_over_400_lines(folder):
    long = {str(p.relative_to(ROOT)): n for p in (ROOT / folder).rglob("*.py")
            if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, long


@pytest.mark.parametrize("folder", ["api", "bench"])
def test_edges_use_only_the_public_surface(folder):
    for path in (ROOT / folder).rglob("*.py"):
        private = sorted(m for m in imports_of(path) if m.startswith("rag.")
                         and not hasattr(rag, m.removeprefix("rag.")))
        assert not private, f"{path.relative_to(ROOT)} imports rag internals {private}"


def test_public_surface_resolves_every_name():
    for name in rag.__all__:
        assert getattr(rag, name) is not None, name
    with pytest.raises(AttributeError):
        rag.not_a_public_name  # noqa: B018
