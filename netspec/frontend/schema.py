"""The spec's grammar as pydantic v2 models: the single truth.

Per-layer and per-op argument models are drawn from the registry, so a layer
added there is accepted here, documented in the JSON Schema and covered by the
tests at once.  ``schemas/netspec.schema.json`` is ``json_schema()`` written
out (made to teach by :mod:`netspec.frontend.schema_json`); a test keeps the two in sync.

Data is checked against it by :mod:`netspec.frontend.validate`, which turns pydantic's
validation errors into :class:`Diagnostic` s that quote the user's token and point at its line.
"""

from __future__ import annotations

import ast
import copy
import json
import threading
import weakref
from collections.abc import Callable, Collection, Mapping
from types import MappingProxyType, UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    Tag,
    TypeAdapter,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    create_model,
)
from typing_extensions import TypeAliasType

from ..ops import (
    OPS,
    REGISTRY,
    REQUIRED,
    AnyInt,
    Arg,
    LayerType,
    Op,
    PosInt,
    Registry,
    arg_doc,
    publish,
    registry,
)
from ..ops.buffers import FILLS
from ..ops.init import INIT_ARGS, SIMPLE_INITS
from . import schema_json

SPEC_VERSION = 1
IDENTIFIER_PATTERN = r"^[A-Za-z][A-Za-z0-9_]*$"
Identifier = Annotated[StrictStr, Field(pattern=IDENTIFIER_PATTERN, max_length=64)]
SymbolicDim = Annotated[StrictStr, Field(pattern=IDENTIFIER_PATTERN, max_length=64)]
InputDim = PosInt | SymbolicDim
DTYPES = ("float32", "float64", "float16", "bfloat16", "int64", "int32", "bool")
DType = Literal["float32", "float64", "float16", "bfloat16", "int64", "int32", "bool"]
FloatDType = Literal["float32", "float64", "float16", "bfloat16"]
ArgValue = StrictStr | AnyInt | StrictFloat | StrictBool | None  # ints in 64 bits, as torch takes them

# defer_build: no model builds its validator at import; a spec is checked by one validator
# built on first use (see validate), so start-up pays only for the models a spec needs.
_STRICT = ConfigDict(defer_build=True, extra="forbid", strict=False, hide_input_in_errors=True)


def _config(title: str, description: str = "") -> ConfigDict:
    extra: dict[str, Any] = {"description": description} if description else {}
    return ConfigDict(defer_build=True, extra="forbid", title=title, json_schema_extra=extra or None)  # type: ignore[typeddict-item]


# ---------------------------------------------------------------- layers

SEQUENTIAL = "Sequential"
BARE = "bare"
SEQUENCE = "list"


BLOCK = "block"  # a layer whose type names a block (or a root var naming one): checked by resolve
GROUP = "group"  # a mapping with `layers` and no `type`: children spliced into the parent, repeated or not


def _field(arg_default: Any, inferred: bool, annotation: Any) -> tuple[Any, Any]:
    if inferred:
        return annotation | None, None
    return annotation, ... if arg_default is REQUIRED else arg_default


class Expression(str):
    """A layer argument written as an expression (``planes * 4``): its value is known per instance.

    The grammar keeps it as text; :mod:`netspec.middle.resolve` reads it with :mod:`netspec.frontend.expr` and the
    value is checked against the argument's own type once it is known.
    """

    __slots__ = ()


def looks_like_expression(value: Any) -> bool:
    """A string that reads as an expression naming something (``planes``, ``c * 4``), not a constant."""
    if not isinstance(value, str) or isinstance(value, Expression) or not value.strip() or len(value) > 2_000:
        return False
    try:
        tree = ast.parse(value.strip(), mode="eval").body
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return not isinstance(tree, ast.Constant) and not (isinstance(tree, ast.UnaryOp) and isinstance(
        tree.operand, ast.Constant))


