"""The grammar's JSON Schema, made to teach: what editors and ``netspec schema`` show.

pydantic writes the layer and step unions as a bare `oneOf`: a typo in one layer argument fails
every member, and a validator reports one error per member (42 in ajv).  Here each union becomes
an `if`/`then` chain keyed on what netspec's own discriminators (the grammar's layer and step tags
in :mod:`netspec.frontend.tags`) look at, so exactly one member applies and its own error is the
only one; `required` is checked only when every key is known, so a misspelt required argument is
one "not allowed" error, not two.

:func:`json_schema_of` takes a spec model; :func:`netspec.frontend.schema.json_schema` gives the
current grammar's, cached per grammar.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

_BARE_DOC = ("a layer type whose arguments all have defaults (ReLU) or the name of one of the spec's blocks; "
             "a list is a Sequential of its entries")
_STEP_DOC = ("a bare name applies a layer of the spec or an op (relu) to the running value; any other string "
             "is one Python statement (h = conv(x), return x + h). Which names are layers depends on the "
             "spec, so netspec validate, not this schema, flags an unknown name")


def _required_when_known(model: dict[str, Any]) -> None:
    """Check ``required`` only when every key of the mapping is a known one (a typo is then one error)."""
    required = model.pop("required", None)
    if required and model.get("additionalProperties") is False and "properties" in model:
        model["if"] = {"properties": {name: {} for name in model["properties"]}, "additionalProperties": False}
        model["then"] = {"required": required}
    elif required:
        model["required"] = required


def _json_type(member: dict[str, Any], defs: dict[str, Any]) -> str | None:
    ref = member.get("$ref")
    kind = (defs.get(ref.rpartition("/")[2], {}) if ref else member).get("type")
    return kind if isinstance(kind, str) else None


def _split_by_json_type(node: Any, defs: dict[str, Any]) -> None:
    """An ``anyOf`` whose members take different JSON types (a list or a mapping, a list or null) becomes an
    ``if``/``then`` per type, so a wrong value is reported by the one member of its type, not as "not valid
    under any of the given schemas"."""
    if isinstance(node, list):
        for value in node:
            _split_by_json_type(value, defs)
        return
    if not isinstance(node, dict):
        return
    for value in node.values():
        _split_by_json_type(value, defs)
    members = node.get("anyOf")
    if not members:
        return
    kinds = [_json_type(member, defs) for member in members]
    if None in kinds or len(set(kinds)) < len(kinds) or {"integer", "number"} <= set(kinds):
        return
    del node["anyOf"]
    node["type"] = kinds
    node["allOf"] = [*node.get("allOf", []),
                     *({"if": {"type": kind}, "then": member} for kind, member in zip(kinds, members, strict=True))]


def _discriminate_layers(defs: dict[str, Any]) -> None:
    members = defs["LayerSpec"]["oneOf"]
    branches: list[dict[str, Any]] = []
    typed: list[str] = []
    block = group = None
    for member in members:
        ref = member.get("$ref", "")
        model = defs.get(ref.rpartition("/")[2]) if ref else None
        if model is None:
            kind = member.get("type")
            branches.append({"if": {"type": kind}, "then": member})
            continue
        kind_schema = model.get("properties", {}).get("type")
        if kind_schema is None:
            group = ref
        elif "const" in kind_schema:
            typed.append(kind_schema["const"])
            branches.append({"if": {"type": "object", "required": ["type"],
                                    "properties": {"type": {"const": kind_schema["const"]}}}, "then": {"$ref": ref}})
        else:
            block = ref
    if block:
        branches.append({"if": {"type": "object", "required": ["type"],
                                "properties": {"type": {"not": {"enum": typed}}}}, "then": {"$ref": block}})
    if group:
        branches.append({"if": {"type": "object", "not": {"required": ["type"]}}, "then": {"$ref": group}})
    defs["LayerSpec"] = {
        "description": "a layer: a layer type and its arguments ({type: Conv2d, out_channels: 6, kernel_size: 5}), "
                       "a block's use (any other type), a group (layers, with no type), a list (a Sequential) "
                       "or a bare name",
        "type": ["string", "array", "object"],
        "properties": {"type": {"description": "a layer type, or the name of one of the spec's blocks",
                                "examples": typed}},
        "allOf": branches,
    }
    for member in members:
        if member.get("type") == "string":
            member.setdefault("description", _BARE_DOC)


def _discriminate_steps(schema: dict[str, Any]) -> None:
    """The forward step union, written once as ``$defs/Step``: a string, or one key naming an op."""
    defs = schema["$defs"]
    ops: dict[str, Any] = {}
    found: list[dict[str, Any]] = []

    def visit(node: Any) -> None:
        if isinstance(node, dict):
            members = node.get("oneOf")
            if members and members[0] == {"type": "string"} and all(
                    m.get("$ref", "").endswith("_step") for m in members[1:]):
                found.append(node)
                return
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    visit(schema)
    for node in found:
        for member in node.pop("oneOf")[1:]:
            name = member["$ref"].rpartition("/")[2]
            step = defs.pop(name, None)
            if step is not None:
                ((op, value),) = step["properties"].items()
                value = dict(value)
                value.setdefault("description", step.get("description", ""))
                ops[op] = value
        node["$ref"] = "#/$defs/Step"
    if not found:
        return
    defs["Step"] = {
        "description": "a forward step: a string (a name or a statement) or {op: arguments}",
        "type": ["string", "object"],
        "allOf": [
            {"if": {"type": "string"}, "then": {"type": "string", "minLength": 1, "description": _STEP_DOC,
                                                "examples": list(ops)}},
            {"if": {"type": "object"}, "then": {
                "description": "one op applied to the running value, with its arguments (or its first "
                               "argument alone): {max_pool2d: {kernel_size: 2}}, {flatten: 1}",
                "minProperties": 1, "maxProperties": 1, "properties": ops, "additionalProperties": False}},
        ],
    }


def json_schema_of(spec: type[BaseModel]) -> dict[str, Any]:
    """The JSON Schema of a grammar's spec model, its unions rewritten to teach (above)."""
    schema = spec.model_json_schema()
    _discriminate_layers(schema["$defs"])
    _discriminate_steps(schema)
    _split_by_json_type(schema, schema["$defs"])
    for model in schema["$defs"].values():
        _required_when_known(model)
    # a spec that `extends` another is completed by it: only a whole spec needs netspec, name and inputs
    _required_when_known(schema)
    schema["if"]["not"] = {"required": ["extends"]}
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://netspec.dev/schemas/netspec.schema.json"
    return schema
