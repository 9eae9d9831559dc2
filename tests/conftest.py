"""Shared test helpers: the shipped specs, and writing throwaway specs to disk."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

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


# The quick lane (`python -m pytest -q -m "not slow"`, a couple of minutes on two cores) leaves out
# whole modules that build full-size models, export to ONNX, spawn processes or fuzz.  The full
# command (`python -m pytest -q`) is the one CI runs and the one that must pass.
SLOW_MODULES = frozenset({
    "test_distributed", "test_export", "test_fuzz", "test_package", "test_persistence", "test_zoo",
    "test_programs", "test_dump", "test_cuda",
})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        module = getattr(item, "module", None)
        if module is not None and module.__name__.rpartition(".")[2] in SLOW_MODULES:
            item.add_marker(pytest.mark.slow)
