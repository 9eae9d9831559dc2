"""Instances of module definitions: arguments bound, vars evaluated, conditions and repeats decided.

A block is written once and used many times; each use is an :class:`Instance` with its own
argument values (some written at the use, some read off the input's shape), its own vars and its
own children.  :mod:`netspec.middle.shapes` runs forward over an instance; :mod:`netspec.backend.codegen` writes
a block's class from its definition and what its instances inferred.  Pure Python, no torch.
"""

from __future__ import annotations

import keyword
from collections import ChainMap
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any, cast

from ..errors import Diagnostic, Path, Span, did_you_mean, short_repr
from ..frontend import schema
from ..frontend.core import ValidationError
from ..frontend.expr import ExprError, evaluate
from ..frontend.source import Source
from ..ops import INT64_MAX, LAYERS, Tensor
from . import ir

MAX_CHILDREN = 500_000  # children one spec may build, over all instances and repeats
MAX_INSTANCES = 100_000  # block instances one spec may build (50,000 residual blocks fit)
MAX_NESTING = 32  # blocks inside blocks


class Refusal(Exception):
    """A located problem with one instance; shapes turns it into a diagnostic and stops that world."""

    def __init__(self, diagnostic: Diagnostic) -> None:
        super().__init__(diagnostic.message)
        self.diagnostic = diagnostic


@dataclass
class Child:
    """One submodule of an instance, as built: its key, its concrete arguments, its children."""

    entry: ir.Layer  # the spec entry it was made from
    key: str | int
    attr: str  # its module path inside the instance: "conv.0"
    type: str  # a registry name, "Sequential", or ir.BLOCK
    args: dict[str, Any]  # concrete values as written (inferred ones are added by shapes)
    children: list[Child] = field(default_factory=list)
    named: bool = False
    block: str | None = None  # the definition of a block child
    instance: Instance | None = None  # a block child's instance, once its inputs are known
    env: dict[str, Any] = field(default_factory=dict)  # the build-time names in effect where it was made
    span: Span | None = None  # where its entry is written, once shapes has looked it up


@dataclass
class Instance:
    definition: ir.ModuleDef
    prefix: str  # its module path in the whole model: "" for the root, "layer2.0" for a block
    env: dict[str, Any]  # block arguments and vars
    children: list[Child]
    names: dict[str, Any]  # forward's layer names: a Child, a list of Children (a group), or None (absent)
    depth: int = 0
    # walk()'s order, found when first asked: an instance's children are all made before anything walks it
    # (Elaborator.instance, shapes' clones) and never change after, while seven passes walk every instance
    walked: list[Child] | None = field(default=None, repr=False, compare=False)
    walked_paths: list[tuple[Child, str]] | None = field(default=None, repr=False, compare=False)  # and their paths

    def qualified(self, attr: str) -> str:
        return f"{self.prefix}.{attr}" if self.prefix else attr

    def walk(self) -> Sequence[Child]:
        """Every child, parents first, in registration order (block children's insides excluded)."""
        if self.walked is None:
            self.walked = _walk_order(self.children)
        return self.walked

    def walk_qualified(self) -> Sequence[tuple[Child, str]]:
        """:meth:`walk`'s children, each with its module path in the whole model (``qualified``), found once: the
        passes after inference read both for every child of every instance.  (An instance's prefix is never
        changed either.)"""
        if self.walked_paths is None:
            prefix = self.prefix + "." if self.prefix else ""
            self.walked_paths = [(child, prefix + child.attr) for child in self.walk()]
        return self.walked_paths


_CHILDREN_OF = attrgetter("children")  # any() over map(_CHILDREN_OF, ...) asks each child without a Python frame


def _walk_order(children: list[Child]) -> list[Child]:
    """``children`` and those inside them, parents first, in registration order: a plain copy where none has
    children of its own (a block's layers, most often)."""
    if not any(map(_CHILDREN_OF, children)):
        return list(children)
    order: list[Child] = []
    stack = children[::-1]
    while stack:
        child = stack.pop()
        order.append(child)
        if child.children:
            stack.extend(child.children[::-1])
    return order


@dataclass
class Budget:
    children: int = MAX_CHILDREN
    instances: int = MAX_INSTANCES


