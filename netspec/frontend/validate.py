"""The grammar stage: a spec's data checked against the grammar, pydantic's errors made diagnostics.

:func:`validate_data` checks merged data with :mod:`netspec.frontend.schema`'s grammar and gives a
:class:`Spec`, or raises SpecError: pydantic's validation errors are turned into :class:`Diagnostic` s
that quote the user's token and point at its line, one per wrong place, at most
:data:`MAX_DIAGNOSTICS`.  The wording helpers (:func:`describe_value`, :func:`expected_text`,
:func:`literal_hint`, :func:`plugin_hint`) are shared with the later stages' checks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import Diagnostic, Path, Span, SpecError, did_you_mean, short_repr
from ..ops import INT64_MAX, LAYERS, OPS
from . import schema
from .core import ValidationError

if TYPE_CHECKING:
    from pydantic_core import ErrorDetails
from .schema import SEQUENTIAL, SPEC_VERSION, STEP_OPS, Node, Spec, grammar
from .source import Source


def validate_data(source: Source) -> Spec:
    """Check the data against the grammar, or raise SpecError with located diagnostics."""
    if not isinstance(source.data, dict):
        raise SpecError([Diagnostic("not-a-mapping", f"expected a mapping at the top of the spec, found "
                                    f"{describe_value(source.data)}", source.span(()), (),
                                    "start the spec with 'netspec: 1'")])
    try:
        return schema.validate(source.data)
    except ValidationError as exc:
        raise SpecError(_diagnostics(exc.errors(), source)) from None


# ---------------------------------------------------------------- error translation


# Diagnostics reported per spec: a generated spec can hold 20,000 wrong values, and nobody reads
# past the first screenful; building each costs a did-you-mean search.
MAX_DIAGNOSTICS = 100


def _drop_misspelt_missing(grouped: dict[Path, list[ErrorDetails]]) -> None:
    """`kernel_sise: 5` is one mistake, not two: a missing key that an unknown key beside it misspells is
    left to the unknown key's diagnostic (whose did-you-mean names it)."""
    unknown: dict[Path, list[str]] = {}
    for path, group in grouped.items():
        if path and any(e["type"] == "extra_forbidden" for e in group):
            unknown.setdefault(path[:-1], []).append(str(path[-1]))
    for path in [p for p, g in grouped.items() if p and all(e["type"] == "missing" for e in g)]:
        if any(did_you_mean(word, [str(path[-1])]) for word in unknown.get(path[:-1], ())):
            del grouped[path]


def _diagnostics(errors: list[ErrorDetails], source: Source) -> list[Diagnostic]:
    """One diagnostic per wrong place, in file order, at most MAX_DIAGNOSTICS of them (then a note).

    Linear in the number of errors: grouping is by dict, shadowing by a set of prefixes, and only
    the diagnostics reported are built.
    """
    grouped: dict[Path, list[ErrorDetails]] = {}
    keys: list[ErrorDetails] = []
    for error in errors:
        if error["loc"][-1:] == ("[key]",):  # a mapping key that is no name: quote the key, not its value
            keys.append(error)
            continue
        keyed = error["type"] in ("missing", "extra_forbidden")
        grouped.setdefault(_data_path(error["loc"], source.data, keyed), []).append(error)
    _drop_misspelt_missing(grouped)
    inner = _enclosing_paths(grouped)
    places: list[tuple[tuple[int, int], int, Path | ErrorDetails]] = []
    for error in keys:
        places.append((_position(source.key_span(_data_path(error["loc"][:-1], source.data, True))), len(places),
                       error))
    for path, group in grouped.items():
        if not _shadowed(path, group, inner):
            places.append((_position(_anchor(path, _pick(group, path, source.data), source)), len(places), path))
    places.sort(key=lambda place: place[:2])
    result = [_key_diagnostic(item, source) if isinstance(item, dict) else
              _diagnostic(item, _pick(grouped[item], item, source.data), grouped[item], source)
              for _, _, item in places[:MAX_DIAGNOSTICS]]
    result.sort(key=lambda d: _position(d.span))
    if len(places) > MAX_DIAGNOSTICS:
        result.append(_more_note(len(places) - MAX_DIAGNOSTICS, places[MAX_DIAGNOSTICS][2], source))
    return result


def _position(span: Span | None) -> tuple[int, int]:
    return (span.line, span.col) if span else (0, 0)


