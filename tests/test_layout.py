"""The package's layout, read from its source: no import cycle, no private name crossing a
module boundary, no module much longer than one concept needs."""

from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parent.parent / "hftlogging"
MAX_LINES = 800

# Modules longer than MAX_LINES, each with why it is one concept all the same.
LONG_MODULES: dict[str, str] = {
    "hftlogging.logger": (
        "HFTLogger alone: the level, metric and audit methods inline their fast path "
        "(a helper in another module would cost the call a function call)"
    ),
    "hftlogging.handlers.rotating": (
        "ComponentRotatingFileHandler alone is about 780 lines; the file plumbing it shares "
        "with the audit handler is in handlers/files.py"
    ),
}



def _module_name(path: Path) -> str:
    rel = path.relative_to(PKG.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PKG.rglob("*.py"))}


def _resolve(mod: str, is_pkg: bool, node: ast.ImportFrom) -> str:
    """The absolute module an ImportFrom names (``from . import x`` resolved)."""
    if node.level == 0:
        return node.module or ""
    base = mod.split(".")
    if not is_pkg:
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def _imports(mods: dict[str, Path]) -> dict[str, list[tuple[str, ast.AST]]]:
    """Each module's imports of package modules, module-level and in functions alike.

    Only imports under ``if TYPE_CHECKING:`` are left out: they never run.
    """
    graph: dict[str, list[tuple[str, ast.AST]]] = {}
    for mod, path in mods.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skip: set[int] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                for sub in node.body:
                    skip.update(id(n) for n in ast.walk(sub))
        edges: list[tuple[str, ast.AST]] = []
        for node in ast.walk(tree):
            if id(node) in skip:
                continue
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.startswith("hftlogging"):
                        edges.append((_closest(alias.name, mods), node))
            elif isinstance(node, ast.ImportFrom):
                target = _resolve(mod, path.name == "__init__.py", node)
                if not target.startswith("hftlogging"):
                    continue
                for alias in node.names:
                    sub = f"{target}.{alias.name}"
                    edges.append((sub if sub in mods else _closest(target, mods), node))
        graph[mod] = [(t, n) for t, n in edges if t != mod]
    return graph


def _closest(name: str, mods: dict[str, Path]) -> str:
    while name not in mods and "." in name:
        name = name.rsplit(".", 1)[0]
    return name


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def _path(graph: dict[str, set[str]], comp: list[str]) -> list[str]:
    """One cycle through the first module of a strongly connected component."""
    start, inside = comp[0], set(comp)
    came: dict[str, str] = {}
    todo = [start]
    while todo:
        v = todo.pop(0)
        for w in sorted(graph[v] & inside):
            if w == start:
                path = [v]
                while path[-1] != start:
                    path.append(came[path[-1]])
                return [start, *reversed(path[:-1]), start] if v != start else [start, start]
            if w not in came:
                came[w] = v
                todo.append(w)
    return comp


def test_no_import_cycle() -> None:
    """No chain of imports, module-level or inside functions, leads a module back to itself."""
    mods = _modules()
    graph: dict[str, set[str]] = {}
    for mod, edges in _imports(mods).items():
        graph[mod] = {t for t, _ in edges}
    cycles = [_path(graph, comp) for comp in _cycles(graph)]
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_no_private_name_crosses_a_module() -> None:
    """No module imports another module's ``_private`` name, or reads one as an attribute."""
    mods = _modules()
    found: set[tuple[str, str, str]] = set()
    for mod, path in mods.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        aliases: dict[str, str] = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                target = _resolve(mod, path.name == "__init__.py", node)
                if not target.startswith("hftlogging"):
                    continue
                for alias in node.names:
                    sub = f"{target}.{alias.name}"
                    if sub in mods:
                        aliases[alias.asname or alias.name] = sub
                    elif alias.name.startswith("_") and not alias.name.startswith("__"):
                        found.add((mod, target, alias.name))
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name in mods and alias.asname:
                        aliases[alias.asname] = alias.name
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in aliases
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
                and aliases[node.value.id] != mod
            ):
                found.add((mod, aliases[node.value.id], node.attr))
    left = sorted(found)
    assert not left, "private names used across modules:\n" + "\n".join(
        f"{m} uses {t}.{n}" for m, t, n in left
    )


def test_modules_are_short() -> None:
    """Every module is at most MAX_LINES lines, but for the named, justified exceptions."""
    long = {
        mod: n for mod, path in _modules().items()
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    unexplained = {m: n for m, n in long.items() if m not in LONG_MODULES}
    assert not unexplained, f"modules over {MAX_LINES} lines: {unexplained}"
    stale = sorted(set(LONG_MODULES) - set(long))
    assert not stale, f"no longer long, remove from LONG_MODULES: {stale}"
