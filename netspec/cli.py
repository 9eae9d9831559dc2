"""``netspec.cli``: where the command lived before the package had its folders (netspec/tools/cli.py).

Kept so ``python -m netspec.cli``, ``from netspec.cli import main`` and console scripts made by
older installs keep working; it holds nothing of its own.
"""

from .tools.cli import main

__all__ = ["main"]

if __name__ == "__main__":
    main()
