"""Random layer chains written twice: as a netspec spec and as plain PyTorch.

Shared by ``test_differential.py`` (netspec accepts a chain iff torch runs it,
with the same output shape) and ``test_symbolic.py`` (a chain's symbolic
output shape evaluates to the concrete one).

A chain is an input shape and a list of steps.  Each step carries its forward
step text, the layer it defines (if any) and a torch function that builds the
same layer *from the tensor it gets*, as a person writing the module by hand
would (``in_channels = x.shape[1]``).  So a step means the same thing wherever
it lands, and a failing chain can be shrunk by dropping steps.

Steps are drawn with the running torch tensor at hand, so most fit and some do
not: a chain ends at the first step torch refuses (an invalid case) or after a
random length (a valid one).
"""

from __future__ import annotations

import random
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

import netspec
from netspec.api import Compiled
from netspec.dims import Sym, Unbound
from netspec.errors import SpecError

TorchFn = Callable[[torch.Tensor], torch.Tensor]
MAX_ELEMENTS = 200_000  # a chain stops growing past this, to keep the run fast


@dataclass(frozen=True)
class Step:
    text: str  # the forward step, as it goes into the YAML list
    run: TorchFn
    layer: tuple[str, str] | None = None  # (name, YAML flow mapping)


@dataclass
class Chain:
    shape: tuple[int, ...]
    steps: list[Step] = field(default_factory=list)

    def yaml(self, dims: Sequence[int | str] | None = None) -> str:
        """The chain as a spec; ``dims`` replaces the input shape (symbols for some sizes)."""
        shape = ", ".join(str(d) for d in (self.shape if dims is None else dims))
        lines = ["netspec: 1", "name: Chain", "inputs:", f"  x: [{shape}]"]
        layers = [s.layer for s in self.steps if s.layer is not None]
        if layers:
            lines += ["layers:", *(f"  {name}: {body}" for name, body in layers)]
        lines += ["forward:", *(f"  - {s.text}" for s in self.steps)]
        return "\n".join(lines) + "\n"

    def without(self, index: int) -> Chain:
        return Chain(self.shape, self.steps[:index] + self.steps[index + 1 :])


def run_torch(chain: Chain, shape: Sequence[int] | None = None) -> torch.Tensor | Exception:
    """The chain's output on a real tensor in eval mode, or the exception torch raised."""
    torch.manual_seed(0)
    x = torch.randn(tuple(chain.shape if shape is None else shape))
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        try:
            for step in chain.steps:
                x = step.run(x)
        except Exception as err:  # every torch refusal counts, whatever its type
            return err
    return x


def _eval(module: nn.Module) -> TorchFn:
    module.eval()
    return module


# ---------------------------------------------------------------- drawing steps


