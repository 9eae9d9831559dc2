"""Specs from existing modules: :func:`dump` writes the spec of a built ``nn.Module``.

    >>> text = netspec.dump(model, inputs={"x": ["N", 3, 224, 224]})
    >>> again = netspec.loads(text)              # the same layout: state_dict keys, shapes, order
    >>> again.load_state_dict(model.state_dict())  # and, with the same weights, the same outputs

What a module is made of is read back from the module itself:

- a layer of a registered type (``netspec.ops.LAYERS``; the exact ``torch.nn``
  class, not a subclass) becomes a layer entry; its constructor arguments are
  read from the module's attributes, only those that differ from the default
  are written, and the ones netspec infers from the input (``in_channels``...)
  are left out when inference gives the same value;
- ``nn.Sequential`` becomes a list (children ``0, 1, 2...``) or a named
  Sequential, to any depth; a subclass of it that keeps Sequential's forward
  becomes a block whose ``layers`` is a list;
- ``nn.Parameter``, ``nn.ParameterList`` and ``nn.ParameterDict`` become
  ``params`` (shape, ``requires_grad``, a non-float32 dtype; values are weights,
  not architecture: load the state_dict for them);
- any other module class becomes a block: its ``forward`` is traced with
  :mod:`torch.fx` (every child a leaf) and each graph node translated into a
  forward step: calls of its children, netspec ops (``F.relu``,
  ``torch.flatten``, ``torch.cat``...), ``+ - * / @`` and unpacking.  Instances
  of one class with the same definition share one block; a class used with
  different definitions is one block with arguments where the definitions
  differ only in values, in layers some of them lack (``if:``) and in forwards
  that differ with those layers (torchvision's resnet18: one ``BasicBlock``
  with ``in_channels``, ``out_channels``, ``stride``, ``use_downsample``), else
  one block per variant (``BasicBlock``, ``BasicBlock2``...).  The root, unless
  it is a plain named ``nn.Sequential``, is traced the same way.

Block input ranks are read by running the module once on fake tensors
(``FakeTensorMode``, nothing allocated).  The spec written is checked before it
is returned: compiled by netspec and built on the meta device, its
``state_dict`` must have the module's keys, shapes and order.

A spec that merges variants is checked so too; when it fails, the spec with one
block per variant is checked and written instead.

Whatever cannot be described raises :class:`DumpError` naming the submodule
path (``layer2.0.conv1``) and what it found there.
"""

from __future__ import annotations

import copy
import functools
import inspect
import json
import math
import operator
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from ..errors import SpecError
from ..middle.names import DUMP_RESERVED, MODULE_ATTRIBUTES, Namespace
from ..ops import LAYERS, OMIT, OPS, REQUIRED, LayerType
from ..ops.operators import TRACED_OPERATORS

_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_DTYPES = {"torch.float32": "float32", "torch.float64": "float64", "torch.float16": "float16",
           "torch.bfloat16": "bfloat16", "torch.int64": "int64", "torch.int32": "int32", "torch.bool": "bool"}
_BINARY = TRACED_OPERATORS  # from the one table of operators (ops/operators.py)
_SYMBOL_RUN_SIZE = 2  # what a symbolic dim (N) is when the module runs on fake tensors


class DumpError(ValueError):
    """What :func:`dump` cannot describe, at the submodule path where it found it."""

    def __init__(self, path: str, message: str, hint: str | None = None):
        self.path = path
        self.message = message
        self.hint = hint
        text = f"{path or '<root>'}: {message}"
        super().__init__(f"{text} (hint: {hint})" if hint else text)


# ---------------------------------------------------------------- layers


def _layer_classes() -> dict[type, LayerType]:
    from torch import nn

    return {getattr(nn, name): layer for name, layer in LAYERS.items() if isinstance(getattr(nn, name, None), type)}


def _plain(value: Any) -> Any:
    """A YAML-writable value: tuples become lists, uniform tuples one number."""
    if isinstance(value, (tuple, list)):
        items = [_plain(v) for v in value]
        return items
    return value


def _same(value: Any, default: Any) -> bool:
    """``value`` is what ``default`` builds: (1, 1) is 1, 1.0 is not 1, True is not 1."""
    if isinstance(value, (list, tuple)) and not isinstance(default, (list, tuple)):
        return all(_same(v, default) for v in value)
    if isinstance(value, bool) or isinstance(default, bool):
        return value is default
    if isinstance(value, float) and isinstance(default, float) and math.isnan(value) and math.isnan(default):
        return True
    return type(value) is type(default) and bool(value == default)


def _squeeze(value: Any) -> Any:
    """(3, 3) -> 3: torch reads one int as that int in every dim."""
    if isinstance(value, (tuple, list)) and len(value) > 1 and all(v == value[0] and type(v) is int for v in value):
        return value[0]
    return _plain(value)


def _layer_entry(module: Any, layer: LayerType, path: str, infer: bool) -> Any:
    entry: dict[str, Any] = {"type": layer.name}
    for arg in layer.args:
        try:
            value = layer.read_back(module, arg.name)  # the value the constructor call that made it had
        except AttributeError:
            raise DumpError(path, f"cannot read argument {arg.name!r} of {layer.name} from the module") from None
        if value is OMIT:
            continue
        if arg.inferred and infer:
            continue
        if arg.default is not REQUIRED and not arg.inferred and _same(value, arg.default):
            continue
        entry[arg.name] = _squeeze(value)
    if len(entry) == 1 and layer.bare_ok:
        return layer.name
    return _Flow(entry)


# ---------------------------------------------------------------- YAML


class _Flow(dict):  # type: ignore[type-arg]
    """A mapping written on one line: ``{type: Conv2d, out_channels: 6, kernel_size: 5}``."""


class _FlowList(list):  # type: ignore[type-arg]
    """A shape, written on one line: ``[N, 3, 224, 224]``."""


class _Literal(str):
    """A forward step of several lines, written as a YAML literal block (``|``)."""


class _Dumper(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:
        return True  # a spec has no anchors: a value used twice is written twice


def _flow_mapping(dumper: yaml.SafeDumper, data: _Flow) -> yaml.Node:
    return dumper.represent_mapping("tag:yaml.org,2002:map", data.items(), flow_style=True)


def _block_mapping(dumper: yaml.SafeDumper, data: dict[str, Any]) -> yaml.Node:
    return dumper.represent_mapping("tag:yaml.org,2002:map", data.items(), flow_style=False)


def _list(dumper: yaml.SafeDumper, data: list[Any]) -> yaml.Node:
    flow = all(not isinstance(v, (dict, list)) for v in data) and not any(isinstance(v, str) for v in data)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)


