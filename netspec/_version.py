"""The one place netspec's version is written (pyproject.toml reads it too)."""

__version__ = "0.1.0"
