"""Measure the import structure of `kindling`: package cycles and imports placed inside functions.

Run from the repository root: `python scripts/import_report.py` (add `--list` to print every
function-level import with its line). It reads the source as text (the AST), imports nothing of
the project, and counts an import inside a function as an arrow like any other: a cycle hidden by
a function-level import is still a cycle here. A function-level import that is kept on purpose
(cold start) carries a `# cold start` comment on its line and is counted apart.
"""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "shared"
PACKAGE = "kindling"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _resolve(module: str, node: ast.ImportFrom, is_package: bool) -> str:
    if node.level == 0:
        return node.module or ""
    base = module.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def _source(lines: list[str], lineno: int) -> str:
    """The import's line, with the comment line above its block of imports when there is one."""
    above = lineno - 2
    while above >= 0 and lines[above].strip().startswith(("from ", "import ")):
        above -= 1
    comment = lines[above].strip() if above >= 0 else ""
    return (comment + " | " if comment.startswith("#") else "") + lines[lineno - 1].strip()


def _imports(path: Path) -> list[tuple[str, int, bool, str]]:
    """(imported module, line, inside a function, source line) for every kindling import."""
    module = _module_name(path)
    text = path.read_text()
    lines = text.splitlines()
    tree = ast.parse(text)
    found: list[tuple[str, int, bool, str]] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inside = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
            if isinstance(child, ast.Import):
                found.extend((a.name, child.lineno, in_function, _source(lines, child.lineno)) for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                target = _resolve(module, child, path.name == "__init__.py")
                found.append((target, child.lineno, in_function, _source(lines, child.lineno)))
            visit(child, inside)

    visit(tree, False)
    return [f for f in found if f[0] == PACKAGE or f[0].startswith(PACKAGE + ".")]


def _package(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2]) if len(parts) > 1 else parts[0]


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one package (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def strongconnect(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                strongconnect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            strongconnect(v)
    return out


def main(argv: list[str]) -> int:
    graph: dict[str, set[str]] = defaultdict(set)
    function_level: list[tuple[str, int, str]] = []
    for path in sorted((ROOT / PACKAGE).rglob("*.py")):
        module = _module_name(path)
        for target, line, inside, source in _imports(path):
            source_pkg, target_pkg = _package(module), _package(target)
            if source_pkg != target_pkg:
                graph[source_pkg].add(target_pkg)
            if inside:
                function_level.append((str(path.relative_to(ROOT.parent)), line, source.strip()))
    cycles = _cycles(graph)
    kept = [f for f in function_level if "cold start" in f[2]]
    print(f"package cycles: {len(cycles)}")
    for component in cycles:
        print("  {" + ", ".join(c.removeprefix(PACKAGE + ".") for c in component) + "}")
    print(f"function-level imports: {len(function_level)} ({len(kept)} marked as kept for cold start)")
    if "--list" in argv:
        for path, line, source in function_level:
            print(f"  {path}:{line}: {source}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
