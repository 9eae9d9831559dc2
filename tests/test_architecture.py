"""The shape of the package: the pipeline's layers, no import circles, no private names across modules.

The layering itself is declared once, as import-linter contracts in pyproject.toml
(``[tool.importlinter]``); this file runs them, so a change that imports up the pipeline or
pulls torch into a torch-free stage fails here with import-linter's report of the chain.
ARCHITECTURE.md says what each layer is for.
"""

from __future__ import annotations

import ast
import contextlib
import io
import os
from pathlib import Path

import pytest

from tests.conftest import ROOT

# import-linter (and grimp, its import graph) come with the test extra; a bare pytest run skips these
grimp = pytest.importorskip("grimp", reason='the layering checks need the test extra: pip install -e ".[test]"')
lint_imports = pytest.importorskip("importlinter.cli", reason='the layering checks need the test extra: '
                                   'pip install -e ".[test]"').lint_imports

PACKAGE = ROOT / "netspec"


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def test_the_import_contracts_hold() -> None:
    out = io.StringIO()
    previous = os.getcwd()
    os.chdir(ROOT)  # import-linter reads pyproject.toml from the current directory
    try:
        with contextlib.redirect_stdout(out):
            status = lint_imports(no_cache=True, no_logo=True)
    finally:
        os.chdir(previous)
    assert status == 0, out.getvalue()
    assert "0 broken" in out.getvalue()


def test_no_import_circle_between_modules() -> None:
    graph = grimp.build_graph("netspec")
    modules = sorted(m for m in graph.modules if m.startswith("netspec."))
    circles = []
    for i, a in enumerate(modules):
        for b in modules[i + 1:]:
            if graph.direct_import_exists(importer=a, imported=b) or graph.direct_import_exists(importer=b, imported=a):
                if a.startswith(b + ".") or b.startswith(a + "."):
                    continue  # a package and its own module
                there = graph.find_shortest_chain(importer=a, imported=b)
                back = graph.find_shortest_chain(importer=b, imported=a)
                if there and back:
                    circles.append(" -> ".join(there) + " -> ... -> " + a)
    assert not circles, "\n".join(circles)


def _private_imports(module: str, path: Path) -> list[str]:
    """``from .x import _name`` or ``from x._private import ...`` of another module's private parts."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.ImportFrom):
            continue
        if node.level:
            base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
            target = ".".join(base + ([node.module] if node.module else []))
        else:
            target = node.module or ""
        if not target.startswith("netspec"):
            continue
        private_parts = [p for p in target.split(".") if p.startswith("_") and p != "_version"]
        # a private module may be used inside its own package only
        for part in private_parts:
            owner = target[: target.index(part)].rstrip(".")
            if not (module == owner or module.startswith(owner + ".")):
                found.append(f"{module}:{node.lineno}: imports the private module {target}")
        for alias in node.names:
            if alias.name.startswith("_") and not alias.name.startswith("__"):
                found.append(f"{module}:{node.lineno}: imports the private name {target}.{alias.name}")
    return found


def test_no_module_imports_another_modules_private_name() -> None:
    found = [line for module, path in _modules().items() for line in _private_imports(module, path)]
    assert not found, "\n".join(found)


@pytest.mark.parametrize("text, expected", [
    ("from .shapes import _Evaluator\n", "private name"),
    ("from ..ops._core import Dim\n", "private module"),
])
def test_the_private_name_scan_sees_both_kinds(tmp_path: Path, text: str, expected: str) -> None:
    fake = tmp_path / "graph.py"
    fake.write_text(text, encoding="utf-8")
    found = _private_imports("netspec.backend.graph", fake)
    assert len(found) == 1 and expected in found[0]


def test_architecture_names_every_module() -> None:
    text = (ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8")
    # a module by its file, a package by its folder
    named = {name: (path.parent.relative_to(ROOT).as_posix() + "/" if path.name == "__init__.py"
                    else path.relative_to(ROOT).as_posix()) for name, path in _modules().items()}
    missing = [name for name, shown in named.items() if shown not in text]
    assert not missing, f"ARCHITECTURE.md does not name: {missing}"