def _anchor(path: Path, error: ErrorDetails, source: Source) -> Span:
    """Where :func:`_diagnostic` will place this error, found without building the diagnostic."""
    if error["type"] == "extra_forbidden":
        return source.key_span(path)
    if error["type"] == "missing":
        return source.span(path[:-1])
    return source.span(path)


def _more_note(hidden: int, first: Path | ErrorDetails, source: Source) -> Diagnostic:
    path = _data_path(first["loc"][:-1], source.data, True) if isinstance(first, dict) else first
    return Diagnostic("too-many-errors", f"{hidden:,} more error{'s' * (hidden > 1)} not shown (at most "
                      f"{MAX_DIAGNOSTICS} are reported per spec)", source.span(path), path,
                      "fix these first; the rest are reported once fewer remain")


def _key_diagnostic(error: ErrorDetails, source: Source) -> Diagnostic:
    path = _data_path(error["loc"][:-1], source.data, True)
    limit = (error.get("ctx") or {}).get("max_length")
    rule = f"of at most {limit} characters" if error["type"] == "string_too_long" else \
        "made of ASCII letters, digits and '_', starting with a letter"
    hint = ("a name pattern such as 'stage{i + 2}' works inside a group (a mapping with layers: and repeat:), or "
            "as repeat: {count: ..., name: 'stage{i + 2}'}") if "{" in str(path[-1]) else None
    split = _comma_split(path, source.data)
    if split is not None:
        hint = _COMMA_HINT.format(split=split)
    return Diagnostic("bad-name", f"expected a name {rule}, found {short_repr(str(path[-1]))}",
                      source.key_span(path), path, hint)


_COMMA_HINT = "YAML split {split!r} at its comma (in a {{...}} mapping a comma ends a value): quote the expression, " \
    "\"{split}\""


def _enclosing_paths(grouped: dict[Path, list[ErrorDetails]]) -> set[Path]:
    """Every path that has an error reported deeper inside it: O(errors x depth), depth <= 64."""
    return {path[:n] for path in grouped for n in range(len(path))}


def _shadowed(path: Path, group: list[ErrorDetails], enclosing: set[Path]) -> bool:
    """A union branch's plain type mismatch is noise when another branch matched the
    value's kind and reported something deeper inside it."""
    return path in enclosing and all(e["type"].endswith("_type") or e["type"] == "literal_error" for e in group)


def _data_path(loc: tuple[int | str, ...], data: Any, keyed: bool) -> Path:
    """Drop pydantic's union-tag entries from ``loc``, keeping the steps into the data.

    A part that is not in the data is a tag, except the last part of a
    missing/unknown-key error, which names the key.
    """
    path: list[int | str] = []
    node = data
    for i, part in enumerate(loc):
        in_list = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        if (isinstance(node, dict) and part in node) or in_list:
            node = node[part]
            path.append(part)
        elif keyed and i == len(loc) - 1:
            path.append(part)
    return tuple(path)


def _pick(group: list[ErrorDetails], path: Path, data: Any) -> ErrorDetails:
    """Among a union's failed branches, the one whose expectation fits the value written."""
    value = _value_at(data, path)
    preferred = {list: ("tuple", "list", "too_"), dict: ("dict", "model", "missing", "extra"),
                 int: ("int", "greater", "less"), float: ("float", "finite", "greater", "less"),
                 str: ("literal", "string", "union_tag")}
    for kind, prefixes in preferred.items():
        if isinstance(value, kind) and not isinstance(value, bool):
            for error in group:
                if error["type"].startswith(prefixes):
                    return error
    return group[0]


def _value_at(data: Any, path: Path) -> Any:
    node = data
    for part in path:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return _ABSENT
    return node


_ABSENT: Any = object()