_Dumper.add_representer(_Flow, _flow_mapping)
_Dumper.add_representer(dict, _block_mapping)
_Dumper.add_representer(list, _list)
_Dumper.add_representer(_Literal, lambda d, data: d.represent_scalar("tag:yaml.org,2002:str", str(data), style="|"))
_Dumper.add_representer(_FlowList, lambda d, data: d.represent_sequence("tag:yaml.org,2002:seq", data,
                                                                       flow_style=True))


def _yaml(data: dict[str, Any]) -> str:
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100_000)


# ---------------------------------------------------------------- the walk


def _fx_name(n: Any) -> str:
    return str(getattr(n, "name", n))


class _Walker:
    """One dump: the blocks found so far and the options."""

    def __init__(self, infer: bool, ranks: Mapping[int, list[tuple[int, str]]], infer_in_blocks: bool = True):
        import torch
        from torch import nn

        self.torch = torch
        self.nn = nn
        self.infer = infer
        self.infer_in_blocks = infer_in_blocks  # False: a block's layers write every argument (for merging)
        self.ranks = ranks  # id(submodule) -> [(rank, dtype)] of its tensor inputs, from the fake run
        self.layer_classes = _layer_classes()
        self.blocks: dict[str, dict[str, Any]] = {}
        self.block_keys: dict[str, str] = {}  # definition text -> block name
        self.block_names = Namespace(reserved=LAYERS, separator="")  # BasicBlock, BasicBlock2, ...
        self.classes: dict[type, list[str]] = {}  # each module class -> its variants' block names, in order
        self.functions = _function_ops()

    # ---- layers

    def layer(self, module: Any, path: str) -> Any:
        nn = self.nn
        kind = type(module)
        if kind in self.layer_classes:
            return _layer_entry(module, self.layer_classes[kind], path, self.infer)
        if kind is nn.Sequential:
            return self.sequential(module, path)
        if isinstance(module, (nn.ParameterList, nn.ParameterDict)):
            raise DumpError(path, f"a {kind.__name__} inside a Sequential cannot be described")
        if kind.__module__.startswith("torch.") or kind in (nn.ModuleList, nn.ModuleDict):
            raise DumpError(path, f"{kind.__module__}.{kind.__qualname__} is not a netspec layer type",
                            "netspec layers lists the types a spec can use")
        return self.block_use(module, path)

    def sequential(self, module: Any, path: str) -> Any:
        names = [name for name, _ in module.named_children()]
        if names == [str(i) for i in range(len(names))]:
            return [self.layer(child, _join(path, name)) for name, child in module.named_children()]
        return {"type": "Sequential",
                "layers": {name: self.layer(child, _join(path, name)) for name, child in module.named_children()}}

    def block_use(self, module: Any, path: str) -> str:
        definition = self.definition(module, path, None)
        key = json.dumps([type(module).__name__, definition], sort_keys=True, default=str)
        if key not in self.block_keys:
            base = type(module).__name__
            if _NAME.fullmatch(base):
                name = self.block_names.create_name(base, key)
            else:  # a class name a spec cannot use: Block2, Block3, ...
                name = self.block_names.create_name("Block", key, numbered=True)
            self.blocks[name] = definition
            self.block_keys[key] = name
            self.classes.setdefault(type(module), []).append(name)
        return self.block_keys[key]

    # ---- module definitions

    def definition(self, module: Any, path: str, inputs: dict[str, Any] | None) -> dict[str, Any]:
        nn = self.nn
        kind = type(module)
        if inputs is None and not self.infer_in_blocks and self.infer:
            self.infer = False  # one definition may serve instances whose inputs differ: nothing is inferred
            try:
                return self.definition(module, path, None)
            finally:
                self.infer = True
        result: dict[str, Any] = {}
        if inputs is None:
            inputs = self.block_inputs(module, path)
        result["inputs"] = inputs
        if isinstance(module, nn.Sequential) and kind.forward is nn.Sequential.forward:
            seq = self.sequential(module, path)
            result["layers"] = seq if isinstance(seq, list) else seq["layers"]
            return result
        for name, buffer in module.named_buffers(recurse=False):
            if buffer is not None:
                raise DumpError(_join(path, name), "a buffer (register_buffer): a spec has no buffers",
                                "make it a Parameter with requires_grad=False")
        layers: dict[str, Any] = {}
        params: dict[str, Any] = {}
        for name, param in module.named_parameters(recurse=False):
            params[name] = self.parameter(param)
        for name, child in module.named_children():
            if isinstance(child, nn.ParameterList):
                params[name] = {"list": [self.parameter(p) for p in child]}
            elif isinstance(child, nn.ParameterDict):
                params[name] = {"dict": {k: self.parameter(p) for k, p in child.items()}}
            else:
                layers[name] = self.layer(child, _join(path, name))
        if layers:
            result["layers"] = layers
        if params:
            result["params"] = params
        result["forward"] = self.forward(module, path, list(inputs), set(layers), params)
        return result

    def parameter(self, param: Any) -> Any:
        shape = list(param.shape)
        entry: dict[str, Any] = {"shape": shape}
        if not param.requires_grad:
            entry["requires_grad"] = False
        dtype = _DTYPES.get(str(param.dtype), str(param.dtype))
        if dtype != "float32":
            entry["dtype"] = dtype
        return _Flow(entry) if len(entry) > 1 else shape

    def block_inputs(self, module: Any, path: str) -> dict[str, Any]:
        names = _tensor_parameters(module, path)
        seen = self.ranks.get(id(module))
        if not seen:
            raise DumpError(path, f"{type(module).__name__} is never called when the module runs, so its input "
                            "shapes are unknown", "remove it, or call it in forward")
        if len(seen) != len(names):
            raise DumpError(path, f"{type(module).__name__}.forward is called with {len(seen)} tensors, "
                            f"its signature names {len(names)}")
        inputs: dict[str, Any] = {}
        for name, (rank, dtype) in zip(names, seen, strict=True):
            shape = _FlowList(["N", *(f"D{i}" for i in range(1, rank))] if rank else [])
            inputs[name] = shape if dtype == "float32" else {"shape": shape, "dtype": dtype}
        return inputs

    # ---- forward

    def forward(self, module: Any, path: str, inputs: list[str], layers: set[str],
                params: Mapping[str, Any]) -> list[str]:
        from torch import fx

        functions = self.functions

        class Tracer(fx.Tracer):
            def is_leaf_module(self, m: Any, qualname: str) -> bool:
                return True

        wrapped = tuple(f for f in _forward_globals(module).values()
                        if any(op.traced is not None and op.traced(f) for op in OPS.values()))
        signature = inspect.signature(type(module).forward)
        concrete = {name: p.default for name, p in list(signature.parameters.items())[1:]
                    if p.default is not inspect.Parameter.empty}
        try:
            graph = Tracer(autowrap_functions=wrapped).trace(module, concrete_args=concrete or None)
        except Exception as exc:
            raise DumpError(path, f"{type(module).__name__}.forward cannot be traced by torch.fx: "
                            f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}",
                            "netspec describes forwards without data-dependent Python control flow") from None
        translator = _Translator(self, module, path, graph, inputs, layers, params, functions)
        fixed = [p.default is not inspect.Parameter.empty for p in list(signature.parameters.values())[1:]]
        return translator.steps(fixed)


