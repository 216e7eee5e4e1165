"""The tree reads as the pipeline: no import cycle, no stage reaching up, test modules independent."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import CHECKOUT
from tools.import_graph import PACKAGE, STAGES, graph, problems


def write_package(root: Path, modules: dict[str, str]) -> Path:
    package = root / PACKAGE
    for name, text in modules.items():
        path = package / (name.replace(".", "/") + ".py")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        for parent in path.parents:
            if parent == package.parent:
                break
            (parent / "__init__.py").touch()
    return package


def test_the_package_has_no_cycle_and_no_upward_import():
    assert problems(graph(CHECKOUT / PACKAGE)) == []


def test_every_stage_is_a_folder():
    assert all((CHECKOUT / PACKAGE / stage / "__init__.py").is_file() for stage in STAGES if stage)


def test_a_cycle_is_found_even_through_a_lazy_import(tmp_path):
    package = write_package(tmp_path, {
        "jobs.a": "from eole_conteneurs.jobs import b\n",
        "jobs.b": "def later():\n    from eole_conteneurs.jobs.a import thing\n",
    })
    assert problems(graph(package)) == ["cycle d'imports : eole_conteneurs.jobs.a ↔ eole_conteneurs.jobs.b"]


def test_a_relative_import_reaching_a_later_stage_is_found(tmp_path):
    package = write_package(tmp_path, {
        "config.model": "from ..jobs.context import Job\n",
        "jobs.context": "Job = object\n",
    })
    assert problems(graph(package)) == [
        "eole_conteneurs.config.model importe eole_conteneurs.jobs.context, d'une étape ultérieure"]


def test_modules_stay_small():
    sizes = {path.relative_to(CHECKOUT): len(path.read_text().splitlines())
             for path in (CHECKOUT / PACKAGE).rglob("*.py")}
    assert {path: size for path, size in sizes.items() if size > 400} == {}


def test_no_test_module_imports_another():
    """Shared fixtures and helpers live in conftest.py; test modules only import those."""
    found = []
    for path in sorted((CHECKOUT / "tests").rglob("test_*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            found += [f"{path.relative_to(CHECKOUT)} : {name}" for name in names
                      if name.startswith("tests.") and name.rpartition(".")[2] != "conftest"]
    assert found == []