class Drawer:
    """Draws one step at a time for a running tensor ``x``; names its layers l0, l1, ..."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.count = 0

    def name(self) -> str:
        self.count += 1
        return f"l{self.count - 1}"

    def draw(self, x: torch.Tensor) -> Step:
        kinds: list[tuple[Callable[[torch.Tensor], Step], int]] = [
            (self.conv, 6), (self.conv_transpose, 3), (self.pool, 5), (self.pool_op, 2), (self.adaptive, 2),
            (self.batch_norm, 2), (self.layer_norm, 2), (self.group_norm, 2), (self.upsample, 3),
            (self.flatten, 2), (self.unflatten, 2), (self.linear, 3), (self.one_key, 4), (self.method, 4),
            (self.residual, 3), (self.cat, 2),
        ]
        pick = self.rng.choices([k for k, _ in kinds], [w for _, w in kinds])[0]
        return pick(x)

    # -- helpers

    def spatial_n(self, x: torch.Tensor) -> int:
        """The n of an n-D layer: mostly the one the input fits (batched or not), sometimes any."""
        fits = [n for n in (1, 2, 3) if x.dim() in (n + 1, n + 2)]
        if fits and self.rng.random() < 0.9:
            return max(fits) if self.rng.random() < 0.8 else min(fits)
        return self.rng.choice((1, 2, 3))

    def ints(self, n: int, low: int, high: int) -> int | list[int]:
        """An int, or a list of n ints (the YAML and torch spellings agree)."""
        if n > 1 and self.rng.random() < 0.3:
            return [self.rng.randint(low, high) for _ in range(n)]
        return self.rng.randint(low, high)

    def dim(self, rank: int, extra: int = 0) -> int:
        """A dim index for a rank, occasionally out of range."""
        span = rank + extra
        if self.rng.random() < 0.05:
            return self.rng.choice((span, -span - 1))
        return self.rng.randint(-span, span - 1) if span > 0 else self.rng.choice((0, -1))

    def channels(self, x: torch.Tensor, at: int) -> int:
        return x.shape[at] if -x.dim() <= at < x.dim() else 1

    def layer(self, type_: str, args: Mapping[str, Any], build: Callable[[torch.Tensor], nn.Module],
              text: str | None = None, wrap: Callable[[str], str] | None = None,
              apply: Callable[[torch.Tensor, nn.Module], torch.Tensor] | None = None) -> Step:
        name = self.name()
        body = ", ".join([f"type: {type_}", *(f"{k}: {_yaml(v)}" for k, v in args.items())])

        def run(x: torch.Tensor) -> torch.Tensor:
            module = _eval(build(x))
            return module(x) if apply is None else apply(x, module)

        return Step(text or (wrap(name) if wrap else name), run, (name, "{" + body + "}"))

    # -- layers

    def conv(self, x: torch.Tensor) -> Step:
        n = self.spatial_n(x)
        r = self.rng
        args: dict[str, Any] = {"out_channels": r.choice((1, 2, 4, 6)), "kernel_size": self.ints(n, 1, 5)}
        if r.random() < 0.4:
            args["stride"] = self.ints(n, 1, 3)
        if r.random() < 0.4:
            args["padding"] = r.choice(("same", "valid")) if r.random() < 0.3 else self.ints(n, 0, 3)
        if r.random() < 0.25:
            args["dilation"] = self.ints(n, 1, 3)
        if r.random() < 0.2:
            args["groups"] = r.choice((1, 2, 3))
        if r.random() < 0.15:
            args["padding_mode"] = r.choice(("reflect", "replicate", "circular"))
        if r.random() < 0.05:
            args["in_channels"] = r.randint(1, 8)
        cls = getattr(nn, f"Conv{n}d")
        return self.layer(f"Conv{n}d", args, lambda t: cls(
            args.get("in_channels", self.channels(t, -n - 1)), **{k: v for k, v in args.items() if k != "in_channels"}))

    def conv_transpose(self, x: torch.Tensor) -> Step:
        n = self.spatial_n(x)
        r = self.rng
        args: dict[str, Any] = {"out_channels": r.choice((1, 2, 4)), "kernel_size": self.ints(n, 1, 4)}
        if r.random() < 0.5:
            args["stride"] = self.ints(n, 1, 3)
        if r.random() < 0.4:
            args["padding"] = self.ints(n, 0, 2)
        if r.random() < 0.3:
            args["output_padding"] = self.ints(n, 0, 2)
        if r.random() < 0.25:
            args["dilation"] = self.ints(n, 1, 2)
        if r.random() < 0.15:
            args["groups"] = r.choice((1, 2))
        cls = getattr(nn, f"ConvTranspose{n}d")
        return self.layer(f"ConvTranspose{n}d", args, lambda t: cls(self.channels(t, -n - 1), **args))

    def pool_args(self, n: int, kind: str) -> dict[str, Any]:
        r = self.rng
        args: dict[str, Any] = {"kernel_size": self.ints(n, 1, 4)}
        if r.random() < 0.5:
            args["stride"] = self.ints(n, 1, 3)
        if r.random() < 0.4:
            args["padding"] = self.ints(n, 0, 2)
        if kind == "Max" and r.random() < 0.25:
            args["dilation"] = self.ints(n, 1, 2)
        if r.random() < 0.4:
            args["ceil_mode"] = True
        if kind == "Avg" and r.random() < 0.2:
            args["count_include_pad"] = False
        return args

    def pool(self, x: torch.Tensor) -> Step:
        n = self.spatial_n(x)
        kind = self.rng.choice(("Max", "Avg"))
        args = self.pool_args(n, kind)
        cls = getattr(nn, f"{kind}Pool{n}d")
        return self.layer(f"{kind}Pool{n}d", args, lambda t: cls(**args))

    def pool_op(self, x: torch.Tensor) -> Step:
        n = self.spatial_n(x)
        kind = self.rng.choice(("max", "avg"))
        args = self.pool_args(n, kind.capitalize())
        fn = getattr(F, f"{kind}_pool{n}d")
        return Step(f"{kind}_pool{n}d: {_yaml(args)}", lambda t: fn(t, **args))

    def adaptive(self, x: torch.Tensor) -> Step:
        n = self.spatial_n(x)
        r = self.rng
        size: Any = r.randint(1, 4)
        if n > 1 and r.random() < 0.4:
            size = [r.choice((None, 1, 2, 3)) for _ in range(n)]
        cls = getattr(nn, f"AdaptiveAvgPool{n}d")
        return self.layer(f"AdaptiveAvgPool{n}d", {"output_size": size}, lambda t: cls(_tuple(size)))

    def batch_norm(self, x: torch.Tensor) -> Step:
        n = self.spatial_n(x) if x.dim() != 2 else 1
        r = self.rng
        args: dict[str, Any] = {}
        if r.random() < 0.3:
            args["affine"] = False
        if r.random() < 0.3:
            args["track_running_stats"] = False
        if r.random() < 0.1:
            args["num_features"] = r.randint(1, 8)
        cls = getattr(nn, f"BatchNorm{n}d")
        return self.layer(f"BatchNorm{n}d", args, lambda t: cls(args.get("num_features", self.channels(t, 1)), **{
            k: v for k, v in args.items() if k != "num_features"}))

    def layer_norm(self, x: torch.Tensor) -> Step:
        r = self.rng
        args: dict[str, Any] = {}
        if r.random() < 0.5 and x.dim() > 0:
            k = r.randint(1, min(3, x.dim()))
            shape = list(x.shape[-k:])
            if r.random() < 0.1:
                shape[0] += 1
            args["normalized_shape"] = shape

        def build(t: torch.Tensor) -> nn.Module:
            return nn.LayerNorm(args.get("normalized_shape", self.channels(t, -1)))

        return self.layer("LayerNorm", args, build)

    def group_norm(self, x: torch.Tensor) -> Step:
        r = self.rng
        c = self.channels(x, 1)
        groups = r.choice([g for g in range(1, c + 1) if c % g == 0]) if r.random() < 0.9 else r.randint(1, 4)
        args: dict[str, Any] = {"num_groups": groups}
        if r.random() < 0.2:
            args["affine"] = False
        if r.random() < 0.1:
            args["num_channels"] = r.randint(1, 8)
        return self.layer("GroupNorm", args, lambda t: nn.GroupNorm(
            groups, args.get("num_channels", self.channels(t, 1)), affine=args.get("affine", True)))

    def upsample(self, x: torch.Tensor) -> Step:
        r = self.rng
        n = max(1, min(3, x.dim() - 2))
        args: dict[str, Any] = {}
        if r.random() < 0.7:
            args["scale_factor"] = r.choice((0.5, 1.5, 2.0, 3.0, 0.3, 2.5))
        else:
            args["size"] = self.ints(n, 1, 9)
        modes = {1: "linear", 2: "bilinear", 3: "trilinear"}
        if r.random() < 0.3:
            args["mode"] = modes[n]
        return self.layer("Upsample", args, lambda t: nn.Upsample(**{
            k: _tuple(v) for k, v in args.items()}))

    def flatten(self, x: torch.Tensor) -> Step:
        args = {"start_dim": self.dim(x.dim()), "end_dim": self.dim(x.dim())} if self.rng.random() < 0.6 else {}
        return self.layer("Flatten", args, lambda t: nn.Flatten(**args))

    def unflatten(self, x: torch.Tensor) -> Step:
        r = self.rng
        dim = self.dim(x.dim())
        size = x.shape[dim] if -x.dim() <= dim < x.dim() else 6
        sizes = _split(r, size)
        if r.random() < 0.3:
            sizes[r.randrange(len(sizes))] = -1
        elif r.random() < 0.1:
            sizes[0] += 1
        return self.layer("Unflatten", {"dim": dim, "unflattened_size": sizes},
                          lambda t: nn.Unflatten(dim, tuple(sizes)))

    def linear(self, x: torch.Tensor) -> Step:
        out = self.rng.choice((1, 3, 5, 8))
        return self.layer("Linear", {"out_features": out}, lambda t: nn.Linear(self.channels(t, -1), out))

    # -- forward ops

    def one_key(self, x: torch.Tensor) -> Step:
        r = self.rng
        rank = x.dim()
        choice = r.randrange(8)
        if choice == 0:
            return Step("relu", F.relu)
        if choice == 1:
            start = self.dim(rank)
            return Step(f"flatten: {start}", lambda t: torch.flatten(t, start))
        if choice == 2:
            a, b = self.dim(rank), self.dim(rank)
            return Step(f"transpose: {{dim0: {a}, dim1: {b}}}", lambda t: torch.transpose(t, a, b))
        if choice == 3:
            d, keep = self.dim(rank), r.random() < 0.5
            return Step(f"mean: {{dim: {d}, keepdim: {str(keep).lower()}}}", lambda t: torch.mean(t, d, keep))
        if choice == 4:
            shape = _reshape_target(r, x)
            return Step(f"reshape: {shape}", lambda t: torch.reshape(t, shape))
        if choice == 5:
            dims = _permutation(r, rank)
            return Step(f"permute: {dims}", lambda t: torch.permute(t, dims))
        if choice == 6:
            d = self.dim(rank, 1)
            return Step(f"unsqueeze: {d}", lambda t: torch.unsqueeze(t, d))
        k = r.randint(1, 3)
        return Step(f"max_pool2d: {k}", lambda t: F.max_pool2d(t, k))

    def method(self, x: torch.Tensor) -> Step:
        r = self.rng
        rank = x.dim()
        choice = r.randrange(6)
        if choice == 0:
            shape = _reshape_target(r, x)
            spelled = ", ".join(map(str, shape)) if shape else "[]"
            return Step(f'"x.reshape({spelled})"', lambda t: t.reshape(shape))
        if choice == 1:
            dims = _permutation(r, rank)
            spelled = ", ".join(map(str, dims)) if dims else "[]"
            return Step(f'"x.permute({spelled})"', lambda t: t.permute(dims))
        if choice == 2:
            a, b = self.dim(rank), self.dim(rank)
            return Step(f'"x.transpose({a}, {b})"', lambda t: t.transpose(a, b))
        if choice == 3:
            d = self.dim(rank)
            return Step(f'"x.mean({d})"', lambda t: t.mean(d))
        if choice == 4:
            return Step('"x.reshape(-1)"', lambda t: t.reshape(-1))
        start = self.dim(rank)
        return Step(f'"x.flatten({start})"', lambda t: t.flatten(start))

    def residual(self, x: torch.Tensor) -> Step:
        """``x + l(x)``, mostly with a layer that keeps the shape so the add can work."""
        r = self.rng
        if x.dim() >= 3 and r.random() < 0.6:
            n = self.spatial_n(x)
            c, k = self.channels(x, -n - 1) if r.random() < 0.9 else r.choice((1, 2)), r.choice((1, 3))
            cls = getattr(nn, f"Conv{n}d")
            inner = self.layer(f"Conv{n}d", {"out_channels": c, "kernel_size": k, "padding": k // 2},
                               lambda t: cls(self.channels(t, -n - 1), c, k, padding=k // 2))
        elif x.dim() >= 1 and r.random() < 0.7:
            out = x.shape[-1] if r.random() < 0.9 else r.choice((1, 2))
            inner = self.layer("Linear", {"out_features": out}, lambda t: nn.Linear(self.channels(t, -1), out))
        else:
            inner = self.conv(x) if x.dim() >= 3 else self.linear(x)
        assert inner.layer is not None
        return Step(f'"x + {inner.layer[0]}(x)"', lambda t: t + inner.run(t), inner.layer)

    def cat(self, x: torch.Tensor) -> Step:
        r = self.rng
        inner = self.conv(x) if x.dim() >= 3 and r.random() < 0.6 else self.linear(x)
        assert inner.layer is not None
        d = self.dim(x.dim())
        return Step(f'"cat([x, {inner.layer[0]}(x)], {d})"', lambda t: torch.cat([t, inner.run(t)], d), inner.layer)


def _yaml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, list):
        return "[" + ", ".join(_yaml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_yaml(v)}" for k, v in value.items()) + "}"
    return str(value)


def _tuple(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def _split(rng: random.Random, size: int) -> list[int]:
    """A random factorisation of size into 1-3 factors."""
    factors = [size]
    for _ in range(rng.randint(0, 2)):
        last = factors[-1]
        divisors = [d for d in range(1, last + 1) if last % d == 0]
        d = rng.choice(divisors) if divisors else 1
        factors[-1:] = [d, last // d if d else 0]
    return factors


def _reshape_target(rng: random.Random, x: torch.Tensor) -> list[int]:
    total = x.numel()
    shape = _split(rng, total)
    if rng.random() < 0.4:
        shape[rng.randrange(len(shape))] = -1
    if rng.random() < 0.08:
        shape[0] += 1
    if total == 1 and rng.random() < 0.3:
        return []
    return shape


def _permutation(rng: random.Random, rank: int) -> list[int]:
    dims = list(range(rank))
    rng.shuffle(dims)
    dims = [d - rank if rng.random() < 0.3 else d for d in dims]
    if rng.random() < 0.08:
        dims = dims[:-1] if dims else [0]
    return dims


def draw_chain(rng: random.Random) -> Chain:
    """A chain that torch runs, or one that ends at the first step torch refuses."""
    rank = rng.choice((2, 3, 3, 4, 4, 4, 5))
    shape = tuple(rng.randint(1, 3) if i == 0 else rng.randint(1, 12 if rank < 5 else 7) for i in range(rank))
    if rank > 2:
        shape = (shape[0], rng.choice((1, 2, 3, 4)), *shape[2:])
    chain = Chain(shape)
    drawer = Drawer(rng)
    x = torch.randn(*shape)
    for _ in range(rng.randint(1, 6)):
        step = drawer.draw(x)
        chain.steps.append(step)
        result = run_torch(Chain(tuple(x.shape), [step]), tuple(x.shape))
        if isinstance(result, Exception):
            break
        x = result
        if x.numel() > MAX_ELEMENTS:
            break
    return chain


def draw_chains(seed: int, count: int) -> Iterator[tuple[int, Chain]]:
    for i in range(count):
        rng = random.Random(seed * 1_000_003 + i)
        yield i, draw_chain(rng)


# ---------------------------------------------------------------- evaluating symbolic dims


class Unevaluable(Exception):
    """A dim text holding a name the environment does not bind (an opaque, shortened symbol)."""


def evaluate(text: str, env: Mapping[str, int]) -> int | float:
    """The value of a symbolic dim's text: + - * // / and floor/ceil/min/max calls (netspec.dims.Sym, no eval)."""
    try:
        return Sym.parse(text).value(env)
    except Unbound as exc:
        raise Unevaluable(exc.args[0]) from None


