"""The spec's grammar written as pydantic v2 models: the truth the validators and the JSON Schema are made from.

Per-layer and per-op argument models are drawn from the registry, so a layer added there is accepted, documented
in the JSON Schema and covered by the tests at once.  Nothing here runs when a spec is checked:
:mod:`netspec.frontend.schema` validates with the core schema pydantic generates from these models (made once per
netspec version and plugin set, then read from its cache on disk), and ``schemas/netspec.schema.json`` is
:meth:`ModelGrammar.json_schema` written out (made to teach by :mod:`netspec.frontend.schema_json`); a test keeps the
two in sync.
"""

from __future__ import annotations

import copy
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
    Strict,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    Tag,
    TypeAdapter,
    WrapValidator,
    create_model,
)
from typing_extensions import TypeAliasType

from .. import ops
from ..ops import (
    OPS,
    REGISTRY,
    REQUIRED,
    Arg,
    LayerType,
    Op,
    Registry,
    arg_doc,
)
from ..ops.annotations import STRICT, ArgsModel, Constraint
from ..ops.buffers import FILLS
from ..ops.init import INIT_ARGS, SIMPLE_INITS
from . import schema_json
from .tags import (
    BARE,
    BLOCK,
    EXPR,
    GROUP,
    IDENTIFIER_PATTERN,
    SEQUENCE,
    SEQUENTIAL,
    SPEC_VERSION,
    STEP_OPS,
    keep_expression,
    layer_tagger,
    param_tag,
    step_tag,
)


def pydantic_type(annotation: Any) -> Any:
    """``annotation`` in pydantic's words: the registry's markers (:mod:`netspec.ops.annotations`) turned into
    pydantic's own, ``STRICT`` into ``Strict()`` and a ``Constraint`` into ``Field(...)``, inside unions, lists,
    tuples and dicts too; anything else as it is."""
    args = get_args(annotation)
    if not args or isinstance(annotation, TypeAliasType) or get_origin(annotation) is Literal:
        return annotation
    origin = get_origin(annotation)
    if origin is Annotated:
        return Annotated[(pydantic_type(args[0]), *map(_pydantic_marker, annotation.__metadata__))]
    new = tuple(pydantic_type(arg) for arg in args)
    if all(a is b for a, b in zip(new, args, strict=True)):
        return annotation
    return Union[new] if origin in (Union, UnionType) else origin[new]  # noqa: UP007 - built from a tuple


def _pydantic_marker(marker: Any) -> Any:
    if marker is STRICT:
        return Strict()
    if isinstance(marker, Constraint):
        return Field(**marker.bounds)
    return marker


_ARGS_MODELS: dict[ArgsModel, type[BaseModel]] = {}


def args_model(decl: ArgsModel, config: ConfigDict) -> type[BaseModel]:
    """The pydantic model of an initialiser's or a buffer fill's arguments, one per declaration (two
    initialisers sharing a declaration share the model, and the JSON Schema has it once)."""
    found = _ARGS_MODELS.get(decl)
    if found is None:
        fields = {name: (pydantic_type(arg.annotation), arg.default if arg.description is None
                         else Field(arg.default, description=arg.description)) for name, arg in decl.fields.items()}
        found = _ARGS_MODELS[decl] = create_model(decl.name, __config__=config, **fields)
    return found


PosInt = pydantic_type(ops.PosInt)
AnyInt = pydantic_type(ops.AnyInt)
Identifier = Annotated[StrictStr, Field(pattern=IDENTIFIER_PATTERN, max_length=64)]
SymbolicDim = Annotated[StrictStr, Field(pattern=IDENTIFIER_PATTERN, max_length=64)]
InputDim = PosInt | SymbolicDim
DType = Literal["float32", "float64", "float16", "bfloat16", "int64", "int32", "bool"]
FloatDType = Literal["float32", "float64", "float16", "bfloat16"]
ArgValue = StrictStr | AnyInt | StrictFloat | StrictBool | None  # ints in 64 bits, as torch takes them

