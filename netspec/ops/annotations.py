"""The words argument annotations are written in: strictness and constraints as plain data.

The registry's argument types read as pydantic's (``Annotated[int, STRICT, Constraint(ge=1)]`` says what
``Annotated[StrictInt, Field(ge=1)]`` says), but importing them costs nothing: pydantic's Python layer is
imported only where the grammar is made from them (:mod:`netspec.frontend.models`, which turns each marker into
pydantic's own with :func:`netspec.frontend.models.pydantic_type`), never when a spec is checked, so
``netspec validate`` does not pay for it.
"""

from __future__ import annotations

from typing import Annotated, Any


class _Strict:
    """No coercion: ``"1"`` is not an int, ``1`` is not a float's ``1.0`` unless the type says so (pydantic's
    ``Strict()``)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "STRICT"

    def __reduce__(self) -> str:
        return "STRICT"


STRICT = _Strict()


class Constraint:
    """Bounds on a value, named as pydantic's ``Field(...)`` names them (``ge``, ``le``, ``gt``, ``lt``,
    ``min_length``, ``max_length``, ``allow_inf_nan``, ``strict``, ``pattern``); ``Constraint()`` says nothing."""

    __slots__ = ("items",)
    items: tuple[tuple[str, Any], ...]

    def __init__(self, **bounds: Any) -> None:
        object.__setattr__(self, "items", tuple(bounds.items()))  # in the order written, as Field keeps them

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("a Constraint cannot be changed")

    @property
    def bounds(self) -> dict[str, Any]:
        return dict(self.items)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Constraint) and other.items == self.items

    def __hash__(self) -> int:
        return hash(self.items)

    def __repr__(self) -> str:
        return f"Constraint({', '.join(f'{k}={v!r}' for k, v in self.items)})"


StrictInt = Annotated[int, STRICT]
StrictFloat = Annotated[float, STRICT]
StrictBool = Annotated[bool, STRICT]
StrictStr = Annotated[str, STRICT]


class ArgSpec:
    """One named argument of an :class:`ArgsModel`: its type, its default (``...``: required), what it means."""

    __slots__ = ("annotation", "default", "description")

    def __init__(self, annotation: Any, default: Any = ..., description: str | None = None) -> None:
        self.annotation = annotation
        self.default = default
        self.description = description

    def __repr__(self) -> str:
        return f"ArgSpec({self.annotation!r}, {self.default!r})"


class ArgsModel:
    """Named arguments as plain data (an initialiser's, a buffer fill's): the grammar makes its pydantic model
    (:func:`netspec.frontend.models.args_model`, named ``name``); the other stages read the defaults here."""

    __slots__ = ("description", "fields", "name", "title")

    def __init__(self, name: str, fields: dict[str, ArgSpec], title: str | None = None,
                 description: str | None = None) -> None:
        self.name = name
        self.fields = fields
        self.title = title
        self.description = description

    @property
    def required(self) -> list[str]:
        """The arguments without a default, in order."""
        return [name for name, arg in self.fields.items() if arg.default is ...]

    def defaults(self) -> dict[str, Any]:
        """Every argument at its default (only when none is required)."""
        assert not self.required, self.required
        return {name: arg.default for name, arg in self.fields.items()}

    def __repr__(self) -> str:
        return f"ArgsModel({self.name!r}, {list(self.fields)})"
