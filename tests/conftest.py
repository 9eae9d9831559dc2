"""Shared test helpers: the shipped specs, writing throwaway specs to disk, running the command line,
a fresh registry for plugins, and state_dict layouts."""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import tempfile
import textwrap
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from click.testing import CliRunner, Result

# The grammar's core schema is cached on disk (netspec/frontend/schema.py): the suite keeps its own, never
# the user's ~/.cache/netspec; subprocesses inherit it.
os.environ.setdefault("NETSPEC_CACHE_DIR", tempfile.mkdtemp(prefix="netspec-test-cache-"))

from netspec.ops import Registry, use_registry
from netspec.tools.cli import main

ROOT = Path(__file__).resolve().parent.parent
SPECS_DIR = ROOT / "specs"
SHIPPED = sorted(SPECS_DIR.glob("*.yaml"))


def spec_ids() -> list[str]:
    return [p.stem for p in SHIPPED]


@pytest.fixture
def write_spec(tmp_path: Path):
    """Write a dedented spec text to a file and return its path."""

    def write(text: str, name: str = "spec.yaml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return path

    return write


def run_cli(*args: str | os.PathLike[str], **options: Any) -> Result:
    """``netspec ARGS...`` run in this process; click's Result has the exit code, stdout and stderr.
    ``options`` are CliRunner.invoke's: ``input=`` (stdin), ``env=``, ``color=``, ``prog_name=``."""
    return CliRunner().invoke(main, [os.fspath(a) for a in args], **options)


@pytest.fixture
def cli() -> Callable[..., Result]:
    """The command line, run in this process: ``cli("validate", path, input=..., env=...)``."""
    return run_cli


@contextmanager
def plugin_sandbox(*roots: Path, path: Path | None = None) -> Iterator[Registry]:
    """What a fresh process gives plugins, in this one: the built-in registry is the current one inside the
    block (plugins registered there affect only the registries made there) and the one of before after it;
    modules imported from under ``roots`` inside the block (plugins, generated code) are forgotten after it,
    and ``path`` (a PYTHONPATH entry) is importable inside it."""
    if path is not None:
        sys.path.insert(0, str(path))
    importlib.invalidate_caches()  # files written just now are importable
    homes = [os.path.realpath(root) + os.sep for root in roots]
    try:
        with use_registry() as registry:
            yield registry
    finally:
        if path is not None:
            sys.path.remove(str(path))
        # dict.copy is one step under the GIL; list(items()) is not, and other threads (a finaliser of a
        # generated module, a lazy import) may add or drop a module meanwhile
        for name, module in sys.modules.copy().items():
            where = getattr(module, "__file__", None)
            if where is not None and os.path.realpath(where).startswith(tuple(homes)):
                sys.modules.pop(name, None)


@pytest.fixture
def fresh_registry(tmp_path: Path) -> Iterator[Registry]:
    """A fresh registry for this test (see plugin_sandbox): its plugins are gone when it ends."""
    with plugin_sandbox(tmp_path) as registry:
        yield registry


def load_benchmark(name: str) -> ModuleType:
    """A script of benchmarks/ as a module (benchmarks/ is no package), for the tests that share its specs."""
    spec = importlib.util.spec_from_file_location(f"bench_{name}", ROOT / "benchmarks" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def layout(module: Any) -> list[tuple[str, tuple[int, ...]]]:
    """A module's state_dict layout: its keys, in order, with their shapes."""
    return [(key, tuple(value.shape)) for key, value in module.state_dict().items()]


# The quick lane (`python -m pytest -q -m "not slow"`, a couple of minutes on two cores) leaves out
# whole modules that build full-size models, export to ONNX, spawn processes or fuzz.  The full
# command (`python -m pytest -q`) is the one CI runs and the one that must pass.
SLOW_MODULES = frozenset({
    "test_distributed", "test_export", "test_fuzz", "test_package", "test_persistence", "test_zoo",
    "test_programs", "test_dump", "test_cuda", "test_graph_page", "test_module_summary", "test_ctor_args",
})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        module = getattr(item, "module", None)
        if module is not None and module.__name__.rpartition(".")[2] in SLOW_MODULES:
            item.add_marker(pytest.mark.slow)