class _Translator:
    """One fx graph -> forward steps."""

    def __init__(self, owner: _Walker, module: Any, path: str, graph: Any, inputs: list[str], layers: set[str],
                 params: Mapping[str, Any], functions: Mapping[Any, str]):
        self.owner = owner
        self.module = module
        self.path = path
        self.nodes = list(graph.nodes)
        self.inputs = inputs
        self.layers = layers
        self.params = params
        self.functions = functions
        self.names = Namespace(taken=[*layers, *params, *inputs, *OPS], reserved=DUMP_RESERVED, python_names=True)
        self.expr: dict[Any, str] = {}  # node -> its expression (a name once assigned)
        self.index = {n: i for i, n in enumerate(self.nodes)}

    def fail(self, node: Any, message: str, hint: str | None = None) -> DumpError:
        return DumpError(self.path, f"forward of {type(self.module).__name__}, at {node.format_node()}: {message}",
                         hint)

    def fresh(self, wanted: str) -> str:
        return self.names.create_name(wanted if _NAME.fullmatch(wanted) else "h")

    def steps(self, fixed: list[bool]) -> list[str]:
        steps: list[str] = []
        placeholders = [n for n in self.nodes if n.op == "placeholder"]
        skipped: set[Any] = {n for n, f in zip(placeholders, fixed, strict=False) if f}
        for node in self.nodes:  # the checks fx adds that a fixed argument keeps its value
            if any(_is_node(a) and a in skipped for a in node.all_input_nodes) and (
                    node.target in (operator.eq, self.owner.torch._assert)
                    or getattr(node.target, "__name__", "") == "_assert"):
                skipped.add(node)
        tensors = [n for n in placeholders if n not in skipped]
        if len(tensors) != len(self.inputs):
            raise DumpError(self.path, f"{type(self.module).__name__}.forward takes {len(tensors)} tensors, "
                            f"{len(self.inputs)} inputs were given")
        for node, name in zip(tensors, self.inputs, strict=True):
            self.expr[node] = name
        for node in self.nodes:
            if node in skipped:
                if any(u not in skipped for u in node.users):
                    raise self.fail(node, "a forward argument with a default, fixed to it, is used as a value")
                continue
            if node.op in ("placeholder", "output") or node in self.expr:
                if node.op == "output":
                    value = node.args[0]
                    if not _is_node(value):
                        raise self.fail(node, "forward must return one tensor")
                    steps.append(f"return {self.arg(value)}")
                continue
            if node.op == "call_function" and node.target is getattr:
                if node.args[1] != "shape":
                    raise self.fail(node, f"attribute {node.args[1]!r} of a tensor")
                continue  # read by the getitem that follows
            if node.op == "call_function" and node.target is operator.getitem and node.args[0] in self._tuples():
                continue  # named by the unpacking of its tuple
            text = self.translate(node)
            if node in self._tuples():
                steps.append(self.unpack(node, text))
                continue
            if self.inlinable(node):
                self.expr[node] = text  # operand() adds parentheses where an operator needs them
            else:
                name = self.fresh(node.name)
                steps.append(f"{name} = {text}")
                self.expr[node] = name
        return steps

    def _tuples(self) -> set[Any]:
        found = getattr(self, "_tuple_cache", None)
        if found is None:
            found = {n for n in self.nodes if n.users and all(
                u.op == "call_function" and u.target is operator.getitem and isinstance(u.args[1], int)
                for u in n.users) and not (n.op == "call_function" and n.target is getattr)}
            self._tuple_cache = found
        return found

    def unpack(self, node: Any, text: str) -> str:
        items = {u.args[1]: u for u in node.users}
        count = self.tuple_length(node, max(items) + 1)
        targets = []
        for i in range(count):
            if i in items and items[i].users:
                name = self.fresh(items[i].name)
                self.expr[items[i]] = name
                targets.append(name)
            else:
                targets.append("_")
        return f"{', '.join(targets)} = {text}"

    def tuple_length(self, node: Any, least: int) -> int:
        if node.op == "call_module":  # a layer that returns a tuple says how long (MultiheadAttention: 2);
            layer = self.owner.layer_classes.get(type(self.module.get_submodule(node.target)))
            return layer.outputs if layer is not None and layer.outputs > 1 else 2  # else two, as always assumed
        op = OPS.get(_target_name(node)) if node.op in ("call_function", "call_method") else None
        if op is not None and op.outputs_arg:  # chunk's chunks
            where = op.params.index(op.outputs_arg)
            chunks = node.args[where] if len(node.args) > where else node.kwargs.get(op.outputs_arg)
            if isinstance(chunks, int):
                return chunks
        return least

    def inlinable(self, node: Any) -> bool:
        if len(node.users) != 1:
            return False
        (user,) = node.users
        if user.op == "output" or user in self._tuples():
            return not self._inplace_between(node, user)
        if user.op == "call_function" and user.target is operator.getitem:
            return False
        return not self._inplace(node) and not self._inplace_between(node, user)

    def _inplace(self, node: Any) -> bool:
        if node.op == "call_module":
            return bool(getattr(self.module.get_submodule(node.target), "inplace", False))
        return bool(node.kwargs.get("inplace", False))

    def _inplace_between(self, node: Any, user: Any) -> bool:
        return any(self._inplace(n) for n in self.nodes[self.index[node] + 1:self.index[user]])

    def arg(self, value: Any) -> str:
        if _is_node(value):
            if value not in self.expr:
                raise self.fail(value, "a value this translation cannot name")
            return self.expr[value]
        if isinstance(value, (list, tuple)):
            inner = ", ".join(self.arg(v) for v in value)
            if isinstance(value, tuple):
                return f"({inner},)" if len(value) == 1 else f"({inner})"
            return f"[{inner}]"
        if value is None or isinstance(value, (bool, int, float, str)):
            if isinstance(value, float) and not math.isfinite(value):
                raise DumpError(self.path, f"the constant {value!r} cannot be written in a spec")
            return repr(value)
        raise DumpError(self.path, f"the constant {value!r} ({type(value).__name__}) cannot be written in a spec")

    def call(self, name: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> str:
        parts = [self.arg(a) for a in args] + [f"{k}={self.arg(v)}" for k, v in kwargs.items()]
        return f"{name}({', '.join(parts)})"

    def translate(self, node: Any) -> str:
        if node.op == "get_attr":
            return self.attribute(node)
        if node.op == "call_module":
            target = str(node.target)
            if target not in self.layers:
                raise self.fail(node, f"calls {target!r}, which is not a child of this module",
                                "call the child itself (a Sequential as a whole), not one of its parts")
            return self.call(target, node.args, node.kwargs)
        if node.op == "call_function":
            if node.target in _BINARY:
                a, b = node.args
                return f"{self.operand(a)} {_BINARY[node.target]} {self.operand(b)}"
            if node.target is operator.neg:
                return f"-{self.operand(node.args[0])}"
            if node.target is operator.getitem:
                source = node.args[0]
                if (_is_node(source) and source.op == "call_function" and source.target is getattr
                        and isinstance(node.args[1], int)):
                    return f"size({self.arg(source.args[0])}, {node.args[1]})"
                raise self.fail(node, "indexing a tensor", "write x.select(dim, i) or x.narrow(dim, start, length)")
            name = self.functions.get(node.target)
            if name is None:  # a helper generated code defines (corr2d), known to its registry entry
                name = next((n for n, op in OPS.items() if op.traced is not None and op.traced(node.target)), None)
            if name is None:
                raise self.fail(node, f"{_describe(node.target)} is not a netspec op",
                                "netspec layers lists the ops a forward can use")
            return self.op(node, name, node.args, dict(node.kwargs))
        if node.op == "call_method":
            method = str(node.target)
            if method == "contiguous" and not node.kwargs and len(node.args) == 1:
                return self.arg(node.args[0])
            method = next((name for name, op in OPS.items() if method in op.aliases), method)  # view -> reshape
            if method in OPS and OPS[method].gives_size and len(node.args) == 1:
                raise self.fail(node, "x.size() without a dim", "read one dim: x.size(0)")
            if method not in OPS:
                raise self.fail(node, f"the tensor method {method!r} is not a netspec op")
            args = list(node.args)
            if OPS[method].varargs and len(args) > 2:  # x.view(a, b) -> reshape(x, (a, b))
                args = [args[0], tuple(args[1:])]
            return self.op(node, method, args, dict(node.kwargs))
        raise self.fail(node, f"a {node.op} node")

    def operand(self, value: Any) -> str:
        text = self.arg(value)
        return f"({text})" if _needs_parens(text) else text

    def op(self, node: Any, name: str, args: Sequence[Any], kwargs: dict[str, Any]) -> str:
        op = OPS[name]
        params = op.params
        for extra, _ in op.extra:
            kwargs.pop(extra, None)
        for arg, torch_default in op.torch_defaults:  # flatten's start_dim: torch's default is 0, netspec's 1
            if len(args) <= params.index(arg) and arg not in kwargs:
                kwargs[arg] = torch_default
        if len(args) > len(params):
            raise self.fail(node, f"{len(args)} arguments, netspec's {name} takes {len(params)}")
        for k in [k for k in kwargs if k not in params and k in _TORCH_ONLY and _TORCH_ONLY[k](kwargs[k])]:
            del kwargs[k]  # torch's own defaults, as fx records them (max_pool2d's return_indices=False)
        unknown = [k for k in kwargs if k not in params]
        if unknown:
            raise self.fail(node, f"argument {unknown[0]!r} of {name} cannot be written in a spec")
        defaults = {a.name: a.default for a in op.args}
        kwargs = {k: v for k, v in kwargs.items() if not (k in defaults and defaults[k] is not REQUIRED
                                                          and not _is_node(v) and _same(v, defaults[k]))}
        return self.call(name, args, kwargs)

    def attribute(self, node: Any) -> str:
        target = str(node.target)
        head, _, rest = target.partition(".")
        if head not in self.params:
            raise self.fail(node, f"reads {target!r}, which is not a parameter of this module",
                            "buffers and attributes of submodules cannot be described")
        if not rest:
            return head
        entry = self.params[head]
        if isinstance(entry, dict) and "list" in entry and rest.isdigit():
            return f"{head}[{int(rest)}]"
        if isinstance(entry, dict) and "dict" in entry and rest in entry["dict"]:
            return f"{head}[{rest!r}]"
        raise self.fail(node, f"reads {target!r}")


_TORCH_ONLY: dict[str, Callable[[Any], bool]] = {
    "return_indices": lambda v: v is False, "dtype": lambda v: v is None, "_stacklevel": lambda v: True,
    "inplace": lambda v: v is False, "training": lambda v: True}



def _needs_parens(text: str) -> bool:
    depth = 0
    for ch in text:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif depth == 0 and (ch == " " or (ch == "-" and text.startswith("-"))):
            return True
    return False


def _is_node(value: Any) -> bool:
    import torch.fx

    return isinstance(value, torch.fx.Node)


def _target_name(node: Any) -> str:
    return str(node.target) if node.op == "call_method" else getattr(node.target, "__name__", "")


def _describe(target: Any) -> str:
    module = getattr(target, "__module__", None) or ""
    name = getattr(target, "__qualname__", None) or getattr(target, "__name__", None) or repr(target)
    return f"{module}.{name}" if module else str(name)


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _function_ops() -> dict[Any, str]:
    """torch callables -> the netspec op they are."""
    import torch
    import torch.nn.functional as F

    spaces = {"F": F, "torch": torch, "torch.Tensor": torch.Tensor}
    found: dict[Any, str] = {}
    for name, op in OPS.items():
        space, _, attr = op.spelling.rpartition(".")
        if space in spaces and hasattr(spaces[space], attr) and space != "torch.Tensor":
            found[getattr(spaces[space], attr)] = name
        for alias in (torch, F):  # torch.relu and F.relu, torch.softmax and F.softmax are one op
            fn = getattr(alias, name, None)
            if fn is not None and callable(fn) and fn not in found and not op.spelling.startswith("torch.Tensor."):
                found[fn] = name
    return found


def _forward_globals(module: Any) -> dict[str, Any]:
    forward = type(module).forward
    return dict(getattr(forward, "__globals__", {}))


def _tensor_parameters(module: Any, path: str) -> list[str]:
    try:
        signature = inspect.signature(type(module).forward)
    except (TypeError, ValueError):
        raise DumpError(path, f"the signature of {type(module).__name__}.forward cannot be read") from None
    names = []
    for name, p in list(signature.parameters.items())[1:]:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            raise DumpError(path, f"{type(module).__name__}.forward takes *{name}: a spec needs named inputs")
        if p.default is inspect.Parameter.empty:
            names.append(name)
    return names


# ---------------------------------------------------------------- inputs and the fake run


def _input_spec(module: Any, inputs: Any) -> dict[str, Any]:
    """The root's ``inputs`` section from what the caller gave."""
    import torch

    if inputs is None:
        raise DumpError("", "the input shape is needed: dump(module, inputs={'x': [N, 3, 224, 224]})")
    if not isinstance(inputs, Mapping):
        first = ["x"] if type(module) is torch.nn.Sequential else _tensor_parameters(module, "")[:1] or ["x"]
        inputs = {first[0]: inputs}
    result: dict[str, Any] = {}
    for name, value in inputs.items():
        dtype = "float32"
        if isinstance(value, torch.Tensor):
            dtype = _DTYPES.get(str(value.dtype), str(value.dtype))
            value = list(value.shape)
        elif isinstance(value, Mapping):
            dtype = str(value.get("dtype", "float32"))
            value = value["shape"]
        if isinstance(value, int):
            value = [value]
        shape = _FlowList(int(d) if isinstance(d, int) else str(d) for d in value)
        result[str(name)] = shape if dtype == "float32" else {"shape": shape, "dtype": dtype}
    return result


def _fake_run(module: Any, inputs: dict[str, Any], watch: list[Any]) -> dict[int, list[tuple[int, str]]]:
    """Run ``module`` once on fake tensors, recording the tensor inputs of each module in ``watch``."""
    import torch
    from torch._subclasses.fake_tensor import FakeTensorMode

    seen: dict[int, list[tuple[int, str]]] = {}
    watched = {id(m) for m in watch}
    stack: list[str] = []  # the modules running now: a failure is reported at the innermost

    def enter(path: str) -> Callable[..., None]:
        def hook(mod: Any, args: tuple[Any, ...]) -> None:
            stack.append(path)
            if id(mod) in watched:
                seen.setdefault(id(mod), [(t.dim(), _DTYPES.get(str(t.dtype), str(t.dtype)))
                                          for t in args if isinstance(t, torch.Tensor)])
        return hook

    def leave(mod: Any, args: tuple[Any, ...], out: Any) -> None:
        stack.pop()

    handles = []
    for path, m in module.named_modules():
        if path:
            handles += [m.register_forward_pre_hook(enter(path)), m.register_forward_hook(leave)]
    try:
        device = next(iter(module.parameters()), torch.empty(0)).device
        with FakeTensorMode(allow_non_fake_inputs=True):
            tensors = []
            for value in inputs.values():
                shape, dtype = (value["shape"], value["dtype"]) if isinstance(value, dict) else (value, "float32")
                sizes = [d if isinstance(d, int) else _SYMBOL_RUN_SIZE for d in shape]
                tensors.append(torch.zeros(sizes, dtype=getattr(torch, dtype), device=device))
            with torch.no_grad():
                module(*tensors)
    except Exception as exc:
        where = stack[-1] if stack else ""
        raise DumpError(where, f"running the module on inputs {inputs} failed: {type(exc).__name__}: "
                        f"{str(exc).splitlines()[0] if str(exc) else ''}",
                        "a spec's forward has no data-dependent Python control flow") from None
    finally:
        for handle in handles:
            handle.remove()
    return seen


# ---------------------------------------------------------------- one block per class


class _NoMerge(Exception):
    """The variants of a class differ in a way one block with arguments cannot say: they stay apart."""


MAX_MERGED_ARGS = 8  # more, and one block per variant reads better than one block with its many arguments
_MISSING: Any = object()  # a variant without this entry (its layer is absent there)
_SCALARS = (bool, int, float)


@dataclass
class _Arg:
    """A place where the variants differ: one value per variant (None where the place is absent)."""

    hint: str
    kind: type
    values: list[Any]
    layer: str = ""  # a flag's: the layer present where it is true
    name: str = ""
    twin: _Arg | None = None  # the argument this one shares (values agree wherever both are given)


class _Merger:
    """Turns the variants of one module class (``BasicBlock``, ``BasicBlock2``...) into one block with
    arguments: each value the variants disagree on becomes an argument (values that agree variant by variant
    share one), a layer only some variants have an ``if:`` on a flag, and differing forwards one ``if`` on
    the layers present.  Whatever it cannot say (another layer type, lists of other lengths, inputs or
    parameters that differ) leaves the variants as they are."""

    def __init__(self, blocks: Mapping[str, dict[str, Any]], defaults: Mapping[str, Mapping[str, Any]]):
        self.blocks = blocks
        self.defaults = defaults  # merged block -> its arguments' defaults (a use leaves those out)
        self.args: list[_Arg] = []

    def arg(self, hint: str, kind: type, values: list[Any], layer: str = "") -> _Arg:
        found = _Arg(hint, kind, values, layer)
        self.args.append(found)
        return found

    def definition(self, variants: list[dict[str, Any]]) -> dict[str, Any]:
        keys = list(variants[0])
        if any(list(v) != keys for v in variants):
            raise _NoMerge
        out: dict[str, Any] = {}
        for key in keys:
            values = [v[key] for v in variants]
            if key == "layers" and all(isinstance(v, dict) for v in values):
                out[key] = self.layers(values)
            elif key == "layers":
                out[key] = self.entry(values, key)
            elif key == "forward":
                out[key] = values[0]  # decided once the flags are known (forward())
            elif _same_data(values):
                out[key] = values[0]
            else:  # inputs, params
                raise _NoMerge
        return out

    def layers(self, maps: list[Any]) -> dict[str, Any]:
        """Layer maps by name: the union, in an order every variant keeps; a partial layer gets ``if:``."""
        order: list[str] = []
        for names in (list(m) for m in maps):
            at = 0
            for name in names:
                if name in order:
                    if order.index(name) < at:
                        raise _NoMerge  # two variants order their layers differently
                    at = order.index(name) + 1
                else:
                    order.insert(at, name)
                    at += 1
        out: dict[str, Any] = {}
        for name in order:
            values = [m.get(name, _MISSING) for m in maps]
            entry = self.entry(values, name)
            if any(v is _MISSING for v in values):
                flag = self.arg(f"use_{name}", bool, [v is not _MISSING for v in values], name)
                entry = {"type": "Sequential", "if": flag, "layers": entry} if isinstance(entry, list) else \
                    _Flow({"type": entry, "if": flag}) if isinstance(entry, str) else _Flow({**entry, "if": flag})
            out[name] = entry
        return out

    def entry(self, values: list[Any], hint: str) -> Any:
        """One layer entry across the variants (``_MISSING`` where a variant lacks it)."""
        present = [v for v in values if v is not _MISSING]
        if _same_data(present):
            return present[0]
        if all(isinstance(v, list) for v in present):
            if len({len(v) for v in present}) != 1:
                raise _NoMerge
            return [self.entry([v[i] if v is not _MISSING else _MISSING for v in values], hint)
                    for i in range(len(present[0]))]
        forms = [_entry_dict(v) if v is not _MISSING else _MISSING for v in values]
        kinds = {f["type"] for f in forms if f is not _MISSING}
        if len(kinds) != 1 or any(not isinstance(k, str) for k in kinds):
            raise _NoMerge  # another layer type, or a Sequential against a layer
        (kind,) = kinds
        if kind == "Sequential":
            layers = [f["layers"] if f is not _MISSING else _MISSING for f in forms]
            if any(set(f) != {"type", "layers"} for f in forms if f is not _MISSING):
                raise _NoMerge
            if all(isinstance(v, dict) for v in layers if v is not _MISSING):
                if any(v is _MISSING for v in layers):
                    raise _NoMerge
                return {"type": "Sequential", "layers": self.layers(layers)}
            return {"type": "Sequential", "layers": self.entry(layers, hint)}
        defaults = _entry_defaults(kind, self.defaults)
        names: list[str] = []
        for form in forms:
            if form is not _MISSING:
                names += [k for k in form if k not in names]
        layer = LAYERS.get(kind)
        if layer is not None:  # the constructor's order, as each variant writes its own
            order = {a.name: i for i, a in enumerate(layer.args, start=1)}
            names.sort(key=lambda n: 0 if n == "type" else order.get(n, len(order) + 1))
        out = _Flow()
        for name in names:
            column = []
            for form in forms:
                if form is _MISSING:
                    column.append(_MISSING)
                elif name in form:
                    column.append(form[name])
                elif name in defaults:
                    column.append(defaults[name])
                else:
                    raise _NoMerge  # left out, and no default known to stand for it
            out[name] = self.value(column, name)
        return out

    def value(self, values: list[Any], hint: str) -> Any:
        present = [v for v in values if v is not _MISSING]
        if _same_data(present):
            return present[0]
        kinds = {type(v) for v in present}
        if len(kinds) == 1 and next(iter(kinds)) in _SCALARS:
            return self.arg(hint, next(iter(kinds)), [None if v is _MISSING else v for v in values])
        if all(isinstance(v, list) for v in present) and len({len(v) for v in present}) == 1:
            return [self.value([v[i] if v is not _MISSING else _MISSING for v in values], hint)
                    for i in range(len(present[0]))]
        raise _NoMerge  # strings (a str field reads a bare name as text), or values of other kinds

    def forward(self, forwards: list[Any], flags: list[_Arg]) -> Any:
        """One forward: the variants' own when they agree, else an ``if`` over the partial layers present."""
        if _same_data(forwards):
            return forwards[0]
        if not all(isinstance(f, list) and all(isinstance(s, str) and "\n" not in s for s in f) for f in forwards):
            raise _NoMerge
        shared = 0  # the steps every forward starts with stay outside the `if`
        while all(len(f) > shared + 1 and f[shared] == forwards[0][shared] for f in forwards):
            shared += 1
        tests: dict[str, list[str]] = {}
        for index, steps in enumerate(forwards):
            test = " and ".join(flag.layer if flag.values[index] else f"not {flag.layer}" for flag in flags)
            if tests.setdefault(test, steps[shared:]) != steps[shared:] or not test:
                raise _NoMerge  # two forwards under the same layers present: not a matter of layers
        branches = sorted(tests.items(), key=lambda item: item[0].count("not "))  # `if downsample:` first
        lines = []
        for number, (test, steps) in enumerate(branches):
            head = "else:" if number == len(branches) - 1 else f"{'if' if number == 0 else 'elif'} {test}:"
            lines.append(head)
            lines += [f"    {step}" for step in steps]
        return [*forwards[0][:shared], _Literal("\n".join(lines) + "\n")]


def _same_data(values: Sequence[Any]) -> bool:
    first = _canonical(values[0]) if values else None
    return all(_canonical(v) == first for v in values[1:])


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=repr)  # 1, 1.0 and true stay apart


