"""User layer types: ``@netspec.layer`` and the loading of plugins the user names.

A plugin is the user's own Python code: a file (``--plugin layers.py``), a module
(``--plugin mypkg.layers``) or the installed packages that declare an entry point in
the group ``netspec.layers`` (``--plugin @entry-points``).  Nothing is loaded unless
the user names it on the command line or in ``plugins=[...]``; a spec can never name
code to import.  Importing this module does not import torch (the plugin's own code
does, and so does inferring shapes by running a module on the ``meta`` device).
"""

from __future__ import annotations

import importlib
import inspect
import keyword
import os
import re
import sys
import threading
import types
import typing
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from .frontend import schema
from .middle.names import RESERVED
from .ops import (
    LAYERS,
    REQUIRED,
    AnyInt,
    Arg,
    Bool,
    LayerType,
    Real,
    RegistryError,
    ShapeError,
    Tensor,
    dim_add,
    fmt_shape,
    publish,
    registry,
)
from .ops.annotations import StrictStr

ENTRY_POINT_GROUP = "netspec.layers"
ENTRY_POINTS = "@entry-points"  # the plugin name that loads every installed entry point of the group
FAMILY = "plugin"

ShapeRule = Callable[[dict[str, Any], list[tuple[Any, ...]]], Sequence[Any]]
MacsRule = Callable[[dict[str, Any], list[tuple[Any, ...]], tuple[Any, ...]], Any]

_LOCK = threading.RLock()  # one plugin loads at a time (what was loaded is kept by the registry: Registry.plugins)
# Symbolic dims bound to small sizes, three different bindings (primes, far apart): an output dim that
# stays put is a constant, one that moves with a symbol is that symbol plus a constant (H-2); anything
# else (H//2) cannot be named from the runs and asks for a shape rule.
_BINDINGS = ((41, 43, 47, 53, 59, 61, 67, 71), (73, 79, 83, 89, 97, 101, 103, 107),
             (109, 113, 127, 131, 137, 139, 149, 151))


class PluginError(Exception):
    """A plugin that cannot be loaded or registered: a usage error (the CLI exits 2)."""


def loaded() -> tuple[str, ...]:
    """The plugin layer types of the current registry, in order (part of every compile cache key)."""
    return tuple(name for name, kind in LAYERS.items() if kind.family == FAMILY)


def load_plugins(names: str | Iterable[str] | None) -> tuple[str, ...]:
    """Load each named plugin once (per registry: see :func:`netspec.ops.use_registry`): a ``.py`` file, a module,
    or ``@entry-points``."""
    if names is None:
        return loaded()
    for name in [names] if isinstance(names, str) else names:
        _load_one(os.fspath(name))
    return loaded()


def _load_one(name: str) -> None:
    with _LOCK:
        is_file = name.endswith(".py") or os.sep in name or "/" in name
        key = os.path.realpath(name) if is_file else name
        if key in registry().plugins:
            return
        if name == ENTRY_POINTS:
            from importlib.metadata import entry_points  # here: costly to import, and rarely needed

            for point in entry_points(group=ENTRY_POINT_GROUP):
                try:
                    point.load()
                except (RegistryError, PluginError) as exc:
                    raise PluginError(f"entry point '{point.name} = {point.value}' of group {ENTRY_POINT_GROUP}: "
                                      f"{exc}") from None
                except Exception as exc:
                    raise PluginError(f"entry point '{point.name} = {point.value}' of group {ENTRY_POINT_GROUP} "
                                      f"failed to load: {type(exc).__name__}: {exc}") from None
        elif is_file:
            _load_file(name, key)
        else:
            _load_module(name)
        publish(lambda current: current.with_plugin(key, name))


def _load_module(name: str) -> None:
    if not all(part.isidentifier() and not keyword.iskeyword(part) for part in name.split(".")):
        raise PluginError(f"plugin {name!r} is neither a .py file nor a module name (package.module)")
    try:
        importlib.import_module(name)
    except (RegistryError, PluginError) as exc:
        raise PluginError(f"plugin {name}: {exc}") from None
    except ImportError as exc:
        raise PluginError(f"cannot import plugin module {name!r}: {exc}") from None
    except Exception as exc:
        raise PluginError(f"plugin module {name!r} failed to import: {type(exc).__name__}: {exc}") from None


