"""Random *programs* written twice: as a netspec spec and as a PyTorch module built by hand.

Used by ``test_programs.py``.  A program is data, the mapping a spec holds: a root and blocks
with typed arguments (some read off the input), vars, ``if:`` on layers and block uses, ``repeat``,
groups with name patterns, Sequentials, forward loops over groups, chunk/cat and residual adds,
and sometimes ``extends`` (the program split into a base file and a file that extends it).

The reference, :class:`Ref`, reads that same data the way a person writes the module in torch:
each layer entry becomes the torch module it names (``nn.LazyConv2d`` / ``nn.LazyBatchNorm2d`` /
``nn.LazyLinear`` where the spec leaves the input size out, so torch finds it on the first call),
``if:`` and ``repeat`` are Python ``if`` and ``for``, a block is an ``nn.Module`` whose arguments read
off the input are taken from the tensor it is first called with (as ``_make_layer`` computes
``inplanes``), and forward is the spec's own forward text run as Python with torch functions.  It
shares no code with netspec: it is what netspec must agree with.

Programs are drawn from templates with random sizes, depths and switches, so that many build an
entry in no instance (a ``downsample`` when no block changes width, a squeeze-excite switched off by
a var, a dense block of no layers), and with some mistakes (a residual add of different widths, a
wrong ``downsample`` condition, pooling past the input) so that about a quarter are invalid.
"""

from __future__ import annotations

import copy
import random
import re
import textwrap
import warnings
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import torch
import torch.nn.functional as F
import yaml
from torch import nn

BATCH = 2

# ---------------------------------------------------------------- programs as data


@dataclass
class Op:
    """A piece of a definition: its layer entries and the forward steps that use them (a shrinking unit)."""

    layers: list[tuple[str, Any]]
    steps: list[str]


@dataclass
class Definition:
    name: str
    inputs: dict[str, list[Any]]
    args: dict[str, Any] = field(default_factory=dict)
    vars: dict[str, Any] = field(default_factory=dict)
    ops: list[Op] = field(default_factory=list)
    sequential: bool = False  # a block whose layers are a list and which has no forward (an nn.Sequential)

    @property
    def layers(self) -> dict[str, Any]:
        return {key: value for op in self.ops for key, value in op.layers}

    @property
    def forward(self) -> list[str]:
        return [step for op in self.ops for step in op.steps] + ["return x"]

    def data(self, block: bool) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if block and self.args:
            out["args"] = dict(self.args)
        out["inputs"] = {k: list(v) for k, v in self.inputs.items()}
        if self.vars:
            out["vars"] = dict(self.vars)
        if self.sequential:
            out["layers"] = copy.deepcopy(list(self.layers.values()))
            return out
        if self.layers:
            out["layers"] = copy.deepcopy(self.layers)
        out["forward"] = self.forward
        return out


