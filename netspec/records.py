"""Frozen dataclass instances made by storing their fields, for the few classes made by the thousand.

A frozen dataclass's ``__init__`` sets each field through ``object.__setattr__`` (past the class's own
``__setattr__``, which refuses): twice the cost of storing the fields in a bare instance's ``__dict__``.  Reading a
large spec makes a :class:`~netspec.errors.Span` per YAML node, a long forward three IR nodes per step, and codegen
an ``Origin`` per line, so those three places store the fields themselves, each in a small function written out
field by field (a loop over the names costs what it saves).  :func:`stores_fields` says whether that makes the very
object the class's own ``__init__`` makes; each place uses the class itself where it does not.
"""

from __future__ import annotations

import dataclasses
from typing import Any


def stores_fields(cls: type[Any], names: tuple[str, ...]) -> bool:
    """Whether storing ``names`` in a bare instance's ``__dict__`` makes what ``cls(*values)`` makes: exactly these
    fields in this order, each set by ``__init__`` as given, kept in ``__dict__`` (no ``__slots__``), and nothing
    run after them (no ``__post_init__``)."""
    fields = dataclasses.fields(cls)
    return (tuple(f.name for f in fields) == names and all(f.init for f in fields)
            and not hasattr(cls, "__slots__") and not hasattr(cls, "__post_init__"))
