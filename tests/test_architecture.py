"""The layout by stage holds: every import of the package (those under TYPE_CHECKING and inside
functions included) goes from a later stage to an earlier one, never back, and no module
imports itself through others. docs/ARCHITECTURE.md draws the same picture."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from conftest import ROOT

SOURCE = ROOT / "src"
# What each part of the package may import besides itself. The order is the story: the language
# pack and the bounds of input under everything; the index; the write path (ingest) and the read
# path (ask) side by side, never importing each other; the service facade over both; its doors
# (serve, evaluate) and the command line on top.
BASE = {"fouassist", "config", "bounds", "progress", "language"}
ALLOWED = {
    "fouassist": set(), "config": set(), "bounds": set(), "progress": set(), "language": set(),
    "feedback": {"bounds"},
    "index": BASE,
    "ingest": BASE | {"index"},
    "ask": BASE | {"index"},
    "service": BASE | {"feedback", "index", "ingest", "ask"},
    "serve": BASE | {"feedback", "index", "ingest", "ask", "service"},
    "evaluate": BASE | {"feedback", "index", "ingest", "ask", "service"},
    "cli": BASE | {"feedback", "index", "ingest", "ask", "service", "serve", "evaluate"},
}


def modules() -> dict[str, Path]:
    found = {}
    for path in sorted((SOURCE / "fouassist").rglob("*.py")):
        name = ".".join(path.relative_to(SOURCE).with_suffix("").parts).removesuffix(".__init__")
        found[name] = path
    return found


def imports(path: Path, known: dict[str, Path]) -> set[str]:
    """The package's modules that `path` imports, wherever the import stands."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "fouassist":
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                found.add(full if full in known else node.module)
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.split(".")[0] == "fouassist"}
    return found & set(known)


def part(module: str) -> str:
    """`fouassist.ask.retrieval` -> `ask`; `fouassist.service` -> `service`; `fouassist` -> `fouassist`."""
    pieces = module.split(".")
    return pieces[1] if len(pieces) > 1 else pieces[0]


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports(path, known) - {name} for name, path in known.items()}


def test_every_part_of_the_package_is_placed(graph):
    assert {part(module) for module in graph} <= set(ALLOWED)


def test_no_module_imports_a_later_stage(graph):
    wrong = sorted(f"{module} imports {dependency}" for module, dependencies in graph.items()
                   for dependency in dependencies
                   if part(dependency) != part(module) and part(dependency) not in ALLOWED[part(module)])
    assert wrong == []


def test_no_import_cycle(graph):
    def reachable(start: str) -> set[str]:
        seen, stack = set(), [start]
        while stack:
            for dependency in graph[stack.pop()]:
                if dependency not in seen:
                    seen.add(dependency)
                    stack.append(dependency)
        return seen

    assert sorted(module for module in graph if module in reachable(module)) == []


def test_the_rules_catch_a_backward_import(tmp_path):
    """The checks above on a made-up package: an index module that imports the read path fails."""
    index = tmp_path / "fouassist" / "index"
    index.mkdir(parents=True)
    (index / "store.py").write_text("from fouassist.ask.retrieval import Passage\n", encoding="utf-8")
    known = {"fouassist.index.store": index / "store.py", "fouassist.ask.retrieval": tmp_path / "r.py"}
    found = imports(known["fouassist.index.store"], known)
    assert found == {"fouassist.ask.retrieval"}
    assert part("fouassist.ask.retrieval") not in ALLOWED[part("fouassist.index.store")]


def test_each_package_says_what_it_owns():
    for init in sorted((SOURCE / "fouassist").glob("*/__init__.py")):
        doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8")))
        assert doc and len(doc.splitlines()) <= 3, f"{init} needs a short docstring that says what the package owns"


def test_every_package_is_installed():
    """pyproject.toml lists the packages by name: a new folder left out would be missing from a wheel."""
    import tomllib

    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]["packages"])
    folders = {".".join(init.parent.relative_to(SOURCE).parts) for init in (SOURCE / "fouassist").rglob("__init__.py")}
    assert folders - listed == set()