@dataclass
class Program:
    root: Definition
    blocks: dict[str, Definition]
    base_vars: dict[str, Any] | None = None  # extends: the base file's vars; the root's vars overlay them
    base_blocks: dict[str, Definition] = field(default_factory=dict)  # extends: blocks the base file has instead
    stale: dict[str, Any] = field(default_factory=dict)  # vars the files give other values, set by overrides

    @property
    def overrides(self) -> dict[str, Any]:
        return {k: self.root.vars[k] for k in self.stale}

    def used_blocks(self) -> list[str]:
        """The blocks the root uses, directly or through other blocks, in definition order."""
        found: set[str] = set()
        pending = [self.root]
        while pending:
            definition = pending.pop()
            aliases = [v for v in definition.vars.values() if isinstance(v, str) and v in self.blocks]
            for name in [*_types(definition.layers), *aliases]:
                if name in self.blocks and name not in found:
                    found.add(name)
                    pending.append(self.blocks[name])
        return [name for name in self.blocks if name in found]

    def spec(self, name: str | None = None, vars: dict[str, Any] | None = None,
             blocks: dict[str, Definition] | None = None) -> dict[str, Any]:
        """The whole program as one spec's data (``vars`` and ``blocks`` replacing the program's own)."""
        data: dict[str, Any] = {"netspec": 1, "name": name or self.root.name}
        root = self.root.data(block=False)
        data["inputs"] = root.pop("inputs")
        chosen = self.root.vars if vars is None else vars
        if chosen:
            data["vars"] = dict(chosen)
        root.pop("vars", None)
        used = self.used_blocks()
        if used:
            data["blocks"] = {name: {**self.blocks, **(blocks or {})}[name].data(block=True) for name in used}
        data.update(root)
        return data

    def files(self) -> dict[str, str]:
        """File name -> YAML text; ``main.yaml`` is the spec to compile (with :attr:`overrides`)."""
        written = {**self.root.vars, **self.stale}
        if self.base_vars is None:
            return {"main.yaml": dump(self.spec(vars=written))}
        used = self.used_blocks()
        others = {k: v for k, v in self.base_blocks.items() if k in used}
        base = dump(self.spec(name="Base", vars=self.base_vars, blocks=others))
        changed = {k: v for k, v in written.items() if self.base_vars.get(k) != v}
        main: dict[str, Any] = {"extends": "base.yaml", "name": self.root.name}
        if changed:
            main["vars"] = changed
        if others:
            main["blocks"] = {name: self.blocks[name].data(block=True) for name in others}
        return {"base.yaml": base, "main.yaml": dump(main)}

    def yaml(self) -> str:
        """The repro: every file, the one to compile last."""
        files = self.files()
        sets = "".join(f"# --set {k}={v!r}\n" for k, v in self.overrides.items())
        if len(files) == 1:
            return sets + files["main.yaml"]
        return sets + "".join(f"# --- {name}\n{text}" for name, text in sorted(files.items()))

    def smaller(self) -> Iterator[Program]:
        """Programs with one piece less: no extends, or one op of one definition dropped."""
        if self.stale:
            yield replace(self, stale={})
        if self.base_vars is not None:
            yield replace(self, base_vars=None, base_blocks={})
        for index in range(len(self.root.ops)):
            yield replace(self, root=_without(self.root, index))
        for name in self.used_blocks():
            for index in range(len(self.blocks[name].ops)):
                yield replace(self, blocks={**self.blocks, name: _without(self.blocks[name], index)})


def _without(definition: Definition, index: int) -> Definition:
    return replace(definition, ops=definition.ops[:index] + definition.ops[index + 1:])


def _types(layers: Any) -> Iterator[str]:
    """Every layer type named in an entry, a mapping of entries or a list of them."""
    if isinstance(layers, str):
        yield layers
    elif isinstance(layers, list):
        for item in layers:
            yield from _types(item)
    elif isinstance(layers, dict) and ("type" in layers or "layers" in layers):  # an entry
        if "type" in layers:
            yield layers["type"]
        yield from _types(layers.get("layers", []))
    elif isinstance(layers, dict):  # entries by key
        for item in layers.values():
            yield from _types(item)


class _Dumper(yaml.SafeDumper):
    pass


def _str(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style="|" if "\n" in text else None)


_Dumper.add_representer(str, _str)


def dump(data: dict[str, Any]) -> str:
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, default_flow_style=None, width=120)


# ---------------------------------------------------------------- the reference: the program in torch

FUNCTIONS: dict[str, Any] = {
    "relu": F.relu, "sigmoid": torch.sigmoid, "cat": torch.cat, "chunk": torch.chunk,
    "adaptive_avg_pool2d": F.adaptive_avg_pool2d, "flatten": torch.flatten, "max_pool2d": F.max_pool2d,
}
BUILTINS: dict[str, Any] = {"min": min, "max": max, "len": len, "int": int, "abs": abs}
_SETTINGS = ("type", "if", "repeat", "layers")


def value(v: Any, env: dict[str, Any]) -> Any:
    """A value of the program: a string is an expression (the test's own, evaluated as Python)."""
    if isinstance(v, str):
        return eval(v, {"__builtins__": {}, **BUILTINS}, dict(env))  # the generator's own expressions
    if isinstance(v, list):
        return [value(item, env) for item in v]
    return v


def _pattern(key: Any, env: dict[str, Any]) -> str:
    return re.sub(r"\{([^}]*)\}", lambda m: str(value(m.group(1), env)), str(key))


