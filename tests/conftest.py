"""Shared test helpers: the shipped specs, writing throwaway specs to disk, running the command line,
a fresh registry for plugins, and state_dict layouts."""

from __future__ import annotations

import importlib
import importlib.util
import os
import resource
import sys
import tempfile
import textwrap
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

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


T = TypeVar("T")


def cpu_seconds(work: Callable[..., T], *args: Any) -> tuple[T, float]:
    """``work(*args)`` and the user CPU seconds it took, run in a thread of its own.

    Why a thread: CPython 3.11 keeps frames on a stack of 16 KB chunks and unmaps a chunk as soon as the
    call that opened it returns (python/cpython#142183, fixed in 3.13 and 3.14 only), so a recursion that
    swings across a chunk's edge maps and unmaps memory at each call: under pytest's deep stack, at some
    depths, a hostile case that spends the whole work limit took 11 s of user time instead of 4 (and 16 s
    more in the kernel). A new thread starts on a stack of its own, so the figure is netspec's work at the
    same depth on every machine and every run, not where pytest's stack happens to end. User time of the
    thread only: other processes and threads on a shared machine cannot push it over."""
    box: dict[str, Any] = {}

    def run() -> None:
        start = resource.getrusage(resource.RUSAGE_THREAD).ru_utime
        try:
            box["value"] = work(*args)
        except BaseException as exc:  # re-raised in the caller's thread
            box["error"] = exc
        box["seconds"] = resource.getrusage(resource.RUSAGE_THREAD).ru_utime - start

    thread = threading.Thread(target=run, name="cpu-seconds")
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"], box["seconds"]


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