def _keep_expression(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    """The argument's own check first (``padding: same`` stays the literal); failing that, a string that
    reads as an expression is kept for later, and anything else reports the argument's own error."""
    try:
        return handler(value)
    except ValidationError:
        if looks_like_expression(value):
            return Expression(value)
        raise


def _expression_schema(schema: dict[str, Any]) -> None:
    original = dict(schema)
    schema.clear()
    # what editors show on hover and offer first (the description, the default) belongs to the argument
    for key in ("description", "default"):
        if key in original:
            schema[key] = original.pop(key)
    schema["anyOf"] = [original, {"type": "string", "title": "expression",
                                  "description": "an expression over vars, block arguments and repeat indexes"}]


def _arg_field(arg_default: Any, inferred: bool, annotation: Any, doc: str = "") -> tuple[Any, Any]:
    """A layer argument: its own type, or an expression checked once its value is known."""
    kind, default = _field(arg_default, inferred, annotation)
    wrapped = Annotated[kind, WrapValidator(_keep_expression),
                        Field(json_schema_extra=_expression_schema, description=doc or None)]
    return wrapped, default


Condition = StrictBool | Annotated[StrictStr, Field(min_length=1, max_length=2_000)]
Count = Annotated[StrictInt, Field(ge=0, le=100_000)] | Annotated[StrictStr, Field(min_length=1, max_length=2_000)]
KeyPattern = Annotated[StrictStr, Field(pattern=r"^[A-Za-z][A-Za-z0-9_]*(\{[^{}]+\}[A-Za-z0-9_]*)*$",
                                        max_length=256)]


class RepeatSpec(BaseModel):
    model_config = _config("repeat", "children made from one entry: count, the index's name, a key pattern")
    count: Count
    index: Identifier = "i"
    name: KeyPattern | None = None


Repeat = Count | RepeatSpec
_BUILD_FIELDS: dict[str, Any] = {
    "if_": (Condition | None, Field(None, alias="if", description="build the child only when this holds")),
    "repeat": (Repeat | None, Field(None, description="make several children from this entry")),
}


def _layer_model(layer: LayerType) -> type[BaseModel]:
    fields: dict[str, Any] = {"type": (Literal[layer.name], ...)}  # type: ignore[valid-type]
    for arg in layer.args:
        fields[arg.name] = _arg_field(arg.default, arg.inferred, arg.annotation, arg_doc(arg))
    return create_model(layer.name, __config__=_config(layer.name, layer.summary), **fields, **_BUILD_FIELDS)


def _layer_tagger(models: Mapping[str, Any]) -> Callable[[Any], str | None]:
    """The layer union's discriminator over one grammar's layer models."""

    def tag(value: Any) -> str | None:
        if isinstance(value, str):
            return BARE
        if isinstance(value, list):
            return SEQUENCE
        if isinstance(value, dict):
            kind = value.get("type")
            if kind is None and "layers" in value:
                return GROUP
            if isinstance(kind, str):
                return kind if kind in models or kind == SEQUENTIAL else BLOCK
            return None
        return None

    return tag


# The built-in registry's grammar; a registry with plugins has a Grammar of its own (see grammar()).
LAYER_MODELS: Mapping[str, type[BaseModel]] = MappingProxyType(
    {name: _layer_model(layer) for name, layer in REGISTRY.layers.items()})
_layer_tag = _layer_tagger(LAYER_MODELS)
BARE_NAMES = tuple(name for name, layer in REGISTRY.layers.items() if layer.bare_ok)
# A bare name is a layer type without arguments or a block (resolve checks which, with did-you-mean).
BareLayer = Annotated[StrictStr, Field(title="layer type or block name", examples=list(BARE_NAMES))]

SequentialModel = create_model(
    SEQUENTIAL,
    __config__=_config(SEQUENTIAL, "layers applied in order: a list (children 0, 1, 2...) or a mapping (named)"),
    type=(Literal["Sequential"], ...),
    layers=(list["LayerSpec"] | dict[Identifier, "LayerSpec"], ...),  # type: ignore[name-defined]
    **_BUILD_FIELDS,
)
# A block's `type` is any name but a layer type's (those have models of their own): which names are
# blocks depends on the spec, so the JSON Schema cannot refuse a misspelt layer type here; netspec does.
_LAYER_TYPE_NAMES = [*LAYER_MODELS, SEQUENTIAL]
BlockName = Annotated[StrictStr, Field(pattern=IDENTIFIER_PATTERN, max_length=64, json_schema_extra={
    "not": {"enum": _LAYER_TYPE_NAMES}})]
BlockUseModel = create_model(
    "BlockUse",
    __config__=ConfigDict(defer_build=True, extra="allow", title="block",
                          json_schema_extra={"description": "an instance of a block: its arguments by name"}),
    type=(BlockName, ...),
    **_BUILD_FIELDS,
)
GroupModel = create_model(
    "Group",
    __config__=_config("group", "children spliced into the parent: repeated, or built only when `if` holds"),
    layers=(list["LayerSpec"] | dict[KeyPattern, "LayerSpec"], ...),  # type: ignore[name-defined]
    **_BUILD_FIELDS,
)

def _layer_union(names: Collection[str] | None = None, sequential: Any = SequentialModel,
                 group: Any = None, of: Grammar | None = None) -> Any:
    """The layer grammar: every layer type (of the grammar ``of``, the built-in one by default), or only
    ``names`` (see _narrowed_spec)."""
    models = LAYER_MODELS if of is None else of.layer_models
    members: list[Any] = [Annotated[model, Tag(name)] for name, model in models.items()
                          if names is None or name in names]
    if names is None or SEQUENTIAL in names:
        members.append(Annotated[sequential, Tag(SEQUENTIAL)])
    if names is None or BLOCK in names:
        members.append(Annotated[BlockUseModel if of is None else of.block_use, Tag(BLOCK)])
    if names is None or GROUP in names:
        members.append(Annotated[group or GroupModel, Tag(GROUP)])
    members.append(Annotated[BareLayer, Tag(BARE)])
    if names is None or SEQUENCE in names:
        members.append(Annotated[list["LayerSpec" if of is None else _GRAMMAR_REF], Tag(SEQUENCE)])
    union = members[0]
    for member in members[1:]:
        union = union | member
    return Annotated[union, Discriminator(_layer_tag if of is None else of.tag)]


LayerSpec = TypeAliasType("LayerSpec", _layer_union())  # type: ignore[misc]
# SequentialModel's "LayerSpec" resolves from this module when it is first built
# (a model_rebuild here would build the whole layer grammar at import).

# ---------------------------------------------------------------- forward steps


def _op_arg_field(arg: Arg) -> tuple[Any, Any]:
    kind, default = _field(arg.default, False, arg.annotation)
    doc = arg_doc(arg)
    return (Annotated[kind, Field(description=doc)] if doc else kind), default


def _op_args_model(op: Op) -> type[BaseModel]:
    fields = {arg.name: _op_arg_field(arg) for arg in op.args}
    return create_model(f"{op.name}_args", __config__=_config(f"{op.name} arguments", op.summary), **fields)


OP_ARG_MODELS: dict[str, type[BaseModel]] = {name: _op_args_model(op) for name, op in OPS.items()}
STEP_OPS = tuple(name for name, op in OPS.items() if len(op.tensors) == 1 and not op.tensors[0].startswith("*"))


def _op_step_model(op: Op) -> type[BaseModel]:
    shorthand = [a.annotation for a in op.args[:1]]
    value = OP_ARG_MODELS[op.name] if not shorthand else OP_ARG_MODELS[op.name] | shorthand[0]
    return create_model(f"{op.name}_step", __config__=_config(f"{op.name} step", op.summary),
                        **{op.name: (value, ...)})


def _step_tag(value: Any) -> str | None:
    if isinstance(value, str):
        return "expr"
    if isinstance(value, dict) and len(value) == 1:
        (key,) = value
        return str(key)
    return None


STEP_MODELS: dict[str, type[BaseModel]] = {name: _op_step_model(OPS[name]) for name in STEP_OPS}
# The grammar above is a snapshot of the registry; freezing it keeps the snapshot the only
# truth (a type added now would be named in did-you-mean hints yet refused by the grammar).
REGISTRY.freeze("netspec.frontend.schema")


def _step_union(names: Collection[str] | None = None) -> Any:
    """The step grammar: an expression or any one-tensor op, or only the ops in ``names``."""
    members: list[Any] = [Annotated[StrictStr, Tag("expr")]]
    members += [Annotated[model, Tag(name)] for name, model in STEP_MODELS.items() if names is None or name in names]
    union = members[0]
    for member in members[1:]:
        union = union | member
    return Annotated[union, Discriminator(_step_tag)]


Step = _step_union()

# ---------------------------------------------------------------- params

# A dim is an int or the name of an entry of the spec's `vars`.
ParamShape = Annotated[list[PosInt | Identifier], Field(max_length=16)]


# The initialisers and their argument models live in ops/init.py (with their checks and torch spelling).
InitWithArgs = create_model(
    "InitWithArgs", __config__=ConfigDict(defer_build=True, extra="forbid", title="init with arguments"),
    **{name: (model, None) for name, model in INIT_ARGS.items()},
)
Init = Literal[SIMPLE_INITS] | Literal[tuple(INIT_ARGS)] | InitWithArgs  # type: ignore[valid-type]


class ParamItem(BaseModel):
    """One ``nn.Parameter``."""

    model_config = _config("Parameter", "one nn.Parameter: a shape and how to fill it")
    shape: ParamShape
    init: Init = "randn"
    requires_grad: StrictBool = True
    dtype: FloatDType | None = None


class ListItem(ParamItem):
    model_config = _config("ParameterList item", "a Parameter, repeated `repeat` times")
    repeat: Annotated[StrictInt, Field(ge=1, le=10_000)] = 1


class ParamListSpec(BaseModel):
    model_config = _config("ParameterList", "an nn.ParameterList, registered as <name>.0, <name>.1, ...")
    items: Annotated[list[ListItem | ParamShape], Field(min_length=1, alias="list")]


class ParamDictSpec(BaseModel):
    model_config = _config("ParameterDict", "an nn.ParameterDict, registered as <name>.<key> in order")
    items: Annotated[dict[Identifier, ParamItem | ParamShape], Field(min_length=1, alias="dict")]


def _param_tag(value: Any) -> str | None:
    if isinstance(value, list):
        return "shape"
    if isinstance(value, dict):
        return "ParameterList" if "list" in value else "ParameterDict" if "dict" in value else "Parameter"
    return None


ParamSpec = Annotated[
    Annotated[ParamShape, Tag("shape")]
    | Annotated[ParamItem, Tag("Parameter")]
    | Annotated[ParamListSpec, Tag("ParameterList")]
    | Annotated[ParamDictSpec, Tag("ParameterDict")],
    Discriminator(_param_tag),
]

# ---------------------------------------------------------------- buffers

BufferInitWithArgs = create_model(
    "BufferInitWithArgs", __config__=ConfigDict(defer_build=True, extra="forbid", title="buffer fill with arguments"),
    **{name: (fill.args, None) for name, fill in FILLS.items()},
)
BufferInit = Literal[tuple(name for name, fill in FILLS.items() if not any(  # type: ignore[misc]
    f.is_required() for f in fill.args.model_fields.values()))] | BufferInitWithArgs


class BufferSpec(BaseModel):
    """One buffer: ``register_buffer(name, tensor, persistent=...)``."""

    model_config = _config("buffer", "a tensor the module holds and moves with .to() but does not train "
                           "(register_buffer): RoPE's inv_freq, a causal mask")
    shape: ParamShape | None = Field(None, description="ints and names of vars or block arguments; the arange and "
                                     "rope fills give their own")
    init: BufferInit = Field("zeros", description="how it is filled at build time")  # type: ignore[valid-type]
    dtype: DType | None = Field(None, description="its dtype (default: the fill's, else the module's)")
    persistent: StrictBool = Field(True, description="whether it is in the state_dict (transformers' inv_freq "
                                   "is not)")


BuffersSpec = Annotated[dict[Identifier, BufferSpec], Field(description="buffers: tensors the module holds but does "
                                                            "not train, filled at build time")]

# ---------------------------------------------------------------- ties

ParamPath = Annotated[StrictStr, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)*$", max_length=1_024)]


class TieSpec(BaseModel):
    model_config = _config("tie", "this parameter is the Parameter at `to`: one tensor under two names")
    to: ParamPath = Field(description="the parameter it is, as a state_dict key: model.embed_tokens.weight")
    if_: StrictStr | StrictBool | None = Field(None, alias="if", description="tie only when this holds "
                                               "(a var: tie_word_embeddings)")


TiesSpec = Annotated[dict[ParamPath, ParamPath | TieSpec], Field(
    description="tied parameters: 'lm_head.weight: model.embed_tokens.weight' makes the first the second "
    "Parameter itself (as transformers ties embeddings); counted once")]

# ---------------------------------------------------------------- the spec


class InputSpec(BaseModel):
    model_config = _config("input", "a tensor input: its shape and dtype")
    shape: Annotated[list[InputDim], Field(max_length=16)]
    dtype: DType = "float32"


ShapeSpec = Annotated[list[InputDim], Field(max_length=16)]
InputsSpec = Annotated[dict[Identifier, ShapeSpec | InputSpec],
                       Field(min_length=1, description="forward's tensor inputs: shapes of ints and symbols")]
OutputsSpec = Annotated[ShapeSpec | Annotated[dict[Identifier, ShapeSpec], Field(min_length=1)],
                        Field(description="the output shape forward must give (or one per returned value)")]
# A var is a number, a flag, a list of them (a table of settings), or a string: an expression when it
# reads as one over the names before it (`width * 4`), a plain string otherwise.
VarScalar = AnyInt | StrictFloat | StrictBool | Annotated[StrictStr, Field(max_length=2_000)] | None
VarValue = VarScalar | Annotated[list[VarScalar | Annotated[list[VarScalar], Field(max_length=1_024)]],
                                 Field(max_length=1_024)]  # a value, a list, or a table (a list of lists)
VarsSpec = Annotated[dict[Identifier, VarValue], Field(description="named values and expressions over them")]
ArgKind = Literal["int", "float", "bool", "str", "list"]
# A list argument's value: numbers, flags and strings, or lists of them (Permute's dims, a stage's widths).
ArgList = Annotated[list[AnyInt | StrictFloat | StrictBool | StrictStr | Annotated[
    list[AnyInt | StrictFloat | StrictBool | StrictStr], Field(max_length=1_024)]], Field(max_length=1_024)]


class ArgDecl(BaseModel):
    model_config = _config("block argument", "a constructor argument of the block's class")
    type: ArgKind
    default: AnyInt | StrictFloat | StrictBool | StrictStr | ArgList | None = None
    doc: Annotated[StrictStr, Field(max_length=1_000)] | None = None


# `planes: int` (required), `stride: 1` (a default, its type taken from it), `dims: [0, 2, 3, 1]`, or the full form.
BlockArgSpec = ArgKind | AnyInt | StrictFloat | StrictBool | ArgList | ArgDecl


class BlockSpec(BaseModel):
    """A reusable module definition: one generated class with constructor arguments."""

    model_config = _config("block", "a module definition: arguments, inputs, layers, params and forward")
    description: StrictStr | None = Field(None, max_length=10_000)
    args: dict[Identifier, BlockArgSpec] = Field(default_factory=dict,
                                                 description="constructor arguments, in order")
    inputs: InputsSpec
    outputs: OutputsSpec | None = None
    vars: VarsSpec = Field(default_factory=dict)
    layers: dict[Identifier, LayerSpec] | list[LayerSpec] = Field(  # type: ignore[valid-type]
        default_factory=dict, description="submodules; a list makes the block a Sequential")
    params: dict[Identifier, ParamSpec] = Field(default_factory=dict)
    buffers: BuffersSpec = Field(default_factory=dict)
    forward: Annotated[list[Step], Field(min_length=1)] | None = None  # type: ignore[valid-type]


ImportPath = Annotated[StrictStr, Field(min_length=1, max_length=1_024)]


class Spec(BaseModel):
    """A netspec model spec."""

    model_config = ConfigDict(defer_build=True, extra="forbid", title="netspec spec")
    netspec: Annotated[StrictInt, Field(ge=SPEC_VERSION, le=SPEC_VERSION, description="spec format version")]
    name: Annotated[Identifier, Field(description="the generated class name")]
    description: StrictStr | None = Field(None, max_length=10_000)
    extends: ImportPath | None = Field(None, description="a spec file this one changes (relative path)")
    imports: Annotated[list[ImportPath], Field(max_length=64)] = Field(
        default_factory=list, description="spec files whose blocks this spec uses (relative paths)")
    inputs: InputsSpec
    outputs: OutputsSpec | None = None
    vars: VarsSpec = Field(default_factory=dict)
    args: dict[Identifier, ArgValue] = Field(default_factory=dict,
                                            description="forward's non-tensor arguments, with their defaults")
    blocks: dict[Identifier, BlockSpec] = Field(default_factory=dict,
                                                description="module definitions, each generated as a class")
    layers: dict[Identifier, LayerSpec] = Field(default_factory=dict,  # type: ignore[valid-type]
                                                description="submodules, in registration order")
    params: dict[Identifier, ParamSpec] = Field(default_factory=dict,
                                                description="raw Parameter / ParameterList / ParameterDict")
    buffers: BuffersSpec = Field(default_factory=dict)
    ties: TiesSpec = Field(default_factory=dict)
    forward: Annotated[list[Step], Field(min_length=1)] | None = Field(  # type: ignore[valid-type]
        None, description="steps; omitted: apply layers in order")


TAG_MODELS: Mapping[str, type[BaseModel]] = MappingProxyType({
    **LAYER_MODELS, SEQUENTIAL: SequentialModel, "BlockUse": BlockUseModel, "Group": GroupModel,
    "BlockSpec": BlockSpec, "ArgDecl": ArgDecl, "RepeatSpec": RepeatSpec, "Parameter": ParamItem,
    "ParameterList": ParamListSpec,
    "ParameterDict": ParamDictSpec, "InputSpec": InputSpec, "BufferSpec": BufferSpec, "TieSpec": TieSpec,
    **{name: OP_ARG_MODELS[name] for name in STEP_OPS}, "ListItem": ListItem, "InitWithArgs": InitWithArgs,
    **{model.__name__: model for model in INIT_ARGS.values()},
})


class Grammar:
    """The grammar of one registry: the models a spec is validated against and the validators built from
    them.  Immutable once made, but for its caches (the whole grammar's validator, a few narrowed ones,
    the JSON Schema), each built once, under the grammar's own lock.  :func:`grammar` makes one per
    registry: a plugin makes a new registry, so a new grammar, and never changes this one, so a
    validation that started with it finishes with it."""

    def __init__(self, registry: Registry, base: Grammar | None = None) -> None:
        self.registry = registry
        self._lock = threading.RLock()
        self._adapter: TypeAdapter[Spec] | None = None
        self._narrowed: dict[tuple[frozenset[str], frozenset[str]], type[Spec]] = {}
        self._json_schema: dict[str, Any] | None = None
        if base is None:  # the built-in registry's grammar: the models above
            self.layer_models: Mapping[str, type[BaseModel]] = LAYER_MODELS
            self.tag_models: Mapping[str, type[BaseModel]] = TAG_MODELS
            self.tag: Callable[[Any], str | None] = _layer_tag
            self.block_use: type[BaseModel] = BlockUseModel
            self.spec: type[Spec] = Spec
            self._namespace: dict[str, Any] | None = None
            self._containers: list[type[BaseModel]] = []
            return
        models = {name: base.layer_models.get(name) or _layer_model(layer) for name, layer in registry.layers.items()}
        self.layer_models = MappingProxyType(models)
        self.tag_models = MappingProxyType({**base.tag_models, **models})
        self.tag = _layer_tagger(self.layer_models)
        # a block's `type` is any name but a layer type's, a plugin's included
        block_name = Annotated[StrictStr, Field(pattern=IDENTIFIER_PATTERN, max_length=64, json_schema_extra={
            "not": {"enum": [*models, SEQUENTIAL]}})]
        self.block_use = create_model("BlockUse", __base__=BlockUseModel, __module__=__name__,
                                      type=(block_name, ...))
        # built on first use, over this grammar's "LayerSpec" (a name in the models' module means the built-in one)
        self.spec, self._namespace, self._containers = _derive(self, None, None)

    @property
    def whole_built(self) -> bool:
        """Whether the whole grammar's validator is built (from then on it is used alone)."""
        return self._adapter is not None

    @property
    def narrowed_count(self) -> int:
        return len(self._narrowed)

    def adapter(self) -> TypeAdapter[Spec]:
        """The whole grammar's validator, built here (under the lock), not lazily by the first validation:
        a validator once built is self-contained, so threads may use it at once."""
        with self._lock:
            if self._adapter is None:
                self._build_spec()
                adapter: TypeAdapter[Spec] = TypeAdapter(self.spec)
                adapter.rebuild()
                self._adapter = adapter
            return self._adapter

    def narrowed_spec(self, data: Any) -> type[Spec] | None:
        """The grammar narrowed to what ``data`` names (see below), or None: use the whole grammar."""
        with self._lock:
            if self._adapter is not None:
                return None
            tags = self.used_tags(data)
            if tags is None:
                return None
            if tags not in self._narrowed:
                if len(self._narrowed) >= _NARROWED_LIMIT:
                    return None
                model = _build(*_derive(self, *tags))  # built now, under the lock, not by its first use
                self._narrowed[tags] = model
            return self._narrowed[tags]

    def used_tags(self, data: dict[str, Any]) -> tuple[frozenset[str], frozenset[str]] | None:
        """The layer-union and step-union tags the spec's data names (its blocks' too); None if one is unknown."""
        blocks = data.get("blocks")
        definitions = ([data, *(b for b in blocks.values() if isinstance(b, dict))] if isinstance(blocks, dict)
                       else [data])
        layers: set[str] = set()
        steps: set[str] = set()
        for definition in definitions:
            found = definition.get("layers")
            stack = list(found.values()) if isinstance(found, dict) else list(found) if isinstance(found, list) else []
            while stack:
                value = stack.pop()
                tag = self.tag(value)
                if tag is not None and tag != BARE:
                    layers.add(tag)
                children = value.get("layers") if tag in (SEQUENTIAL, GROUP) else value if tag == SEQUENCE else None
                stack.extend(children.values() if isinstance(children, dict) else children
                             if isinstance(children, list) else ())
            forward = definition.get("forward")
            steps |= {tag for tag in map(_step_tag, forward if isinstance(forward, list) else ())
                      if tag not in (None, "expr")}
        if not layers <= {*self.layer_models, SEQUENTIAL, SEQUENCE, BLOCK, GROUP} or not steps <= STEP_MODELS.keys():
            return None
        return frozenset(layers), frozenset(steps)

    def json_schema(self) -> dict[str, Any]:
        with self._lock:
            if self._json_schema is None:
                self._build_spec()
                self._json_schema = schema_json.json_schema_of(self.spec)
            return self._json_schema

    def _build_spec(self) -> None:
        if self._namespace is not None:
            _build(self.spec, self._namespace, self._containers)
            self._namespace = None


_BASE_GRAMMAR = Grammar(REGISTRY)
# The grammars of registries with plugins, by registry (each registry is immutable: one plugin set).
_GRAMMARS: weakref.WeakKeyDictionary[Registry, Grammar] = weakref.WeakKeyDictionary()
_GRAMMARS_LOCK = threading.Lock()


def grammar(of: Registry | None = None) -> Grammar:
    """The grammar of ``of`` (the current registry by default), made once per registry."""
    reg = registry() if of is None else of
    if reg is REGISTRY:
        return _BASE_GRAMMAR
    with _GRAMMARS_LOCK:
        found = _GRAMMARS.get(reg)
        if found is None:
            found = _GRAMMARS[reg] = Grammar(reg, _BASE_GRAMMAR)
        return found


def add_layers(layers: Collection[tuple[LayerType, str]]) -> Registry:
    """Register plugin layer types (each with where it was registered): the current registry plus these,
    all or none, becomes the current registry, with its own grammar.

    The registry of before and its grammar stay as they were (a validation already running keeps the
    grammar it started with).  A name taken, by a built-in type or another plugin, raises RegistryError
    naming both places.  Called by :mod:`netspec.plugins`.
    """

    def change(current: Registry) -> Registry:
        new = current.with_layers(list(layers))
        grammar(new)  # made now: a layer type the grammar cannot take is refused here, the registry unchanged
        return new

    return publish(change)


# ---------------------------------------------------------------- the narrowed grammar (start-up speed)
#
# Building the validator of the whole grammar (every layer type, every op) is most
# of `netspec validate`'s own start-up, yet a spec names a handful of them.  So a
# spec is first checked against the grammar narrowed to the layer types and ops it
# names: the same models, the same discriminators, fewer union members.  A spec it
# accepts gets exactly what the whole grammar would give (each value went through
# the same member); a spec it refuses is checked again by the whole grammar, which
# reports the errors, so diagnostics never depend on the narrowing.  Once the whole
# grammar is built, or after a few narrowed ones (a long test run), it is used alone.

_NARROWED_LIMIT = 8


def validate(data: Any) -> Spec:
    """``data`` as a Spec, checked by the grammar narrowed to what it names, else by the whole grammar;
    raises pydantic's ValidationError (:mod:`netspec.frontend.validate` turns it into diagnostics)."""
    current = grammar()
    narrowed = _narrowed_spec(data)
    if narrowed is not None:
        try:
            return narrowed.model_validate(data)
        except ValidationError:
            pass  # the whole grammar reports the errors, exactly as without the narrowing
    return current.adapter().validate_python(data)


def _narrowed_spec(data: Any) -> type[Spec] | None:
    return grammar().narrowed_spec(data)


def _used_tags(data: dict[str, Any]) -> tuple[frozenset[str], frozenset[str]] | None:
    return grammar().used_tags(data)


def _build_narrowed(layers: frozenset[str], steps: frozenset[str]) -> type[Spec]:
    return _build(*_derive(grammar(), layers, steps))


def _spec_adapter() -> TypeAdapter[Spec]:
    return grammar().adapter()


# A derived grammar's layer union refers to itself by this name, bound only in the namespace its models are
# built with (a name of this module, such as LayerSpec, would be resolved to the built-in union at once).
_GRAMMAR_REF = "GrammarLayerSpec"
# Sequential's and Group's `layers` in a derived grammar.
_CONTAINER_LAYERS: dict[str, Any] = {
    SEQUENTIAL: list[_GRAMMAR_REF] | dict[Identifier, _GRAMMAR_REF],  # type: ignore[valid-type]
    GROUP: list[_GRAMMAR_REF] | dict[KeyPattern, _GRAMMAR_REF],  # type: ignore[valid-type]
}


def _derive(g: Grammar, layers: frozenset[str] | None,
            steps: frozenset[str] | None) -> tuple[type[Spec], dict[str, Any], list[type[BaseModel]]]:
    """The spec model over ``g``'s layer models, narrowed to the layer tags ``layers`` and the ops ``steps``
    (None: all of them): the same models, the same discriminators, fewer union members.  Not built: see
    :func:`_build`, given what this returns (the namespace naming this union, the models holding layers)."""
    # Sequential and Group hold layers themselves: re-declared so their `layers` refer to this union
    containers: dict[str, Any] = {}
    for tag, base in ((SEQUENTIAL, SequentialModel), (GROUP, GroupModel)):
        if layers is None or tag in layers:
            containers[tag] = create_model(base.__name__, __base__=base,
                                           layers=(_CONTAINER_LAYERS[tag], copy.copy(base.model_fields["layers"])))
    alias = TypeAliasType("LayerSpec", _layer_union(layers, containers.get(SEQUENTIAL),  # type: ignore[misc]
                                                    containers.get(GROUP), g))
    swaps: dict[str, Any] = {"LayerSpec": alias}
    if steps is not None:
        swaps["Step"] = _step_union(steps)
    block = create_model("BlockSpec", __base__=BlockSpec, __module__=__name__,
                         layers=_narrowed_field(BlockSpec, "layers", swaps),
                         forward=_narrowed_field(BlockSpec, "forward", swaps))
    swaps["BlockSpec"] = block
    spec = create_model("Spec", __base__=Spec, __module__=__name__, blocks=_narrowed_field(Spec, "blocks", swaps),
                        layers=_narrowed_field(Spec, "layers", swaps), forward=_narrowed_field(Spec, "forward", swaps))
    return spec, {_GRAMMAR_REF: alias}, list(containers.values())


def _build(spec: type[Spec], namespace: dict[str, Any], containers: list[type[BaseModel]]) -> type[Spec]:
    """Build a derived grammar's validators (costly: the whole union of layer types, unless narrowed)."""
    for model in containers:
        model.model_rebuild(_types_namespace=namespace)
    spec.model_rebuild(_types_namespace=namespace)
    return spec


def _narrowed_field(model: type[BaseModel], name: str, swaps: dict[str, Any]) -> tuple[Any, Any]:
    """``model``'s field, its annotation with the whole-grammar unions swapped for narrowed ones."""
    info = model.model_fields[name]
    return _swap(info.annotation, swaps), copy.copy(info)


def _swap(annotation: Any, swaps: dict[str, Any]) -> Any:
    if annotation is LayerSpec and "LayerSpec" in swaps:
        return swaps["LayerSpec"]
    if annotation is BlockSpec and "BlockSpec" in swaps:
        return swaps["BlockSpec"]
    if annotation is Step and "Step" in swaps:
        return swaps["Step"]
    args = get_args(annotation)
    if not args or isinstance(annotation, TypeAliasType):
        return annotation
    origin = get_origin(annotation)
    if origin is Annotated:
        return Annotated[(_swap(args[0], swaps), *annotation.__metadata__)]
    new = tuple(_swap(arg, swaps) for arg in args)
    if all(a is b for a, b in zip(new, args, strict=True)):
        return annotation
    return Union[new] if origin in (Union, UnionType) else origin[new]  # noqa: UP007 - built from a tuple


def json_schema() -> dict[str, Any]:
    """The JSON Schema of the current registry's grammar (the plugins loaded so far included)."""
    return grammar().json_schema()


def json_schema_text() -> str:
    return json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"