def torch_layer(kind: str, args: dict[str, Any]) -> nn.Module:
    """The torch module a layer entry names; a lazy one where the input's size is left out."""
    if kind == "Conv2d":
        options = {"kernel_size": args["kernel_size"], "stride": args.get("stride", 1),
                   "padding": args.get("padding", 0), "bias": args.get("bias", True)}
        if "in_channels" in args:
            return nn.Conv2d(args["in_channels"], args["out_channels"], **options)
        return nn.LazyConv2d(args["out_channels"], **options)
    if kind == "BatchNorm2d":
        return nn.BatchNorm2d(args["num_features"]) if "num_features" in args else nn.LazyBatchNorm2d()
    if kind == "Linear":
        if "in_features" in args:
            return nn.Linear(args["in_features"], args["out_features"], bias=args.get("bias", True))
        return nn.LazyLinear(args["out_features"], bias=args.get("bias", True))
    if kind == "ReLU":
        return nn.ReLU(inplace=args.get("inplace", False))
    if kind == "MaxPool2d":
        return nn.MaxPool2d(args["kernel_size"], args.get("stride"), args.get("padding", 0))
    if kind == "AdaptiveAvgPool2d":
        return nn.AdaptiveAvgPool2d(args["output_size"])
    if kind == "Identity":
        return nn.Identity()
    raise AssertionError(f"the reference has no {kind}")


class Ref(nn.Module):
    """One definition of the program as a torch module; a block binds the arguments its inputs name from
    the tensors of its first call, then builds its children (nothing is built before that)."""

    def __init__(self, program: Program, definition: Definition, given: dict[str, Any]) -> None:
        super().__init__()
        self._program = program
        self._definition = definition
        self._given = given
        self._env: dict[str, Any] = {}
        self._names: dict[str, Any] = {}
        self.ready = False
        self.first_inputs: tuple[torch.Size, ...] = ()
        bound = {d for shape in definition.inputs.values() for d in shape if d in definition.args}
        if bound <= set(given):
            self._build(self._defaults(dict(given)))

    def _defaults(self, env: dict[str, Any]) -> dict[str, Any]:
        for name, declared in self._definition.args.items():
            if name not in env:
                if declared in ("int", "float", "bool", "str"):
                    raise TypeError(f"{self._definition.name} needs {name}")
                env[name] = declared
        return env

    def _bind(self, inputs: tuple[torch.Tensor, ...]) -> dict[str, Any]:
        env = dict(self._given)
        for shape, tensor in zip(self._definition.inputs.values(), inputs, strict=True):
            for k, dim in enumerate(shape):
                if dim in self._definition.args and dim not in env:
                    env[dim] = tensor.shape[k]
        return self._defaults(env)

    def _build(self, env: dict[str, Any]) -> None:
        for name, expr in self._definition.vars.items():  # a block's name is a plain string, not a name
            env[name] = expr if isinstance(expr, str) and expr in self._program.blocks else value(expr, env)
        self._env = env
        built: list[tuple[Any, nn.Module]] = []
        for key, entry in self._definition.layers.items():
            if self._definition.sequential:  # numbered by the children built, as nn.Sequential numbers them
                self._entry(None, entry, env, built, False, None)
            else:
                self._entry(key, entry, env, built, True, self._names)
        for key, module in built:
            self.add_module(str(key), module)
        self.train(self.training)  # children built on the first call take the mode the block is in
        self.ready = True

    def _entry(self, key: Any, entry: Any, env: dict[str, Any], out: list[tuple[Any, nn.Module]], named: bool,
               names: dict[str, Any] | None) -> None:
        spec: dict[str, Any]
        if isinstance(entry, str):
            spec = {"type": entry}
        elif isinstance(entry, list):  # a list is a Sequential
            spec = {"type": "Sequential", "layers": entry}
        else:
            spec = entry
        group = "type" not in spec
        repeat = spec.get("repeat")
        start = len(out)
        if "if" not in spec or value(spec["if"], env):
            for env_i, child_key in self._keys(key, spec, env, out, named):
                if group:
                    inner = spec["layers"]
                    items = list(inner.items()) if isinstance(inner, dict) else [(None, e) for e in inner]
                    for inner_key, inner_entry in items:
                        self._entry(inner_key, inner_entry, env_i, out, isinstance(inner, dict), None)
                else:
                    out.append((child_key, self._module(spec, env_i)))
        if names is not None and named and "{" not in str(key):
            made = [module for _, module in out[start:]]
            names[key] = made if (repeat is not None or group) else (made[0] if made else None)

    def _keys(self, key: Any, spec: dict[str, Any], env: dict[str, Any], out: list[Any], named: bool
              ) -> Iterator[tuple[dict[str, Any], Any]]:
        group = "type" not in spec
        repeat = spec.get("repeat")
        if repeat is None:
            yield env, (_pattern(key, env) if named and not group else len(out))
            return
        count, index, pattern = (repeat.get("count"), repeat.get("index", "i"), repeat.get("name")) \
            if isinstance(repeat, dict) else (repeat, "i", None)
        for i in range(value(count, env)):
            env_i = {**env, index: i}
            if not named or group:
                yield env_i, len(out)
            elif pattern is not None:
                yield env_i, _pattern(pattern, env_i)
            elif "{" in str(key):
                yield env_i, _pattern(key, env_i)
            else:
                yield env_i, f"{key}{i}"

    def _module(self, spec: dict[str, Any], env: dict[str, Any]) -> nn.Module:
        kind = spec["type"]
        if kind == "Sequential":
            inner = spec["layers"]
            children: list[tuple[Any, nn.Module]] = []
            items = list(inner.items()) if isinstance(inner, dict) else [(None, e) for e in inner]
            for inner_key, inner_entry in items:
                self._entry(inner_key, inner_entry, env, children, isinstance(inner, dict), None)
            if isinstance(inner, dict):
                return nn.Sequential(OrderedDict((str(k), m) for k, m in children))
            return nn.Sequential(*(m for _, m in children))
        args = {k: value(v, env) for k, v in spec.items() if k not in _SETTINGS}
        if isinstance(env.get(kind), str):  # a var naming a block stands for it
            kind = env[kind]
        if kind in self._program.blocks:
            return Ref(self._program, self._program.blocks[kind], args)
        return torch_layer(kind, args)

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        if not self.ready:
            self._build(self._bind(inputs))
        if not self.first_inputs:
            self.first_inputs = tuple(t.shape for t in inputs)
        if self._definition.sequential:
            (x,) = inputs
            for child in self.children():
                x = child(x)
            return x
        names = list(self._definition.inputs)
        text = f"def _forward({', '.join(names)}):\n" + "".join(
            textwrap.indent(step.rstrip("\n") + "\n", "    ") for step in self._definition.forward)
        scope: dict[str, Any] = {**FUNCTIONS, **self._env, **self._names}
        exec(compile(text, f"<reference {self._definition.name}>", "exec"), scope)  # the program's own forward
        result: torch.Tensor = scope["_forward"](*inputs)
        return result


