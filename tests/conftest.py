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
