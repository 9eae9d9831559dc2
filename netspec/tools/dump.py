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
  different definitions gives one block per variant (``BasicBlock``,
  ``BasicBlock2``...).  The root, unless it is a plain named ``nn.Sequential``,
  is traced the same way.

Block input ranks are read by running the module once on fake tensors
(``FakeTensorMode``, nothing allocated).  The spec written is checked before it
is returned: compiled by netspec and built on the meta device, its
``state_dict`` must have the module's keys, shapes and order.

Whatever cannot be described raises :class:`DumpError` naming the submodule
path (``layer2.0.conv1``) and what it found there.
"""

from __future__ import annotations

import inspect
import json
import math
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import yaml

from ..errors import SpecError
from ..middle.names import DUMP_RESERVED, Namespace
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


class _Dumper(yaml.SafeDumper):
    pass


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
_Dumper.add_representer(_FlowList, lambda d, data: d.represent_sequence("tag:yaml.org,2002:seq", data,
                                                                       flow_style=True))


def _yaml(data: dict[str, Any]) -> str:
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100_000)


# ---------------------------------------------------------------- the walk


def _fx_name(n: Any) -> str:
    return str(getattr(n, "name", n))


class _Walker:
    """One dump: the blocks found so far and the options."""

    def __init__(self, infer: bool, ranks: Mapping[int, list[tuple[int, str]]]):
        import torch
        from torch import nn

        self.torch = torch
        self.nn = nn
        self.infer = infer
        self.ranks = ranks  # id(submodule) -> [(rank, dtype)] of its tensor inputs, from the fake run
        self.layer_classes = _layer_classes()
        self.blocks: dict[str, dict[str, Any]] = {}
        self.block_keys: dict[str, str] = {}  # definition text -> block name
        self.block_names = Namespace(reserved=LAYERS, separator="")  # BasicBlock, BasicBlock2, ...
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
        return self.block_keys[key]

    # ---- module definitions

    def definition(self, module: Any, path: str, inputs: dict[str, Any] | None) -> dict[str, Any]:
        nn = self.nn
        kind = type(module)
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
    last: Exception | None = None
    for infer in (True, False):
        text = _dump_once(module, class_name, spec_inputs, infer)
        try:
            _verify(module, text)
        except DumpError as exc:
            last = exc
            continue
        return text
    assert last is not None
    raise last


def _dump_once(module: Any, class_name: str, spec_inputs: dict[str, Any], infer: bool) -> str:
    from torch import nn

    custom = [m for m in module.modules() if type(m) not in _layer_classes() and type(m) is not nn.Sequential
              and not isinstance(m, (nn.ParameterList, nn.ParameterDict)) and m is not module]
    ranks = _fake_run(module, spec_inputs, custom) if custom else {}
    walker = _Walker(infer, ranks)
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
    return _yaml(data)


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


__all__ = ["DumpError", "dump"]