def _load_file(name: str, path: str) -> None:
    if not os.path.isfile(path):
        raise PluginError(f"plugin file not found: {name}")
    module_name = os.path.splitext(os.path.basename(path))[0]
    if not module_name.isidentifier() or keyword.iskeyword(module_name):
        raise PluginError(f"plugin file {name}: its name must be a Python module name (generated code imports "
                          f"it as one), not {module_name!r}")
    existing = sys.modules.get(module_name)
    if existing is not None:
        where = getattr(existing, "__file__", None)
        if where is not None and os.path.realpath(where) == path:
            return
        raise PluginError(f"plugin file {name}: a module named {module_name!r} is already imported "
                          f"(from {where or 'a built-in'}); rename the plugin file")
    import importlib.util

    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise PluginError(f"cannot load plugin file {name}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except (RegistryError, PluginError) as exc:
        del sys.modules[module_name]
        raise PluginError(f"plugin {name}: {exc}") from None
    except Exception as exc:
        del sys.modules[module_name]
        raise PluginError(f"plugin file {name} failed to import: {type(exc).__name__}: {exc}") from None


# ---------------------------------------------------------------- @netspec.layer


def layer(name: str | None = None, *, shape: ShapeRule | None = None, macs: MacsRule | None = None,
          summary: str = "") -> Callable[[type], type]:
    """Make an ``nn.Module`` subclass a layer type specs can name.

    ``shape(args, input_shapes) -> output shape`` is a static shape rule (dims are ints or symbol
    text such as ``"N"``); without one, netspec runs the module on the ``meta`` device at small sizes
    and the summary marks the row ``(meta)``.  ``macs(args, input_shapes, output_shape)`` counts
    multiply-accumulates (0 without one).  The arguments are the ``__init__`` parameters annotated
    ``int``, ``float``, ``bool`` or ``str`` (or ``X | None``); ``device`` and ``dtype`` parameters make
    the layer built directly on the model's device and dtype.
    """

    def decorate(cls: type) -> type:
        layer_name = name or cls.__name__
        if not isinstance(cls, type) or not any(base.__name__ == "Module" for base in cls.__mro__):
            raise PluginError(f"@netspec.layer({layer_name!r}) decorates {cls!r}, which is not an nn.Module class")
        if not layer_name.isidentifier() or keyword.iskeyword(layer_name) or layer_name.startswith("_"):
            raise PluginError(f"layer type name {layer_name!r} is not a Python identifier starting with a letter")
        if layer_name in RESERVED:
            raise PluginError(f"layer type name {layer_name!r} is a name generated code uses itself")
        if "." in cls.__qualname__ or "<" in cls.__qualname__:
            raise PluginError(f"layer type {layer_name}: class {cls.__qualname__} must be defined at module level, "
                              "so generated code can import it")
        args, factory = _signature_args(cls, layer_name)
        try:
            line = inspect.getsourcelines(cls)[1]
        except (OSError, TypeError):
            line = 0
        where = f"{cls.__module__}:{line} (class {cls.__qualname__})"
        meta = _MetaModule(cls, factory, args)
        kind = LayerType(
            name=layer_name, family=FAMILY, args=args, factory=factory,
            rule=_static_rule(layer_name, shape, args) if shape else meta.rule(layer_name),
            count=meta.count, macs=_macs_rule(macs, args) if macs else (lambda a, i, o: 0),
            summary=summary or (inspect.getdoc(cls) or "").split("\n")[0] or f"plugin layer {layer_name}",
            spelling=layer_name, import_line=f"from {cls.__module__} import {cls.__qualname__}",
            shape_source="" if shape else "meta")
        schema.add_layers([(kind, where)])
        cls.__netspec_layer__ = layer_name  # type: ignore[attr-defined]
        return cls

    return decorate


def _annotation(hint: Any, where: str) -> Any:
    if hint is inspect.Parameter.empty or hint is Any:
        return StrictStr | AnyInt | Real | Bool | None
    plain = {int: AnyInt, float: Real, bool: Bool, str: StrictStr}
    if hint in plain:
        return plain[hint]
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        members = typing.get_args(hint)
        inner = [m for m in members if m is not type(None)]
        if len(inner) == 1 and inner[0] in plain and len(members) == 2:
            return plain[inner[0]] | None
    raise PluginError(f"{where}: annotation {hint!r} is not one netspec can check; use int, float, bool or str "
                      "(or X | None)")


def _signature_args(cls: type, layer_name: str) -> tuple[tuple[Arg, ...], bool]:
    try:
        signature = inspect.signature(cls.__init__, eval_str=True)  # type: ignore[misc]
    except (NameError, TypeError, ValueError) as exc:
        raise PluginError(f"layer type {layer_name}: cannot read {cls.__qualname__}.__init__'s signature: "
                          f"{exc}") from None
    args: list[Arg] = []
    factory = False
    for i, param in enumerate(signature.parameters.values()):
        if i == 0 or param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue  # self, *args, **kwargs
        if param.name in ("device", "dtype"):
            factory = True
            continue
        if param.kind is param.POSITIONAL_ONLY:
            raise PluginError(f"layer type {layer_name}: positional-only parameter '{param.name}' cannot be "
                              "given by name")
        annotation = _annotation(param.annotation, f"layer type {layer_name}, argument '{param.name}'")
        default = REQUIRED if param.default is param.empty else param.default
        args.append(Arg(param.name, annotation, default))
    return tuple(args), factory


def _complete(args: dict[str, Any], declared: tuple[Arg, ...]) -> dict[str, Any]:
    """The arguments a constructor call gets: the written ones, defaults for the rest (no call arguments)."""
    done = {a.name: a.default for a in declared if a.default is not REQUIRED}
    done.update({k: v for k, v in args.items() if not k.startswith("__")})
    return done


def _static_rule(name: str, shape: ShapeRule, declared: tuple[Arg, ...]) -> Any:
    def rule(args: dict[str, Any], inputs: Sequence[Tensor]) -> tuple[Tensor, dict[str, Any]]:
        try:
            out = tuple(shape(_complete(args, declared), [x.shape for x in inputs]))
        except ShapeError:
            raise
        except Exception as exc:
            raise ShapeError(f"{name}'s shape rule refused {', '.join(fmt_shape(x.shape) for x in inputs)}: "
                             f"{exc}") from None
        if not all(isinstance(d, (int, str)) and not isinstance(d, bool) for d in out):
            raise ShapeError(f"{name}'s shape rule returned {out!r}, not a shape of ints and symbols")
        return Tensor(out, inputs[0].dtype if inputs else "float32"), {}

    return rule


def _macs_rule(macs: MacsRule, declared: tuple[Arg, ...]) -> Any:
    def rule(args: dict[str, Any], inputs: Sequence[Tensor], out: Any) -> Any:
        first = out[0] if isinstance(out, tuple) else out
        return macs(_complete(args, declared), [x.shape for x in inputs], first.shape)

    return rule


class _MetaModule:
    """Shapes and parameter counts of a plugin layer without a rule: the module built and run on ``meta``."""

    def __init__(self, cls: type, factory: bool, declared: tuple[Arg, ...]) -> None:
        self.cls = cls
        self.factory = factory
        self.declared = declared

    def build(self, args: dict[str, Any]) -> Any:
        import torch

        from .backend.build import SkipInitOnMeta

        values = _complete(args, self.declared)
        with SkipInitOnMeta(), torch.device("meta"):
            if self.factory:
                values.update(device="meta")
            return self.cls(**values)

    def count(self, args: dict[str, Any]) -> int:
        try:
            module = self.build(args)
        except Exception:
            return 0  # the rule reports the failure with its location
        return sum(p.numel() for p in module.parameters())

    def rule(self, name: str) -> Any:
        def infer(args: dict[str, Any], inputs: Sequence[Tensor]) -> tuple[Tensor, dict[str, Any]]:
            try:
                module = self.build(args)
            except Exception as exc:
                raise ShapeError(f"{name}({_call_text(_complete(args, self.declared))}) failed: "
                                 f"{type(exc).__name__}: {exc}") from None
            symbols = list(dict.fromkeys(d for x in inputs for d in x.shape if isinstance(d, str)))
            runs = []
            for binding in _BINDINGS if symbols else _BINDINGS[:1]:
                values = {s: binding[i % len(binding)] + 200 * (i // len(binding)) for i, s in enumerate(symbols)}
                runs.append((values, *self.run(module, name, inputs, values)))
            shape, dtype = runs[0][1], runs[0][2]
            if any(len(run[1]) != len(shape) for run in runs):
                raise ShapeError(f"{name}'s output rank changes with the input's symbolic sizes; give "
                                 "@netspec.layer a shape= rule", code="symbolic-dim")
            out: list[Any] = []
            for i in range(len(shape)):
                found = [run[1][i] for run in runs]
                if len(set(found)) == 1:
                    out.append(found[0])
                    continue
                offsets = {s: {size - run[0][s] for run, size in zip(runs, found, strict=True)} for s in symbols}
                match = [(s, offset.pop()) for s, offset in offsets.items() if len(offset) == 1]
                if not match:
                    raise ShapeError(f"{name}'s output dim {i} depends on the input's symbolic sizes in a way netspec "
                                     "cannot name from runs on the meta device", code="symbolic-dim",
                                     hint="give @netspec.layer a shape= rule, or give the input concrete sizes")
                out.append(_shifted(*match[0]))
            return Tensor(tuple(out), dtype), {}

        return infer

    def run(self, module: Any, name: str, inputs: Sequence[Tensor], values: dict[str, int]) -> tuple[Any, str]:
        import torch

        tensors = [torch.empty([d if isinstance(d, int) else values[d] for d in x.shape],
                               dtype=getattr(torch, x.dtype), device="meta") for x in inputs]
        try:
            with torch.no_grad():
                result = module(*tensors)
        except Exception as exc:
            raise ShapeError(f"{name} refused its input {', '.join(fmt_shape(x.shape) for x in inputs)} "
                             f"(run on the meta device): {type(exc).__name__}: {exc}") from None
        if not isinstance(result, torch.Tensor):
            raise ShapeError(f"{name} returned {type(result).__name__}, not a tensor; give @netspec.layer a "
                             "shape= rule")
        return tuple(int(d) for d in result.shape), str(result.dtype).removeprefix("torch.")


def _shifted(dim: str, offset: int) -> Any:
    """``dim`` plus ``offset``, folding a constant already there: ``H-2`` shifted by -4 is ``H-6``."""
    found = re.fullmatch(r"([A-Za-z_][A-Za-z0-9_]*)([+-][0-9]+)", dim)
    if found:
        return dim_add(found.group(1), int(found.group(2)) + offset)
    return dim_add(dim, offset)


def _call_text(args: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in args.items())