SYMBOLS = ("N", "C", "H", "W", "D", "E")


def symbolic_dims(shape: Sequence[int], keep: Sequence[int]) -> list[int | str]:
    """The shape with every dim not in ``keep`` written as a symbol (N for dim 0, C for dim 1, ...)."""
    return [d if i in keep else SYMBOLS[i] for i, d in enumerate(shape)]


def env_for(shape: Sequence[int]) -> dict[str, int]:
    return {SYMBOLS[i]: d for i, d in enumerate(shape)}


def compile_chain(text: str) -> Compiled | SpecError:
    try:
        return netspec.compile_string(text, "chain.yaml")
    except SpecError as err:
        return err


def keep_options(rank: int) -> list[tuple[int, ...]]:
    """Which input dims stay numbers when a chain is written with symbols, tried in order: a layer that infers
    an argument (in_channels, in_features) needs its dim concrete (``symbolic-dim`` otherwise)."""
    return [(1,), (1, rank - 1), tuple(range(1, rank))]


def symbolic_compile(chain: Chain) -> tuple[list[int | str], Compiled] | str | None:
    """The chain compiled with symbols for its sizes: (input dims, result); a message when netspec refuses it
    for a reason other than an inferred argument; None when every option needs a concrete dim."""
    for keep in keep_options(len(chain.shape)):
        dims = symbolic_dims(chain.shape, keep)
        ours = compile_chain(chain.yaml(dims))
        if isinstance(ours, SpecError):
            if all(d.code == "symbolic-dim" for d in ours.errors):
                continue
            return f"symbolic reject: with input {dims}, netspec says\n{ours}"
        return dims, ours
    return None


def symbolic_mismatch(shape: Sequence[int | str], want: Sequence[int], env: Mapping[str, int]) -> str | None:
    """What is wrong with a symbolic shape evaluated at the sizes ``env``, when torch gives ``want``."""
    if len(shape) != len(want):
        return f"symbolic rank: netspec {tuple(shape)}, torch {tuple(want)}"
    for got, size in zip(shape, want, strict=True):
        try:
            value = got if isinstance(got, int) else evaluate(got, env)
        except Unevaluable:
            continue  # a shortened opaque symbol stands for a long text: nothing to evaluate
        if value != size:
            return f"symbolic value: {got!r} at {dict(env)} is {value}, torch gives {size} (shape {tuple(shape)})"
    return None