class Elaborator:
    """Builds instances; one per spec, so its budget bounds the whole program."""

    def __init__(self, program: ir.Program) -> None:
        self.program = program
        self.budget = Budget()
        self.taken: dict[int, set[str]] = {}  # the names used in each child list being built
        # The least children budget a repeat's count check has left (budget - count): shapes reuses an instance
        # only where every check its elaboration made would pass again (see ``shapes.Memo``).
        self.tightest = MAX_CHILDREN

    # ------------------------------------------------------------ instances

    def root(self) -> Instance:
        return self.instance(self.program.root, dict(self.program.var_values), "", 0, evaluate_vars=False)

    def instance(self, definition: ir.ModuleDef, env: dict[str, Any], prefix: str, depth: int,
                 evaluate_vars: bool = True) -> Instance:
        self.budget.instances -= 1
        if self.budget.instances < 0:
            raise self.refusal("too-large", f"the model builds more than {MAX_INSTANCES:,} block instances",
                               definition.path, definition.source.span(definition.path), prefix)
        if depth > MAX_NESTING:
            raise self.refusal("too-deep", f"blocks nest more than {MAX_NESTING} deep (a block that uses itself?)",
                               definition.path, definition.source.span(definition.path), prefix)
        env = dict(env)
        if evaluate_vars:
            for var in definition.vars:
                env[var.name] = self.value(var.value, env, prefix)
        instance = Instance(definition, prefix, env, [], {}, depth)
        for layer in definition.layers:
            self.entry(instance, layer, env, "", instance.children, instance.names, named=True)
        return instance

    def block_instance(self, child: Child, inputs: Sequence[Tensor], parent: Instance) -> Instance:
        """The instance behind a block child, its arguments bound from the use and the input shapes."""
        if child.instance is not None:
            return child.instance
        definition, env = self.bind(child, inputs, parent)
        child.instance = self.instance(definition, env, parent.qualified(child.attr), parent.depth + 1)
        return child.instance

    def bind(self, child: Child, inputs: Sequence[Tensor], parent: Instance) -> tuple[ir.ModuleDef, dict[str, Any]]:
        """A block child's definition and its arguments for this use (no instance built yet)."""
        assert child.block is not None
        definition = self.program.blocks[child.block]
        where = parent.qualified(child.attr)
        return definition, bind_arguments(definition, child, inputs, where, parent.definition.source)

    # ------------------------------------------------------------ children

    def entry(self, instance: Instance, layer: ir.Layer, env: dict[str, Any], base: str, out: list[Child],
              names: dict[str, Any] | None, named: bool) -> None:
        """Adds the children ``layer`` makes under ``env`` to ``out`` (and its name to ``names``)."""
        label = layer.key if named and isinstance(layer.key, str) and not layer.pattern else None
        several = layer.repeat is not None or layer.type == ir.GROUP
        start = len(out)
        if layer.cond is None or self.condition(layer.cond, env, instance.prefix):
            for env_i, key in self.keys(layer, env, out, named, instance.prefix):
                if layer.type == ir.GROUP:
                    for inner in layer.children:
                        self.entry(instance, inner, env_i, base, out, None, layer.named)
                else:
                    self.add(out, self.child(instance, layer, env_i, key, base), instance)
        if names is not None and label is not None:
            made = out[start:]
            names[label] = made if several else (made[0] if made else None)

    def keys(self, layer: ir.Layer, env: dict[str, Any], out: list[Child], named: bool,
             prefix: str) -> Iterator[tuple[dict[str, Any], str | int]]:
        """(environment, key) of each child ``layer`` makes: one, or one per repeat."""
        if layer.repeat is None:
            yield env, (self.name_of(layer, env, prefix) if named and layer.type != ir.GROUP else len(out))
            return
        count = self.value(layer.repeat.count, env, prefix)
        if not isinstance(count, int) or isinstance(count, bool) or count < 0:
            raise self.refusal("bad-value", f"repeat count must be a non-negative integer, found "
                               f"{short_repr(count)}", layer.path, self.span(layer, layer.repeat.count), prefix)
        self.tightest = min(self.tightest, self.budget.children - count)
        if count > self.budget.children:
            raise self.refusal("too-large", f"repeat makes {count:,} more children, past the {MAX_CHILDREN:,} "
                               "layers a model may build", layer.path, self.span(layer, layer.repeat.count), prefix,
                               "check the repeat counts (repeats inside repeats multiply)")
        for index in range(count):
            env_i = _bound(env, layer.repeat.index, index)
            if named and layer.type != ir.GROUP:
                yield env_i, self.name_of(layer, env_i, prefix)
            else:
                yield env_i, len(out)

    def name_of(self, layer: ir.Layer, env: dict[str, Any], prefix: str) -> str:
        """A named child's key: as written, from its name pattern, or the entry's key and the index."""
        pattern = layer.repeat.name if layer.repeat is not None and layer.repeat.name else layer.pattern
        if pattern is None:
            if layer.repeat is not None:
                return f"{layer.key}{env[layer.repeat.index]}"
            return str(layer.key)
        text = "".join(part if isinstance(part, str) else str(self.value(part, env, prefix))
                       for part in pattern.parts)
        if not (text.isidentifier() and text.isascii() and not text.startswith("_")):
            raise self.refusal("bad-name", f"name pattern {short_repr(pattern.text)} gives {short_repr(text)}, "
                               "not a name", layer.path, self.span(layer), prefix)
        from .names import ATTRIBUTE_NAMES_OK, MODULE_ATTRIBUTES, RESERVED
        if keyword.iskeyword(text) or keyword.issoftkeyword(text) or text in MODULE_ATTRIBUTES or (
                text in RESERVED and text not in ATTRIBUTE_NAMES_OK):
            raise self.refusal("bad-name", f"name pattern {short_repr(pattern.text)} gives {short_repr(text)}, a name "
                               "Python or nn.Module keeps for itself", layer.path, self.span(layer), prefix)
        return text

    def child(self, instance: Instance, layer: ir.Layer, env: dict[str, Any], key: str | int, base: str) -> Child:
        attr = f"{base}.{key}" if base else str(key)
        if layer.type == ir.SEQUENTIAL:
            child = Child(layer, key, attr, ir.SEQUENTIAL, {}, named=layer.named, env=env)
            for inner in layer.children:
                self.entry(instance, inner, env, attr, child.children, None, layer.named)
            return child
        args = {name: self.value(value, env, instance.prefix) for name, value in layer.args.items()}
        if layer.type == ir.BLOCK:
            return Child(layer, key, attr, ir.BLOCK, args, block=layer.block, env=env)
        self.check_args(layer, args, instance.prefix)
        return Child(layer, key, attr, layer.type, args, env=env)

    def add(self, out: list[Child], child: Child, instance: Instance) -> None:
        self.budget.children -= 1
        if self.budget.children < 0:
            raise self.refusal("too-large", f"the model builds more than {MAX_CHILDREN:,} layers",
                               child.entry.path, self.span(child.entry), instance.prefix)
        if isinstance(child.key, str):
            taken = self.taken.setdefault(id(out), set())  # one set per child list: linear in the children
            if not taken and out is instance.children:  # the definition's own attributes are taken too
                definition = instance.definition
                taken |= {g.name for g in definition.params} | {i.name for i in definition.inputs}
            if child.key in taken:
                raise self.refusal("duplicate-name", f"two children (or a child and a parameter) are named "
                                   f"'{child.key}'", child.entry.path, self.span(child.entry), instance.prefix,
                                   "give repeated children a name pattern, e.g. repeat: {count: 4, name: 'block{i}'}")
            taken.add(child.key)
        out.append(child)

    # ------------------------------------------------------------ values

    def value(self, value: Any, env: dict[str, Any], prefix: str) -> Any:
        if not isinstance(value, ir.Build):
            return value
        try:
            return evaluate(value.expr, env)
        except ExprError as exc:
            span = value.span
            span = Span(span.file, span.line, span.col + exc.col) if span.line else span
            raise Refusal(Diagnostic(exc.code, _within(exc.message, prefix), span, value.path, exc.hint)) from None

    def condition(self, cond: ir.Build | bool, env: dict[str, Any], prefix: str) -> bool:
        value = self.value(cond, env, prefix)
        if isinstance(value, list):
            assert isinstance(cond, ir.Build)
            raise self.refusal("bad-value", "a condition must be true or false, found a list", cond.path,
                               cond.span, prefix)
        return bool(value)

    def check_args(self, layer: ir.Layer, args: dict[str, Any], prefix: str) -> None:
        """Each argument written as an expression, checked against the argument's own type now that its
        value is known (constants were checked by the grammar)."""
        kind = LAYERS[layer.type]
        for arg in kind.args:
            written = layer.args.get(arg.name)
            if not isinstance(written, ir.Build) or arg.name not in args:
                continue
            value = args[arg.name]
            if value is None and arg.inferred:
                continue
            try:
                args[arg.name] = schema.arg_validator(layer.type, arg.name).validate_python(value)
            except ValidationError as exc:
                from ..frontend.validate import describe_value, expected_text
                first = exc.errors()[0]
                raise self.refusal("bad-value", f"'{written.expr.text}' gives {describe_value(value)}; "
                                   f"{arg.name} expects {expected_text(first)}", written.path, written.span,
                                   prefix) from None

    def span(self, layer: ir.Layer, value: Any = None) -> Span:
        """Where to point for ``layer``: at ``value`` when it is an expression, else at the entry's key."""
        if isinstance(value, ir.Build):
            return value.span
        return self.program.root.source.key_span(layer.path)

    def refusal(self, code: str, message: str, path: Path, span: Span | None, prefix: str,
                hint: str | None = None) -> Refusal:
        return Refusal(Diagnostic(code, _within(message, prefix), span, path, hint))


