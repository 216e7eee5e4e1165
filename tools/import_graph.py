#!/usr/bin/python3
"""The package's import graph: no cycle, and no stage reaching up to a later one.

Every import counts, those inside functions too (a lazy import is still a dependency).
Stages, in pipeline order: a module may import its own stage and earlier ones only.
Usage: tools/import_graph.py [PACKAGE_DIR]  (exit 1 and one line per problem)
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

PACKAGE = "eole_conteneurs"
# Shared by every stage (top-level modules), then the pipeline: read → validate → engine access →
# plan/apply → publish → backup → update → jobs → commands. The entry point (__main__) comes last.
STAGES = ("", "creole", "config", "engine", "containers", "publish", "backup", "update", "jobs", "commands")
ENTRY = f"{PACKAGE}.__main__"


def module_name(package_dir: Path, path: Path) -> str:
    parts = list(path.relative_to(package_dir.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(module: str, path: Path, known: set[str]) -> set[str]:
    """The package's modules this file imports (relative imports resolved)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            names = [f"{base}.{alias.name}" for alias in node.names] + [base]
        else:
            continue
        for name in names:
            # "from eole_conteneurs.jobs import hooks" names a module; "… import Job" names its module.
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name and name != module and name != PACKAGE:
                found.add(name)
    return found


def graph(package_dir: Path) -> dict[str, set[str]]:
    files = {module_name(package_dir, path): path for path in sorted(package_dir.rglob("*.py"))}
    known = set(files)
    return {module: imports_of(module, path, known) for module, path in files.items()}


def stage(module: str) -> int:
    if module == ENTRY:
        return len(STAGES)
    parts = module.split(".")
    name = parts[1] if len(parts) > 2 or (len(parts) == 2 and parts[1] in STAGES) else ""
    return STAGES.index(name) if name in STAGES else 0


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected component of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(edges.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def upward(edges: dict[str, set[str]]) -> list[tuple[str, str]]:
    return sorted((source, target) for source, targets in edges.items() for target in targets
                  if stage(target) > stage(source))


def problems(edges: dict[str, set[str]]) -> list[str]:
    lines = [f"cycle d'imports : {' ↔ '.join(component)}" for component in cycles(edges)]
    lines += [f"{source} importe {target}, d'une étape ultérieure" for source, target in upward(edges)]
    return lines


def main(argv: list[str]) -> int:
    package_dir = Path(argv[0]) if argv else Path(__file__).resolve().parents[1] / PACKAGE
    found = problems(graph(package_dir))
    for line in found:
        print(line)
    if not found:
        print(f"Imports de {PACKAGE} : aucun cycle, aucune étape ne dépend d'une étape ultérieure")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