# defer_build: no model builds its validator at import; the whole spec model's core schema is generated once
# (ModelGrammar.core_schema) and netspec.frontend.schema checks specs with it.
_STRICT = ConfigDict(defer_build=True, extra="forbid", strict=False, hide_input_in_errors=True)


def _config(title: str, description: str = "") -> ConfigDict:
    extra: dict[str, Any] = {"description": description} if description else {}
    return ConfigDict(defer_build=True, extra="forbid", title=title, json_schema_extra=extra or None)  # type: ignore[typeddict-item]


# ---------------------------------------------------------------- layers

def _field(arg_default: Any, inferred: bool, annotation: Any) -> tuple[Any, Any]:
    annotation = pydantic_type(annotation)
    if inferred:
        return annotation | None, None
    return annotation, ... if arg_default is REQUIRED else arg_default


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
    wrapped = Annotated[kind, WrapValidator(keep_expression),
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


# The built-in registry's grammar; a registry with plugins has a Grammar of its own (see grammar()).
LAYER_MODELS: Mapping[str, type[BaseModel]] = MappingProxyType(
    {name: _layer_model(layer) for name, layer in REGISTRY.layers.items()})
_layer_tag = layer_tagger(LAYER_MODELS)
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
                 group: Any = None, of: ModelGrammar | None = None) -> Any:
    """The layer grammar: every layer type (of the grammar ``of``, the built-in one by default), or only
    ``names``."""
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


def _op_step_model(op: Op) -> type[BaseModel]:
    shorthand = [pydantic_type(a.annotation) for a in op.args[:1]]
    value = OP_ARG_MODELS[op.name] if not shorthand else OP_ARG_MODELS[op.name] | shorthand[0]
    return create_model(f"{op.name}_step", __config__=_config(f"{op.name} step", op.summary),
                        **{op.name: (value, ...)})


STEP_MODELS: dict[str, type[BaseModel]] = {name: _op_step_model(OPS[name]) for name in STEP_OPS}
# (the registry is frozen by netspec.frontend.schema, imported before this module by netspec's __init__)


def _step_union(names: Collection[str] | None = None) -> Any:
    """The step grammar: an expression or any one-tensor op, or only the ops in ``names``."""
    members: list[Any] = [Annotated[StrictStr, Tag(EXPR)]]
    members += [Annotated[model, Tag(name)] for name, model in STEP_MODELS.items() if names is None or name in names]
    union = members[0]
    for member in members[1:]:
        union = union | member
    return Annotated[union, Discriminator(step_tag)]


Step = _step_union()

# ---------------------------------------------------------------- params

# A dim is an int or the name of an entry of the spec's `vars`.
ParamShape = Annotated[list[PosInt | Identifier], Field(max_length=16)]