def _bound(env: dict[str, Any], name: str, value: Any) -> dict[str, Any]:
    """``env`` with ``name`` bound to ``value``, without copying it: every repeated child keeps its env, and
    a copy each would cost vars x children (1,000 vars, 100,000 children: gigabytes).  Read-only, and read
    only through the mapping interface (``evaluate``, ``dict()``, ``.get``), as a dict is."""
    maps = env.maps if isinstance(env, ChainMap) else [env]
    return cast(dict[str, Any], ChainMap({name: value}, *maps))


def _within(message: str, prefix: str) -> str:
    return f"{message} (in {prefix})" if prefix else message


def literal_problem(layer_type: str, arg_name: str, value: Any) -> tuple[str, str, str | None] | None:
    """(code, message, hint) for a written value the argument's own type refuses, as the grammar reports it."""
    from ..frontend.validate import describe_value, expected_text, literal_hint
    try:
        schema.arg_validator(layer_type, arg_name).validate_python(str(value))
    except ValidationError as exc:
        kinds = [e["type"] for e in exc.errors()]
        expected = " or ".join(dict.fromkeys(expected_text(e) for e in exc.errors()))
        code = "bad-value" if any(k.startswith(("literal", "greater", "less")) for k in kinds) else "bad-type"
        hint = next((h for e in exc.errors() if (h := literal_hint(e, str(value)))), None)
        return code, f"expected {expected}, found {describe_value(str(value))}", hint
    return None