def describe_value(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"{str(value).lower()} (a boolean)"
    if isinstance(value, int):
        return f"{value} (an integer)" if abs(value) < 10**30 else "a huge integer"
    if isinstance(value, float):
        return f"{value} (a float)"
    if isinstance(value, str):
        return f"{short_repr(value)} (a string)"
    if isinstance(value, list):
        return f"a list of {len(value)} items"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def expected_text(error: ErrorDetails) -> str:
    ctx = error.get("ctx") or {}
    kind = error["type"]
    simple = {
        "int_type": "an integer", "float_type": "a number", "bool_type": "true or false", "string_type": "a string",
        "list_type": "a list", "tuple_type": "a list", "dict_type": "a mapping", "model_type": "a mapping",
        "model_attributes_type": "a mapping", "finite_number": "a finite number", "none_required": "null",
    }
    if kind in simple:
        return simple[kind]
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        op = {"greater_than_equal": ">=", "greater_than": ">", "less_than_equal": "<=", "less_than": "<"}[kind]
        bound = next(iter(ctx.values()), "?")
        return f"a value {op} {bound}" if bound != INT64_MAX else "a size that fits in 64 bits"
    if kind == "literal_error":
        return f"one of {ctx.get('expected', '?')}"
    if kind == "string_pattern_mismatch":
        return "a name made of letters, digits and '_', starting with a letter"
    if kind in ("string_too_short", "string_too_long"):
        return f"a string of {'at least' if kind == 'string_too_short' else 'at most'} " \
            f"{ctx.get('min_length', ctx.get('max_length'))} characters"
    if kind in ("too_short", "too_long"):
        bound = ctx.get("min_length", ctx.get("max_length"))
        return f"{'at least' if kind == 'too_short' else 'at most'} {bound} items"
    return error["msg"][0].lower() + error["msg"][1:]


def _diagnostic(path: Path, error: ErrorDetails, group: list[ErrorDetails], source: Source) -> Diagnostic:
    found = _diagnostic_of(path, error, group, source)
    split = _comma_split(path, source.data)
    if split is None:
        return found
    return Diagnostic(found.code, found.message, found.span, found.path, _COMMA_HINT.format(split=split),
                      found.severity)


def _comma_split(path: Path, data: Any) -> str | None:
    """The expression a flow mapping cut at a comma, ``max(1, c // 4)`` read as the value ``max(1`` and the key
    ``c // 4)``, when ``path`` is either half: its brackets do not balance and its neighbour's balance them."""
    if not path:
        return None
    parent = _value_at(data, path[:-1])
    if not isinstance(parent, dict):
        return None
    keys = list(parent)
    for i, key in enumerate(keys):
        value = parent[key]
        if not (isinstance(value, str) and _depth_change(value) > 0 and i + 1 < len(keys)):
            continue
        rest = keys[i + 1]
        if isinstance(rest, str) and _depth_change(value) + _depth_change(rest) == 0 and path[-1] in (key, rest):
            tail = parent[rest]
            joined = f"{value}, {rest}" + ("" if tail is None else f": {tail}")
            return joined
    return None


def _depth_change(text: str) -> int:
    return sum(text.count(o) - text.count(c) for o, c in ("()", "[]"))


def _diagnostic_of(path: Path, error: ErrorDetails, group: list[ErrorDetails], source: Source) -> Diagnostic:
    kind = error["type"]
    value = _value_at(source.data, path)
    span = source.span(path)
    if kind == "extra_forbidden":
        key = str(path[-1])
        return Diagnostic("unknown-key", f"unknown key '{key}'", source.key_span(path), path,
                          did_you_mean(key, _allowed_keys(error["loc"])) or _allowed_hint(error["loc"]))
    if kind == "missing":
        return Diagnostic("missing-key", f"missing required key '{path[-1]}'", source.span(path[:-1]), path,
                          _missing_hint(path))
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        return _bad_tag(path, value, span, error)
    if path == ("netspec",):
        return Diagnostic("bad-version", f"expected netspec: {SPEC_VERSION}, found {describe_value(value)}", span, path,
                          f"this netspec reads spec version {SPEC_VERSION}")
    if kind == "literal_error" and isinstance(value, str) and len(path) >= 2 and _is_bare_layer_position(path):
        return _unknown_layer(path, value, span)
    if kind == "string_pattern_mismatch":
        return Diagnostic("bad-name", f"expected a name made of ASCII letters, digits and '_', starting with a letter, "
                          f"found {describe_value(value)}", span, path, None)
    expectations = []
    for item in [error, *[e for e in group if e is not error]]:
        text = expected_text(item)
        if text not in expectations:
            expectations.append(text)
    expected = " or ".join(expectations[:3])
    hint = literal_hint(error, value)
    code = "bad-value" if kind.startswith(("greater", "less", "finite", "literal", "too_", "string_too")) else \
        "bad-type"
    return Diagnostic(code, f"expected {expected}, found {describe_value(value)}", span, path, hint)


def literal_hint(error: ErrorDetails, value: Any) -> str | None:
    if error["type"] == "literal_error" and isinstance(value, str):
        expected = str((error.get("ctx") or {}).get("expected", ""))
        words = [w.strip(" '\"") for w in expected.replace(" or ", ",").split(",")]
        return did_you_mean(value, [w for w in words if w])
    if isinstance(value, str) and error["type"] in ("int_type", "float_type", "bool_type"):
        if _looks_numeric(value) or value.lower() in ("true", "false"):
            return "quoted values are strings; write the value without quotes"
        return None
    return None


def _looks_numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _is_bare_layer_position(path: Path) -> bool:
    # a layer's own place: a key of a layers mapping, or an item of a layer list (not an argument inside one)
    return path[0] == "layers" and (path[-2] == "layers" or isinstance(path[-1], int))


def _bad_tag(path: Path, value: Any, span: Any, error: ErrorDetails) -> Diagnostic:
    if path[:1] == ("layers",) or "layers" in path:
        if isinstance(value, dict):
            kind = value.get("type")
            if kind is None:
                return Diagnostic("missing-key", "missing required key 'type' in this layer", span, path,
                                  "write 'type: Linear' (or another layer type), or a bare type name")
            if isinstance(kind, str):
                return _unknown_layer((*path, "type"), kind, span)
            return Diagnostic("bad-type", f"expected a layer type name, found {describe_value(kind)}", span,
                              (*path, "type"))
        return Diagnostic("bad-type", f"expected a layer (a mapping with 'type', a type name or a list), found "
                          f"{describe_value(value)}", span, path)
    if path[:1] == ("forward",):
        if isinstance(value, dict) and len(value) == 1:
            (name,) = value
            return _unknown_op(path, str(name), span)
        return Diagnostic("bad-step", f"expected a step (a name, an expression, or a one-key mapping op: args), "
                          f"found {describe_value(value)}", span, path)
    return Diagnostic("bad-type", f"expected a parameter (a shape list or a mapping with shape/list/dict), found "
                      f"{describe_value(value)}", span, path)


def _unknown_layer(path: Path, name: str, span: Any) -> Diagnostic:
    hint = did_you_mean(name, [*LAYERS, SEQUENTIAL])
    if name in LAYERS and not LAYERS[name].bare_ok:
        needed = ", ".join(a.name for a in LAYERS[name].args if a.required)
        return Diagnostic("missing-key", f"layer type '{name}' needs arguments ({needed}) and cannot be written bare",
                          span, path, f"write {{type: {name}, {needed.split(', ')[0]}: ...}}")
    return Diagnostic("unknown-layer", f"unknown layer type {short_repr(name)}", span, path,
                      hint or plugin_hint("run 'netspec layers' for the list of layer types"))


def plugin_hint(hint: str) -> str:
    """An unknown layer type's hint when no known name is close (a near miss gets the did-you-mean alone):
    while no plugin is loaded, it also points at --plugin."""
    if any(layer.family == "plugin" for layer in LAYERS.values()):
        return hint
    return f"{hint}; a layer type of your own is loaded with --plugin FILE.py or --plugin package.module"


def _unknown_op(path: Path, name: str, span: Any) -> Diagnostic:
    if name in OPS:
        return Diagnostic("bad-step", f"op '{name}' takes several tensors and cannot be a one-key step", span, path,
                          f"write it as an expression, e.g. 'x = {name}(...)'")
    if not name.isidentifier():
        hint = "YAML read 'key: value' as a mapping; quote the step if it is an expression: - \"...\""
    else:
        hint = did_you_mean(name, STEP_OPS) or "run 'netspec layers' for the list of ops"
    return Diagnostic("unknown-op", f"unknown op {short_repr(name)}", span, path, hint)


def _model_for(loc: tuple[int | str, ...]) -> type[Node]:
    """The mapping whose keys an unknown-key error at ``loc`` should be compared with."""
    current = grammar()
    tag_models = current.tag_models
    by_name = {model.__name__: model for model in tag_models.values()} | dict(tag_models)
    model: type[Node] = current.spec
    for part in loc[:-1]:
        if isinstance(part, str) and part in by_name:
            model = by_name[part]
        elif isinstance(part, str) and part in model.model_fields:
            model = model.nested_model(part) or model
    return model


def _allowed_keys(loc: tuple[int | str, ...]) -> list[str]:
    return list(_model_for(loc).model_fields)


def _allowed_hint(loc: tuple[int | str, ...]) -> str:
    return "known keys: " + ", ".join(_allowed_keys(loc))


def _missing_hint(path: Path) -> str | None:
    if path[-1] == "netspec":
        return "start the spec with 'netspec: 1'"
    if path[-1] == "inputs":
        return "declare forward's inputs, e.g. 'inputs: {x: [N, 784]}'"
    return None