# The initialisers and their argument models live in ops/init.py (with their checks and torch spelling).
InitWithArgs = create_model(
    "InitWithArgs", __config__=ConfigDict(defer_build=True, extra="forbid", title="init with arguments"),
    **{name: (args_model(decl, _STRICT), None) for name, decl in INIT_ARGS.items()},
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


ParamSpec = Annotated[
    Annotated[ParamShape, Tag("shape")]
    | Annotated[ParamItem, Tag("Parameter")]
    | Annotated[ParamListSpec, Tag("ParameterList")]
    | Annotated[ParamDictSpec, Tag("ParameterDict")],
    Discriminator(param_tag),
]

# ---------------------------------------------------------------- buffers


def _fill_config(decl: ArgsModel) -> ConfigDict:
    return ConfigDict(extra="forbid", defer_build=True, title=decl.title,
                      json_schema_extra={"description": decl.description})


BufferInitWithArgs = create_model(
    "BufferInitWithArgs", __config__=ConfigDict(defer_build=True, extra="forbid", title="buffer fill with arguments"),
    **{name: (args_model(fill.args, _fill_config(fill.args)), None) for name, fill in FILLS.items()},
)
BufferInit = Literal[tuple(name for name, fill in FILLS.items()  # type: ignore[misc]
                           if not fill.args.required)] | BufferInitWithArgs


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

# ---------------------------------------------------------------- init passes

# The parameters one entry of a pass fills: a path relative to the module (weight, bn3.weight) -> an initialiser.
ParamInits = Annotated[dict[ParamPath, Init], Field(min_length=1, max_length=64)]  # type: ignore[valid-type]


class InitPassSpec(BaseModel):
    """One pass of ``init:``: torchvision's ``for m in self.modules(): if isinstance(m, nn.Conv2d): ...``."""

    model_config = ConfigDict(defer_build=True, extra="allow", title="init pass", json_schema_extra={
        "description": "one loop over the module's submodules, in registration order, after every one is built: "
        "a layer type or block name -> the parameters of each module of that type to fill (Conv2d: {weight: "
        "{kaiming_normal: {mode: fan_out, nonlinearity: relu}}}); or self -> parameters of this module "
        "(conv_proj.weight: zeros)"})
    __pydantic_extra__: dict[str, ParamInits]  # type: ignore[valid-type]
    if_: StrictStr | StrictBool | None = Field(None, alias="if", description="run the pass only when this holds "
                                               "(a var: zero_init_residual)")


InitPassesSpec = Annotated[list[InitPassSpec], Field(max_length=64, description=(
    "initialisers run once every submodule is built, as torchvision's models re-initialise: passes in order"))]

# ---------------------------------------------------------------- weights

# A key pattern of a rename: dotted segments, each literal text with at most one `{name}` placeholder that
# matches a piece of one segment (plain data: no regex, matched in one pass over the key).  The URL, the hash,
# the patterns and meta's keys are checked by netspec/middle/named_weights.py, whose messages say what they are.
RenamePattern = Annotated[StrictStr, Field(min_length=1, max_length=256)]
MetaScalar = AnyInt | StrictFloat | StrictBool | Annotated[StrictStr, Field(max_length=2_000)] | None
MetaKey = Annotated[StrictStr, Field(min_length=1, max_length=64)]
MetaValue = MetaScalar | Annotated[list[MetaScalar], Field(max_length=1_024)] | Annotated[
    dict[MetaKey, MetaScalar | Annotated[list[MetaScalar], Field(max_length=1_024)] | Annotated[
        dict[MetaKey, MetaScalar], Field(max_length=64)]], Field(max_length=64)]


class WeightSpec(BaseModel):
    model_config = _config("named weights", "a published checkpoint of this model: where it is, its hash, the "
                           "key renames it needs and what is known of it")
    url: Annotated[StrictStr, Field(max_length=2_048, description="where it is published (https only); its last "
                                    "path segment is the file name in torch.hub's cache")]
    hash: Annotated[StrictStr, Field(max_length=64, description="the file's SHA-256, or its first 8+ hex digits "
                                     "(torchvision's file names carry them)")]
    vars: VarsSpec = Field(default_factory=dict, description="the vars the checkpoint was trained with: "
                           "loading it into a model whose vars differ is refused")
    renames: Annotated[dict[RenamePattern, RenamePattern], Field(max_length=64, description=(
        "checkpoint key -> module key, for old checkpoints: 'features.{b}.{l}.norm.{n}.{p}': "
        "'features.{b}.{l}.norm{n}.{p}'; a {name} matches part of one dotted segment"))] = Field(default_factory=dict)
    meta: Annotated[dict[MetaKey, MetaValue], Field(max_length=64, description=(
        "plain data: num_params, transforms, metrics, categories (a list, or a shipped list's name)"))] = Field(
        default_factory=dict)


WeightsSpec = Annotated[dict[Identifier, WeightSpec | Identifier], Field(
    max_length=64, description="named weights: NAME -> a published checkpoint, or NAME -> another name "
    "(DEFAULT: IMAGENET1K_V2)")]

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
    init: InitPassesSpec = Field(default_factory=list)
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
    weights: WeightsSpec = Field(default_factory=dict)
    init: InitPassesSpec = Field(default_factory=list)
    forward: Annotated[list[Step], Field(min_length=1)] | None = Field(  # type: ignore[valid-type]
        None, description="steps; omitted: apply layers in order")


TAG_MODELS: Mapping[str, type[BaseModel]] = MappingProxyType({
    **LAYER_MODELS, SEQUENTIAL: SequentialModel, "BlockUse": BlockUseModel, "Group": GroupModel,
    "BlockSpec": BlockSpec, "ArgDecl": ArgDecl, "RepeatSpec": RepeatSpec, "Parameter": ParamItem,
    "ParameterList": ParamListSpec,
    "ParameterDict": ParamDictSpec, "InputSpec": InputSpec, "BufferSpec": BufferSpec, "TieSpec": TieSpec,
    "WeightSpec": WeightSpec, "InitPassSpec": InitPassSpec,
    **{name: OP_ARG_MODELS[name] for name in STEP_OPS}, "ListItem": ListItem, "InitWithArgs": InitWithArgs,
    **{decl.name: args_model(decl, _STRICT) for decl in INIT_ARGS.values()},
})


class ModelGrammar:
    """The models of one registry's grammar: the built-in one (the models above) or one with plugin layer types
    (derived from it).  Built once, under its lock: the whole spec model, its core schema, its JSON Schema."""

    def __init__(self, registry: Registry, base: ModelGrammar | None = None) -> None:
        self.registry = registry
        self._lock = threading.RLock()
        self._core_schema: Any = None
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
        self.tag = layer_tagger(self.layer_models)
        # a block's `type` is any name but a layer type's, a plugin's included
        block_name = Annotated[StrictStr, Field(pattern=IDENTIFIER_PATTERN, max_length=64, json_schema_extra={
            "not": {"enum": [*models, SEQUENTIAL]}})]
        self.block_use = create_model("BlockUse", __base__=BlockUseModel, __module__=__name__,
                                      type=(block_name, ...))
        # built on first use, over this grammar's "LayerSpec" (a name in the models' module means the built-in one)
        self.spec, self._namespace, self._containers = _derive(self)

    def core_schema(self) -> Any:
        """The whole spec model's core schema, as pydantic generates it (the layer union's discriminator is
        :attr:`tag`)."""
        with self._lock:
            if self._core_schema is None:
                self._build_spec()
                self._core_schema = _core_schema(self.spec)
            return self._core_schema

    def op_core_schemas(self) -> dict[str, Any]:
        """Each op's argument model's core schema (shape inference checks an op's constant arguments with it)."""
        return {name: _core_schema(model) for name, model in OP_ARG_MODELS.items()}

    def arg_core_schemas(self) -> dict[str, Any]:
        """Each layer argument's own type as a core schema, by ``layer.arg`` (an argument written as an expression is
        checked with it once its value is known), and each call keyword's, by ``layer(arg)``."""
        found: dict[str, Any] = {}
        for name, layer in self.registry.layers.items():
            for arg in layer.args:
                annotation = pydantic_type(arg.annotation)
                found[f"{name}.{arg.name}"] = TypeAdapter(annotation | None if arg.inferred else annotation).core_schema
            for arg in layer.call_args:
                found[f"{name}({arg.name})"] = TypeAdapter(pydantic_type(arg.annotation)).core_schema
        return found

    def json_schema(self) -> dict[str, Any]:
        with self._lock:
            if self._json_schema is None:
                self._build_spec()
                self._json_schema = schema_json.json_schema_of(self.spec)
            return self._json_schema

    def _build_spec(self) -> None:
        if self._namespace is not None:
            for model in self._containers:
                model.model_rebuild(_types_namespace=self._namespace)
            self.spec.model_rebuild(_types_namespace=self._namespace)
            self._namespace = None


def _core_schema(model: type[BaseModel]) -> Any:
    adapter = TypeAdapter(model)
    adapter.rebuild()  # the models defer their build: built here, not by a first validation
    return adapter.core_schema


_BASE_GRAMMAR = ModelGrammar(REGISTRY)
# The model grammars of registries with plugins, by registry (each registry is immutable: one plugin set).
_GRAMMARS: weakref.WeakKeyDictionary[Registry, ModelGrammar] = weakref.WeakKeyDictionary()
_GRAMMARS_LOCK = threading.Lock()


def model_grammar(of: Registry) -> ModelGrammar:
    """The models of ``of``'s grammar, made once per registry."""
    if of is REGISTRY:
        return _BASE_GRAMMAR
    with _GRAMMARS_LOCK:
        found = _GRAMMARS.get(of)
        if found is None:
            found = _GRAMMARS[of] = ModelGrammar(of, _BASE_GRAMMAR)
        return found


# A derived grammar's layer union refers to itself by this name, bound only in the namespace its models are
# built with (a name of this module, such as LayerSpec, would be resolved to the built-in union at once).
_GRAMMAR_REF = "GrammarLayerSpec"
# Sequential's and Group's `layers` in a derived grammar.
_CONTAINER_LAYERS: dict[str, Any] = {
    SEQUENTIAL: list[_GRAMMAR_REF] | dict[Identifier, _GRAMMAR_REF],  # type: ignore[valid-type]
    GROUP: list[_GRAMMAR_REF] | dict[KeyPattern, _GRAMMAR_REF],  # type: ignore[valid-type]
}


def _derive(g: ModelGrammar) -> tuple[type[Spec], dict[str, Any], list[type[BaseModel]]]:
    """The spec model over ``g``'s layer models: the same models, the same discriminators.  Not built: see
    :meth:`ModelGrammar._build_spec`, given what this returns (the namespace naming this union, the models holding
    layers)."""
    # Sequential and Group hold layers themselves: re-declared so their `layers` refer to this union
    containers: dict[str, Any] = {}
    for tag, base in ((SEQUENTIAL, SequentialModel), (GROUP, GroupModel)):
        containers[tag] = create_model(base.__name__, __base__=base,
                                       layers=(_CONTAINER_LAYERS[tag], copy.copy(base.model_fields["layers"])))
    alias = TypeAliasType("LayerSpec", _layer_union(None, containers[SEQUENTIAL],  # type: ignore[misc]
                                                    containers[GROUP], g))
    swaps: dict[str, Any] = {"LayerSpec": alias}
    block = create_model("BlockSpec", __base__=BlockSpec, __module__=__name__,
                         layers=_swapped_field(BlockSpec, "layers", swaps),
                         forward=_swapped_field(BlockSpec, "forward", swaps))
    swaps["BlockSpec"] = block
    spec = create_model("Spec", __base__=Spec, __module__=__name__, blocks=_swapped_field(Spec, "blocks", swaps),
                        layers=_swapped_field(Spec, "layers", swaps), forward=_swapped_field(Spec, "forward", swaps))
    return spec, {_GRAMMAR_REF: alias}, list(containers.values())


def _swapped_field(model: type[BaseModel], name: str, swaps: dict[str, Any]) -> tuple[Any, Any]:
    """``model``'s field, its annotation with the built-in grammar's unions swapped for this grammar's."""
    info = model.model_fields[name]
    return _swap(info.annotation, swaps), copy.copy(info)


def _swap(annotation: Any, swaps: dict[str, Any]) -> Any:
    if annotation is LayerSpec and "LayerSpec" in swaps:
        return swaps["LayerSpec"]
    if annotation is BlockSpec and "BlockSpec" in swaps:
        return swaps["BlockSpec"]
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