# ---------------------------------------------------------------- binding a block's arguments


_KIND_TYPES: dict[str, tuple[type, ...]] = {"int": (int,), "float": (float, int), "bool": (bool,), "str": (str,),
                                            "list": (list,)}


def bind_arguments(definition: ir.ModuleDef, child: Child, inputs: Sequence[Tensor], where: str,
                   source: Source | None = None) -> dict[str, Any]:
    """The block's arguments for this use: written at the use, read off the inputs, or defaults.

    ``source`` is the source of the definition the use is written in (its spans); passed down, never
    kept at module level, so threads elaborating different specs each point into their own file.
    """
    declared = {a.name: a for a in definition.block_args}
    use = child.entry
    for name in child.args:
        if name not in declared:
            hint = did_you_mean(name, declared) or (f"its arguments are {', '.join(declared)}" if declared else
                                                    "it takes no arguments")
            raise Refusal(Diagnostic("unknown-key", f"block {definition.name} has no argument '{name}'",
                                     _arg_span(use, name, source), (*use.path, name), hint))
    env = dict(child.args)
    _bind_from_inputs(definition, env, inputs, use, where, source)
    for arg in definition.block_args:
        if arg.name not in env:
            if arg.required:
                raise Refusal(Diagnostic(
                    "missing-key", f"block {definition.name} needs argument '{arg.name}' (in {where})",
                    _arg_span(use, None, source), use.path,
                    f"write {arg.name}: ..., or declare it in the block's inputs to read it off the input shape"))
            env[arg.name] = default_of(arg, env, use, where)
        env[arg.name] = _typed(arg, env[arg.name], use, where, source)
    return env


def default_of(arg: ir.BlockArg, env: dict[str, Any], use: ir.Layer | None = None, where: str = "") -> Any:
    """An argument's default: a constant, or an expression over the arguments before it (``default: 4 * dim``)."""
    if not isinstance(arg.default, ir.Build):
        return arg.default
    try:
        return evaluate(arg.default.expr, env)
    except ExprError as exc:
        raise Refusal(Diagnostic(exc.code, f"argument '{arg.name}''s default: {exc.message}" + (
            f" (in {where})" if where else ""), arg.default.span, arg.default.path, exc.hint)) from None