def reference(program: Program, x: torch.Tensor) -> tuple[Ref, torch.Tensor] | Exception:
    """The program built and run in torch (eval mode), or what torch raised."""
    torch.manual_seed(0)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # lazy modules announce themselves
        try:
            module = Ref(program, program.root, {}).eval()
            out = module(x)
        except Exception as err:  # every torch refusal counts, whatever its type
            return err
    return module, out


def undetermined(module: nn.Module) -> bool:
    """A block or a lazy layer that is built but never called: torch never learns its input size, so the
    program does not say what the module is (netspec asks for the size: ``cannot-infer``)."""
    return any(isinstance(m, Ref) and not m.ready for m in module.modules()) or any(
        isinstance(p, nn.parameter.UninitializedParameter) for p in module.parameters())


def block_instances(module: nn.Module) -> Iterator[tuple[str, dict[str, Any], tuple[torch.Size, ...]]]:
    """(block, arguments, input shapes) of each block instance the reference built."""
    for m in module.modules():
        if isinstance(m, Ref) and m is not module and m.ready and m.first_inputs:
            args = {name: m._env[name] for name in m._definition.args}
            yield m._definition.name, args, m.first_inputs


# ---------------------------------------------------------------- drawing programs


class Drawer:
    """Draws one program: the root's ops from a menu, each block from its template when first needed."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.blocks: dict[str, Definition] = {}

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def block(self, name: str) -> str:
        if name not in self.blocks:
            self.blocks[name] = Definition(name, {})  # taken first: a template may use other blocks
            self.blocks[name] = getattr(self, f"block_{name.lower()}")()
        return name

    # -- blocks

    def block_res(self) -> Definition:
        """torchvision's BasicBlock: a downsample only where the stride or the width changes."""
        d = Definition("Res", {"x": ["N", "inp", "H", "W"]}, {"inp": "int", "out": "int", "stride": 1})
        mid = "out"
        if self.chance(0.3):
            d.vars["mid"] = self.rng.choice(["out * 2", "max(out // 2, 1)"])
            mid = "mid"
        d.ops.append(Op([("conv1", {"type": "Conv2d", "out_channels": mid, "kernel_size": 3, "stride": "stride",
                                    "padding": 1, "bias": False}), ("bn1", "BatchNorm2d")],
                        ["y = relu(bn1(conv1(x)))"]))
        d.ops.append(Op([("conv2", {"type": "Conv2d", "out_channels": "out", "kernel_size": 3, "padding": 1,
                                    "bias": False}), ("bn2", "BatchNorm2d")], ["y = bn2(conv2(y))"]))
        if self.chance(0.35):
            d.args["se_on"] = self.chance(0.3)
            d.ops.append(Op([("se", {"type": self.block("SE"), "if": "se_on"})], ["y = se(y) if se else y"]))
        cond = self.rng.choices(["stride != 1 or inp != out", "stride > 1 or out != inp", "stride != 1",
                                 "inp != out"], [6, 2, 1, 1])[0]
        down = {"if": cond, "type": "Sequential", "layers": [
            {"type": "Conv2d", "out_channels": "out", "kernel_size": 1, "stride": "stride", "bias": False},
            "BatchNorm2d"]}
        d.ops.append(Op([("down", down)], ["x = down(x) if down else x"]))
        d.ops.append(Op([], ["x = relu(y + x)"]))
        return d

    def block_se(self) -> Definition:
        """Squeeze-and-excitation, its width read off the input."""
        d = Definition("SE", {"x": ["N", "c", "H", "W"]}, {"c": "int", "r": self.rng.choice([2, 4])})
        d.vars["hidden"] = "max(c // r, 1)"
        d.ops.append(Op([("fc1", {"type": "Conv2d", "out_channels": "hidden", "kernel_size": 1}),
                         ("fc2", {"type": "Conv2d", "out_channels": "c", "kernel_size": 1})],
                        ["s = adaptive_avg_pool2d(x, 1)", "x = x * sigmoid(fc2(relu(fc1(s))))"]))
        return d

    def block_gate(self) -> Definition:
        """A gate whose width is no argument: nothing but an instance can say it."""
        d = Definition("Gate", {"x": ["N", "C", "H", "W"]})
        d.ops.append(Op([("g", {"type": "Conv2d", "out_channels": 1, "kernel_size": 1})],
                        ["x = x * sigmoid(g(x))"]))
        return d

    def block_dense(self) -> Definition:
        """DenseNet's block: a loop of concatenations, then a norm and a transition only when it has layers."""
        d = Definition("Dense", {"x": ["N", "inp", "H", "W"]},
                       {"inp": "int", "n": "int", "g": self.rng.choice([2, 4])})
        d.vars["total"] = "inp + n * g"
        wrong = self.chance(0.05)
        d.ops.append(Op([("convs", {"repeat": {"count": "n", "name": "layer{i + 1}"}, "type": "Conv2d",
                                    "in_channels": "inp + i * g" + (" + 1" if wrong else ""), "out_channels": "g",
                                    "kernel_size": 3, "padding": 1})],
                        ["for layer in convs: x = cat([x, layer(x)], 1)"]))
        if self.chance(0.7):
            d.ops.append(Op([("norm", {"type": "BatchNorm2d", "if": "n > 0"})], ["x = norm(x) if norm else x"]))
        if self.chance(0.6):
            d.ops.append(Op([("trans", {"type": "Conv2d", "out_channels": "inp", "kernel_size": 1, "if": "n > 0"})],
                            ["x = trans(x) if trans else x"]))
        return d

    def block_split(self) -> Definition:
        """Half the channels through a conv, the other half straight on (odd widths: chunk's uneven halves)."""
        d = Definition("Split", {"x": ["N", "c", "H", "W"]}, {"c": "int"})
        d.vars["half"] = "(c + 1) // 2"
        join = "x = cat([left(a), b], 1)" if self.chance(0.8) else "x = left(a) + b"
        d.ops.append(Op([("left", {"type": "Conv2d", "out_channels": "half", "kernel_size": 3, "padding": 1})],
                        ["a, b = chunk(x, 2, 1)", join]))
        return d

    def block_stage(self) -> Definition:
        """n rounds of a group whose children are named by patterns, run by a forward loop; or a Sequential."""
        d = Definition("Stage", {"x": ["N", "c", "H", "W"]}, {"c": "int", "n": 2})
        if self.chance(0.5):
            body = {"repeat": "n", "layers": {
                "conv{i}": {"type": "Conv2d", "out_channels": "c", "kernel_size": 3, "padding": 1},
                "act{i}": {"type": "ReLU", "if": "i < n - 1"}}}
            d.ops.append(Op([("body", body)], ["for layer in body: x = layer(x)"]))
        else:
            body_list = [{"type": "Conv2d", "out_channels": "c", "kernel_size": 3, "padding": 1, "repeat": "n"},
                         {"type": "BatchNorm2d", "if": "n > 0"}]
            d.ops.append(Op([("body", body_list)], ["x = body(x)"]))
        if self.chance(0.4):
            d.ops.append(Op([("post", {"type": "BatchNorm2d", "if": "n > 2"})], ["x = post(x) if post else x"]))
        if self.chance(0.3):  # a group switched as a whole, its own index name
            extra = {"if": "n > 1", "repeat": {"count": 2, "index": "j"}, "layers": {
                "extra{j}": {"type": "Conv2d", "out_channels": "c", "kernel_size": 1, "if": "j > 0 or n > 2"}}}
            d.ops.append(Op([("extras", extra)], ["for layer in extras: x = relu(layer(x))"]))
        return d

    def block_head(self) -> Definition:
        """A classifier head in a block: its Linear's in_features read off the input's width."""
        d = Definition("Head", {"x": ["N", "c", "H", "W"]}, {"c": "int", "k": "int", "hidden": 0})
        d.ops.append(Op([("pool", {"type": "AdaptiveAvgPool2d", "output_size": 1})], ["x = flatten(pool(x), 1)"]))
        d.ops.append(Op([("mid", {"type": "Linear", "out_features": "hidden", "if": "hidden > 0"})],
                        ["x = relu(mid(x)) if mid else x"]))
        d.ops.append(Op([("fc", {"type": "Linear", "out_features": "k"})], ["x = fc(x)"]))
        return d

    def block_convbn(self) -> Definition:
        """A block whose layers are a list: an nn.Sequential subclass, a ReLU only when asked."""
        d = Definition("ConvBN", {"x": ["N", "inp", "H", "W"]}, {"inp": "int", "out": "int", "act": True},
                       sequential=True)
        d.ops.append(Op([("conv", {"type": "Conv2d", "out_channels": "out", "kernel_size": 3, "padding": 1,
                                   "bias": False}), ("bn", "BatchNorm2d"), ("act", {"type": "ReLU", "if": "act"})],
                        []))
        return d

    def block_unit(self) -> Definition:
        """MobileNet's residual: an if statement in forward, a projection only where the shape changes."""
        d = Definition("Unit", {"x": ["N", "inp", "H", "W"]}, {"inp": "int", "oup": "int", "stride": 1})
        d.vars["use_res"] = "stride == 1 and inp == oup"
        d.ops.append(Op([("conv", {"type": "Conv2d", "out_channels": "oup", "kernel_size": 3, "stride": "stride",
                                   "padding": 1}),
                         ("proj", {"type": "Conv2d", "out_channels": "oup", "kernel_size": 1, "stride": "stride",
                                   "if": "not use_res"})],
                        ["if use_res:\n    x = x + conv(x)\nelse:\n    x = proj(x) + conv(x)\n"]))
        return d

    # -- the root

    def program(self) -> Program:
        rng = self.rng
        channels = rng.choice([3, 4, 8])
        size = rng.choice([6, 8, 12, 16])
        count = rng.randint(1, 3)
        if self.chance(0.45):
            widths = [rng.choice([4, 8])] * count  # no stage changes width: no downsample is built
        else:
            widths = sorted(rng.choice([4, 6, 8, 12]) for _ in range(count))
        root = Definition("Net", {"x": ["N", channels, size, size]})
        root.vars = {"widths": widths, "depth": rng.randint(1, 2), "use_se": self.chance(0.4),
                     "k": rng.choice([0, 0, 1, 2]), "classes": rng.randint(2, 6)}
        kernel = rng.choice([3, 3, 3, 5])
        root.ops.append(Op([("stem", {"type": "Conv2d", "out_channels": "widths[0]", "kernel_size": kernel,
                                      "stride": rng.choice([1, 1, 2]), "padding": rng.choice([kernel // 2, 0])}),
                            ("bn", "BatchNorm2d")], ["x = relu(bn(stem(x)))"]))
        self.root = root
        menu = [self.op_stages, self.op_se, self.op_gate, self.op_dense, self.op_split, self.op_stage,
                self.op_units, self.op_pool, self.op_side, self.op_convbn]
        weights = [5, 3, 1, 2, 2, 2, 2, 1, 1, 2]
        for _ in range(rng.randint(1, 4)):
            root.ops.append(rng.choices(menu, weights)[0](len(root.ops)))
        if self.chance(0.2):
            head = {"type": self.block("Head"), "k": "classes", "hidden": rng.choice([0, 0, 4])}
            root.ops.append(Op([("head", head)], ["x = head(x)"]))
        else:
            fc: dict[str, Any] = {"type": "Linear", "out_features": "classes"}
            if self.chance(0.25):  # right only where the last stage's width reaches the head
                fc["in_features"] = "widths[-1]"
            root.ops.append(Op([("pool", {"type": "AdaptiveAvgPool2d", "output_size": 1}), ("fc", fc)],
                               ["x = flatten(pool(x), 1)", "x = fc(x)"]))
        program = Program(root, self.blocks)
        if self.chance(0.2):
            base = dict(root.vars)
            base["depth"] = base["depth"] % 2 + 1
            base["use_se"] = not base["use_se"]
            program.base_vars = base
            used = program.used_blocks()
            if used and self.chance(0.5):  # the base file's block is another: the extending file's replaces it
                name = rng.choice(used)
                program.base_blocks = {name: replace(self.blocks[name], ops=self.blocks[name].ops[:1])}
        if self.chance(0.15):  # the file says otherwise; overrides (--set) give the program's values
            program.stale = {"depth": root.vars["depth"] % 2 + 1, "k": (root.vars["k"] + 1) % 3}
        return program

    def op_stages(self, n: int) -> Op:
        kind = self.block("Res")
        if self.chance(0.3):  # a var naming the block stands for the type
            self.root.vars["block"] = kind
            kind = "block"
        use: dict[str, Any] = {"type": kind, "out": "widths[s]", "stride": "2 if i == 0 and s > 0 else 1",
                               "repeat": "depth"}
        if self.chance(0.15):
            use["if"] = "s < 2 or depth > 1"
        stages = [{"repeat": {"count": "len(widths)", "index": "s"}, "layers": [use]}]
        return Op([(f"stages{n}", stages)], [f"x = stages{n}(x)"])

    def op_convbn(self, n: int) -> Op:
        uses = [{"type": self.block("ConvBN"), "out": "widths[-1]", "act": self.chance(0.6)},
                {"type": "ConvBN", "out": "widths[-1]", "repeat": "k", "act": "i > 0"}]
        return Op([(f"convbn{n}", uses)], [f"x = convbn{n}(x)"])

    def op_se(self, n: int) -> Op:
        return Op([(f"se{n}", {"type": self.block("SE"), "if": "use_se"})], [f"x = se{n}(x) if se{n} else x"])

    def op_gate(self, n: int) -> Op:
        return Op([(f"gate{n}", {"type": self.block("Gate"), "if": "use_se and k > 0"})],
                  [f"x = gate{n}(x) if gate{n} else x"])

    def op_dense(self, n: int) -> Op:
        return Op([(f"dense{n}", {"type": self.block("Dense"), "n": "k"})], [f"x = dense{n}(x)"])

    def op_split(self, n: int) -> Op:
        return Op([(f"split{n}", self.block("Split"))], [f"x = split{n}(x)"])

    def op_stage(self, n: int) -> Op:
        return Op([(f"stage{n}", {"type": self.block("Stage"), "n": self.rng.choice(["k", "depth", 0])})],
                  [f"x = stage{n}(x)"])

    def op_units(self, n: int) -> Op:
        group = {"repeat": "depth", "layers": {f"unit{n}_{{i}}": {"type": self.block("Unit"),
                                                                   "oup": "widths[-1]"}}}
        return Op([(f"units{n}", group)], [f"for layer in units{n}: x = layer(x)"])

    def op_pool(self, n: int) -> Op:
        del n
        return Op([], ["x = max_pool2d(x, 2)"])

    def op_side(self, n: int) -> Op:
        side = {"type": "Conv2d", "out_channels": "widths[-1]", "kernel_size": 1}
        return Op([(f"side{n}", side)], [f"x = x + side{n}(x)"])


def draw_programs(seed: int, count: int) -> Iterator[tuple[int, Program]]:
    for index in range(count):
        yield index, Drawer(random.Random(f"{seed}:{index}")).program()