def _entry_dict(entry: Any) -> dict[str, Any]:
    if isinstance(entry, str):
        return {"type": entry}
    if isinstance(entry, list):
        return {"type": "Sequential", "layers": entry}
    if isinstance(entry, dict):
        return dict(entry)
    raise _NoMerge


def _entry_defaults(kind: str, merged: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    if kind in merged:
        return dict(merged[kind])
    layer = LAYERS.get(kind)
    if layer is None:
        return {}
    return {a.name: a.default for a in layer.args if a.default is not REQUIRED and not a.inferred}


def _entries(data: Any, visit: Callable[[Any], Any]) -> Any:
    """``data`` (a layer entry) with ``visit`` applied to every layer entry in it, inner ones first."""
    if isinstance(data, list):
        return visit([_entries(e, visit) for e in data])
    if isinstance(data, dict) and data.get("type") == "Sequential" and "layers" in data:
        inner = data["layers"]
        layers = {k: _entries(v, visit) for k, v in inner.items()} if isinstance(inner, dict) else \
            _entries(inner, visit)
        return visit(type(data)({**data, "layers": layers}))
    return visit(data)


def _each_entry_map(data: dict[str, Any], visit: Callable[[Any], Any]) -> None:
    """``visit`` on every layer entry of the root and of every block, in place."""
    tables = [data, *data.get("blocks", {}).values()]
    for table in tables:
        layers = table.get("layers")
        if isinstance(layers, dict):
            table["layers"] = {k: _entries(v, visit) for k, v in layers.items()}
        elif isinstance(layers, list):
            table["layers"] = _entries(layers, visit)


def _uses(entry: Any) -> set[str]:
    found: set[str] = set()

    def visit(e: Any) -> Any:
        if isinstance(e, str):
            found.add(e)
        elif isinstance(e, dict) and isinstance(e.get("type"), str):
            found.add(e["type"])
        return e

    _entries(entry, visit)
    return found


def merge_variants(data: dict[str, Any], classes: Mapping[Any, list[str]]) -> dict[str, Any]:
    """``data`` (a dumped spec) with the variants of each class merged into one block with arguments where they
    can be; a copy, so the caller keeps the plain dump to fall back on."""
    data = copy.deepcopy(data)
    blocks: dict[str, dict[str, Any]] = data.get("blocks", {})
    merged_defaults: dict[str, dict[str, Any]] = {}
    for names in classes.values():
        if len(names) < 2 or not all(n in blocks for n in names):
            continue
        reach = _reachable(blocks, names)
        if reach & set(names):
            continue  # a variant holds another variant of its own class: one block would hold itself
        counts = _use_counts(data, names)
        merger = _Merger(blocks, merged_defaults)
        try:
            definition = merger.definition([blocks[n] for n in names])
            flags = [a for a in merger.args if a.layer]
            if "forward" in definition:
                definition["forward"] = merger.forward([blocks[n]["forward"] for n in names], flags)
        except _NoMerge:
            continue
        args = _name_args(merger.args, definition, counts)
        if len(args) > MAX_MERGED_ARGS:
            continue  # the variants have little in common (DenseNet's blocks of 6, 12, 24 and 16 layers)
        merged_defaults[names[0]] = {a.name: a.values[_most_common(a, counts)] for a in args}
        _substitute(definition, {id(a): a for a in merger.args})
        defaults = merged_defaults[names[0]]
        declared = {"args": dict(defaults)}
        blocks[names[0]] = {**declared, **definition}
        for other in names[1:]:
            del blocks[other]
        uses = {}
        for index, name in enumerate(names):
            given = {a.name: a.values[index] for a in args
                     if a.values[index] is not None and _canonical(a.values[index]) != _canonical(defaults[a.name])}
            uses[name] = _Flow({"type": names[0], **given}) if given else names[0]
        _each_entry_map(data, functools.partial(_rename_use, uses))
    _each_entry_map(data, lambda e: _repeats(e, set(blocks)) if isinstance(e, list) else e)
    return data


def _rename_use(uses: Mapping[str, Any], entry: Any) -> Any:
    return uses.get(entry, entry) if isinstance(entry, str) else entry


def _reachable(blocks: Mapping[str, dict[str, Any]], names: list[str]) -> set[str]:
    """The blocks the variants ``names`` use, directly or through other blocks."""
    seen: set[str] = set()
    todo = [u for n in names for u in _uses(blocks[n].get("layers", {}) if isinstance(blocks[n].get("layers"), list)
                                            else list(blocks[n].get("layers", {}).values()))]
    while todo:
        name = todo.pop()
        if name in seen or name not in blocks:
            continue
        seen.add(name)
        layers = blocks[name].get("layers", {})
        todo += _uses(layers if isinstance(layers, list) else list(layers.values()))
    return seen


def _use_counts(data: dict[str, Any], names: list[str]) -> list[int]:
    counted = dict.fromkeys(names, 0)

    def visit(e: Any) -> Any:
        if isinstance(e, str) and e in counted:
            counted[e] += 1
        return e

    _each_entry_map(data, visit)
    return [counted[n] for n in names]


def _most_common(arg: _Arg, counts: list[int]) -> int:
    """The variant whose value of ``arg`` the most uses share (the first on a tie): the argument's default."""
    tally: dict[str, int] = {}
    for value, count in zip(arg.values, counts, strict=True):
        if value is not None:
            tally[_canonical(value)] = tally.get(_canonical(value), 0) + max(count, 1)
    best = max(tally.values())
    return next(i for i, v in enumerate(arg.values) if v is not None and tally[_canonical(v)] == best)


def _name_args(found: list[_Arg], definition: dict[str, Any], counts: list[int]) -> list[_Arg]:
    """One argument per column of values (``conv1``'s and ``conv2``'s ``out_channels`` agree variant by
    variant, where both are given: one), named after the field it sets, clear of every name the block uses."""
    taken = set(definition.get("layers", {})) if isinstance(definition.get("layers"), dict) else set()
    taken |= set(definition.get("params", {})) | set(definition.get("inputs", {}))
    taken |= set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", json.dumps(definition.get("forward", []))))
    names = Namespace(taken, DUMP_RESERVED | MODULE_ATTRIBUTES | set(LAYERS) | set(OPS), python_names=True)
    kept: list[_Arg] = []
    for arg in found:
        twin = next((k for k in kept if k.kind is arg.kind and bool(k.layer) == bool(arg.layer) and all(
            a is None or b is None or _canonical(a) == _canonical(b) for a, b in zip(k.values, arg.values,
                                                                                     strict=True))), None)
        if twin is None:
            kept.append(arg)
        else:
            twin.values = [a if a is not None else b for a, b in zip(twin.values, arg.values, strict=True)]
            arg.twin = twin
    for arg in kept:
        arg.name = names.create_name(arg.hint if arg.hint.isidentifier() else "arg")
        default = arg.values[_most_common(arg, counts)]  # a value absent in a variant is the default there
        arg.values = [default if v is None else v for v in arg.values]
    for arg in found:
        if arg.twin is not None:
            arg.name = arg.twin.name
    return kept


def _substitute(data: Any, args: Mapping[int, _Arg]) -> None:
    """Every :class:`_Arg` placeholder in ``data`` replaced by its argument's name, in place."""
    items = data.items() if isinstance(data, dict) else enumerate(data) if isinstance(data, list) else ()
    for key, value in list(items):
        if isinstance(value, _Arg):
            data[key] = value.name
        else:
            _substitute(value, args)


def _repeats(entries: list[Any], blocks: set[str]) -> list[Any]:
    """Runs of one block use, ``[B, B, B]``, written once with ``repeat: 3``."""
    out: list[Any] = []
    for entry in entries:
        kind = entry if isinstance(entry, str) else entry.get("type") if isinstance(entry, dict) else None
        last = out[-1] if out else None
        if kind in blocks and last is not None and isinstance(last, dict) and "repeat" in last and \
                _canonical({k: v for k, v in last.items() if k != "repeat"}) == _canonical(_entry_dict(entry)):
            last["repeat"] += 1
        elif kind in blocks and last is not None and _canonical(_entry_dict(last)) == _canonical(_entry_dict(entry)):
            out[-1] = _Flow({**_entry_dict(entry), "repeat": 2})
        else:
            out.append(entry)
    return out


# ---------------------------------------------------------------- constructor arguments

MAX_ARGS_CHARS = 65_536  # `--args` text: constructor arguments, not data
MAX_ARGS_DEPTH = 32


def parse_args(text: str) -> dict[str, Any]:
    """``--args '{"num_classes": 10}'``: a JSON object of keyword arguments for the class's constructor, plain
    values only (JSON has no other kind), bounded in size and nesting; ValueError saying what is wrong."""
    if len(text) > MAX_ARGS_CHARS:
        raise ValueError(f"expected at most {MAX_ARGS_CHARS:,} characters of JSON, found {len(text):,}")
    depth = deepest = 0
    for char in text:  # before json.loads, whose recursion a deep '[[[[...' would exhaust
        depth += (char in "[{") - (char in "]}")
        deepest = max(deepest, depth)
    if deepest > MAX_ARGS_DEPTH:
        raise ValueError(f"expected JSON nested at most {MAX_ARGS_DEPTH} deep, found {deepest}")
    try:
        value = json.loads(text)
    except ValueError as exc:  # JSONDecodeError, or a number too long for int()
        raise ValueError(f"expected a JSON object such as '{{\"num_classes\": 10}}', found invalid JSON ({exc})") \
            from None
    if not isinstance(value, dict):
        raise ValueError(f"expected a JSON object of keyword arguments such as '{{\"num_classes\": 10}}', found a "
                         f"JSON {type(value).__name__}")
    bad = [key for key in value if not key.isidentifier()]
    if bad:
        raise ValueError(f"expected argument names, found {bad[0]!r}")
    return value


# ---------------------------------------------------------------- the entry point


def dump(module: Any, *, name: str | None = None, inputs: Any = None) -> str:
    """The YAML text of a spec that builds a module laid out as ``module``.

    ``inputs`` is required: ``{"x": ["N", 3, 224, 224]}`` (a name -> a shape,
    a tensor, or ``{"shape": ..., "dtype": ...}``), or one shape or tensor for a
    one-input forward.  ``name`` is the class name (default: the module's).
    Raises :class:`DumpError` at the submodule path of what a spec cannot say.
    """
    from torch import nn

    if not isinstance(module, nn.Module):
        raise DumpError("", f"expected an nn.Module, found {type(module).__name__}")
    spec_inputs = _input_spec(module, inputs)
    class_name = name or type(module).__name__
    if not _NAME.fullmatch(class_name):
        raise DumpError("", f"{class_name!r} cannot be a class name", "pass name=")
    if type(module) in _layer_classes():
        raise DumpError("", f"{type(module).__name__} is one layer, not a model: its state_dict keys have no layer "
                        "name, and a spec's root always names its layers", "wrap it: nn.Sequential(OrderedDict(...))")
    custom = [m for m in module.modules() if type(m) not in _layer_classes() and type(m) is not nn.Sequential
              and not isinstance(m, (nn.ParameterList, nn.ParameterDict)) and m is not module]
    ranks = _fake_run(module, spec_inputs, custom) if custom else {}
    last: Exception | None = None
    for text in _texts(module, class_name, spec_inputs, ranks):
        try:
            _verify(module, text)
        except DumpError as exc:
            last = exc  # the plainest text is tried last: its error is the one reported
            continue
        return text
    assert last is not None
    raise last


def _texts(module: Any, class_name: str, spec_inputs: dict[str, Any],
           ranks: Mapping[int, list[tuple[int, str]]]) -> Iterator[str]:
    """The texts to try, best first: one block per class with arguments (the variants of each class merged,
    where they can be), then one block per variant, the arguments inferred from the input left out, then
    written out."""
    plain, walker = _dump_data(module, class_name, spec_inputs, _Walker(True, ranks))
    if any(len(names) > 1 for names in walker.classes.values()):  # else no walk could merge anything
        data, walker = _dump_data(module, class_name, spec_inputs, _Walker(True, ranks, infer_in_blocks=False))
        yield _yaml(merge_variants(data, walker.classes))
    yield _yaml(plain)
    yield _yaml(_dump_data(module, class_name, spec_inputs, _Walker(False, ranks))[0])


def _dump_data(module: Any, class_name: str, spec_inputs: dict[str, Any], walker: _Walker) -> \
        tuple[dict[str, Any], _Walker]:
    from torch import nn

    if type(module) is nn.Sequential:
        names = [n for n, _ in module.named_children()]
        bad = [n for n in names if not _NAME.fullmatch(n)]
        if bad:
            raise DumpError(bad[0], "an nn.Sequential root with numbered children ('0.weight') cannot be a spec's "
                            "root, whose layers have names", "name them: nn.Sequential(OrderedDict(fc1=..., ...))")
        root: dict[str, Any] = {"inputs": spec_inputs,
                                "layers": {n: walker.layer(c, n) for n, c in module.named_children()}}
    else:
        root = walker.definition(module, "", spec_inputs)
    data: dict[str, Any] = {"netspec": 1, "name": class_name}
    data["inputs"] = root.pop("inputs")
    if walker.blocks:
        data["blocks"] = walker.blocks
    data.update(root)
    return data, walker


def _verify(module: Any, text: str) -> None:
    """Compile the spec and build it on meta: its state_dict must be ``module``'s, key for key."""
    from .. import api

    try:
        built = api.load(text=text, filename="<dump>", device="meta")
    except SpecError as exc:
        first = exc.errors[0] if exc.errors else exc.diagnostics[0]
        where = first.dotted_path
        raise DumpError(where, f"the spec written does not compile: error[{first.code}] "
                        f"{first.message}", first.hint) from None
    mine = [(k, tuple(v.shape)) for k, v in module.state_dict().items()]
    theirs = [(k, tuple(v.shape)) for k, v in built.state_dict().items()]
    if mine != theirs:
        for a, b in zip(mine, theirs, strict=False):
            if a != b:
                raise DumpError(a[0].rpartition(".")[0], f"the spec gives state_dict entry {b[0]} {b[1]} where the "
                                f"module has {a[0]} {a[1]}", "netspec registers layers before ParameterLists and "
                                "ParameterDicts")
        raise DumpError("", f"the spec gives {len(theirs)} state_dict entries, the module has {len(mine)}")
    grads = [(k, p.requires_grad) for k, p in module.named_parameters()]
    if grads != [(k, p.requires_grad) for k, p in built.named_parameters()]:
        raise DumpError("", "requires_grad differs between the spec and the module")


__all__ = ["DumpError", "dump", "parse_args"]