def _bind_from_inputs(definition: ir.ModuleDef, env: dict[str, Any], inputs: Sequence[Tensor], use: ir.Layer,
                      where: str, source: Source | None) -> None:
    declared = {a.name for a in definition.block_args}
    if len(inputs) != len(definition.inputs):
        raise Refusal(Diagnostic("bad-call", f"block {definition.name} takes {len(definition.inputs)} tensor "
                                 f"input(s), found {len(inputs)} (in {where})", _arg_span(use, None, source), use.path))
    symbols: dict[str, Any] = {}
    for decl, tensor in zip(definition.inputs, inputs, strict=True):
        if len(decl.shape) != tensor.rank:
            raise Refusal(Diagnostic(
                "rank-mismatch", f"block {definition.name} declares input '{decl.name}' as "
                f"{_fmt(decl.shape)} ({len(decl.shape)}-D), found {_fmt(tensor.shape)} (in {where})",
                _arg_span(use, None, source), use.path, "check the layer before this block"))
        for want, got in zip(decl.shape, tensor.shape, strict=True):
            if type(want) is str and want not in declared and want not in symbols:
                symbols[want] = got  # a symbol's first size: what _bind_dim does, without its call (10,000 blocks)
            elif type(want) is str and want in declared and want in env and (not isinstance(got, int) or
                                                                              env[want] == got):
                pass  # an argument written at the use, which this size agrees with: nothing to check further
            else:
                _bind_dim(definition, decl, want, got, tensor, env, symbols, declared, use, where, source)


def _bind_dim(definition: ir.ModuleDef, decl: ir.Input, want: Any, got: Any, tensor: Tensor, env: dict[str, Any],
              symbols: dict[str, Any], declared: set[str], use: ir.Layer, where: str, source: Source | None) -> None:
    def mismatch(expected: Any) -> Refusal:
        return Refusal(Diagnostic("shape-mismatch", f"block {definition.name} expects input '{decl.name}' of shape "
                                  f"{_fmt(decl.shape)} with {want} = {expected}, found {_fmt(tensor.shape)} "
                                  f"(in {where})", _arg_span(use, None, source), use.path))

    if isinstance(want, int):
        if isinstance(got, int) and got != want:
            raise mismatch(want)
        return
    if want in declared:
        if want in env:
            if isinstance(got, int) and env[want] != got:
                raise mismatch(env[want])
            return
        if not isinstance(got, int):
            raise Refusal(Diagnostic("symbolic-dim", f"block argument '{want}' would be the symbolic size '{got}' "
                                     f"(in {where})", _arg_span(use, None, source), use.path,
                                     f"write {want}: ... at the use, or give the input a concrete size"))
        env[want] = got
        return
    if want in symbols and isinstance(got, int) and isinstance(symbols[want], int) and symbols[want] != got:
        raise mismatch(symbols[want])
    symbols.setdefault(want, got)


def _typed(arg: ir.BlockArg, value: Any, use: ir.Layer, where: str, source: Source | None) -> Any:
    ok = isinstance(value, _KIND_TYPES[arg.kind]) and not (arg.kind != "bool" and isinstance(value, bool))
    if value is None and not arg.required and arg.default is None:
        return value
    if not ok:
        from ..frontend.validate import describe_value
        raise Refusal(Diagnostic("bad-type", f"argument '{arg.name}' expects {_KIND_TEXT[arg.kind]}, found "
                                 f"{describe_value(value)} (in {where})", _arg_span(use, arg.name, source),
                                 (*use.path, arg.name)))
    if arg.kind == "int" and abs(value) > INT64_MAX:
        raise Refusal(Diagnostic("too-large", f"argument '{arg.name}' does not fit in 64 bits (in {where})",
                                 _arg_span(use, arg.name, source), (*use.path, arg.name)))
    return float(value) if arg.kind == "float" else value


_KIND_TEXT = {"int": "an integer", "float": "a number", "bool": "true or false", "str": "a string", "list": "a list"}


def _arg_span(use: ir.Layer, name: str | None, source: Source | None) -> Span | None:
    value = use.args.get(name) if name else None
    if isinstance(value, ir.Build):
        return value.span
    if source is None:
        return None
    path = (*use.path, name) if name and name in use.args else use.path
    span: Span = source.key_span(path)
    return span


def _fmt(shape: Sequence[Any]) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ")"


__all__ = ["Child", "Elaborator", "Instance", "Refusal", "bind_arguments"]
