"""The Python API: validate, summary, compile_source, load.

Everything but :func:`load` and :func:`build_class` stays torch-free; those two
import :mod:`netspec.backend.build` when called.  Results of the pure stages are cached
by the spec's content, so loading the same spec again skips parse and codegen.

Every function takes the spec one of three ways: a path or a shipped spec's
name (``"specs/lenet.yaml"``, ``"lenet"``; see :mod:`netspec.frontend.shipped` for the
rule), a mapping (a config system's node, turned into YAML text), or the YAML
text itself as ``text=`` (:func:`loads` is ``load(text=...)``).  Diagnostics
name the file, ``<string>`` for text (or ``filename=``), ``<mapping>`` for a mapping.
"""

from __future__ import annotations

import dataclasses
import gc
import hashlib
import itertools
import json
import os
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path as FsPath
from typing import TYPE_CHECKING, Any, TypeGuard, cast

import yaml

from . import plugins as plugins_module
from .backend import codegen
from .backend.placement import DTYPE_NAMES, torch_device, torch_dtype
from .errors import Diagnostic, Path, Span, SpecError, short_repr
from .frontend import expand, schema, shipped, source
from .frontend.validate import validate_data
from .middle import ir, named_weights, resolve, shapes

if TYPE_CHECKING:
    from torch import nn

    from .backend.summary import COLUMNS, DEFAULT_COLUMNS, MemoryFigures, Summary

# The summary table's names, imported on first use: `netspec validate` never draws a table (start-up, issue 20).
_SUMMARY_NAMES = frozenset({"COLUMNS", "DEFAULT_COLUMNS", "MemoryFigures", "Summary"})


def __getattr__(name: str) -> Any:
    if name in _SUMMARY_NAMES:
        from .backend import summary as summary_table

        return getattr(summary_table, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

SpecPath = str | FsPath
# What every API function accepts as the spec: a path, a shipped name, or a mapping.
SpecLike = str | os.PathLike[str] | Mapping[str, Any]
# Plugins to load first (netspec/plugins.py): a .py file, a module name, "@entry-points", or a list of them.
Plugins = str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | None
TEXT_FILE = "<string>"
MAPPING_FILE = "<mapping>"


@dataclass(frozen=True)
class Compiled:
    """A spec taken through every pure stage."""

    inference: shapes.Inference
    digest: str  # sha256 of the spec text
    files: Mapping[str, str] = field(default_factory=dict)  # other files read (imports, extends): path -> text
    codegen_warnings: list[Diagnostic] = field(default_factory=list)  # what writing the source found
    # writes the source when first asked (``generated``): which root vars its class takes at any value is found
    # by inferring the spec again per var (codegen.Probe), which validate and summary never need
    generate: Callable[[], codegen.Generated] | None = field(default=None, repr=False, compare=False)

    @cached_property
    def generated(self) -> codegen.Generated:
        assert self.generate is not None
        return self.generate()

    @property
    def source_code(self) -> str:
        return self.generated.source

    @property
    def lineno_map(self) -> Mapping[int, codegen.Origin]:
        """Generated line number (1-based) -> the spec entry it was written from (codegen.Generated.lineno_map)."""
        return self.generated.lineno_map

    @property
    def name(self) -> str:
        return self.inference.model.name

    @property
    def warnings(self) -> list[Diagnostic]:
        return self.inference.warnings + self.codegen_warnings + shapes.budget_warning(self.inference)

    def locate(self, exc: BaseException) -> list[tuple[int, codegen.Origin]]:
        """Where ``exc`` went through this spec's generated source: for every traceback frame running it,
        outermost first, the generated line and the spec entry that line was written from (a layer or
        parameter at any depth, a var, a forward step, or a class as a whole)."""
        found = []
        tb = exc.__traceback__
        while tb is not None:
            frame = tb.tb_frame
            # build runs the source under a "<netspec:...>" file name, with the text in its globals
            ran = frame.f_globals.get("__netspec_source__")
            if frame.f_code.co_filename.startswith("<netspec:") and ran in (None, self.source_code):
                origin = self.lineno_map.get(tb.tb_lineno)
                if origin is not None:
                    found.append((tb.tb_lineno, origin))
            tb = tb.tb_next
        return found


def compile_spec(spec: SpecLike | None = None, *, text: str | None = None, filename: str | None = None,
                 overrides: Mapping[str, Any] | None = None,
                 search_path: Sequence[str | os.PathLike[str]] = (), plugins: Plugins = None,
                 config: str | os.PathLike[str] | None = None) -> Compiled:
    """Take a spec through every pure stage (no torch): the shape inference and the generated source.

    ``spec`` is a path, a shipped spec's name or a mapping; or pass the YAML
    ``text=`` instead.  ``filename`` names the text in diagnostics.  ``overrides``
    sets the spec's ``vars`` (``{"width": 64}``), as ``--set`` does; ``search_path``
    names directories its ``imports``/``extends`` may read besides its own.  ``plugins`` loads
    user layer types first (a ``.py`` file, a module name, ``"@entry-points"``, or a list of them;
    see docs/spec.md, "Plugins"); a plugin that cannot be loaded raises :class:`PluginError`.
    ``config`` names a Hugging Face ``config.json`` whose fields set the vars of the same names
    (:mod:`netspec.frontend.hf_config`; ``overrides`` win over it; docs/huggingface.md).
    """
    if plugins is not None:
        plugins_module.load_plugins([os.fspath(plugins)] if isinstance(plugins, (str, os.PathLike)) else
                                    [os.fspath(p) for p in plugins])
    body, file = spec_text(spec, text=text, filename=filename)
    overrides = expand.plain_overrides(overrides)  # plain data, bounded, before it keys the cache
    if config is not None:
        from .frontend import hf_config  # here: only a --config reads a Hugging Face config.json

        overrides = hf_config.spec_overrides(config, body, file, search_path, overrides)
    return _compile_text(body, file, overrides, search_path)


def compile_string(text: str, file: str = "<spec>") -> Compiled:
    """:func:`compile_spec` of YAML text held in memory, named ``file`` in diagnostics."""
    return _compile_text(text, file)


def spec_text(spec: SpecLike | None = None, *, text: str | None = None,
              filename: str | None = None) -> tuple[str, str]:
    """The spec's YAML text and the file name its diagnostics carry."""
    if (spec is None) == (text is None):
        raise TypeError("pass either a spec (a path, a shipped name or a mapping) or text=, not both or neither")
    if text is not None:
        if not isinstance(text, str):
            raise TypeError(f"text= takes the YAML text as a str, got {type(text).__name__}")
        return text, filename or TEXT_FILE
    if isinstance(spec, Mapping):
        return mapping_text(spec), filename or MAPPING_FILE
    if not isinstance(spec, (str, os.PathLike)):
        raise TypeError(f"a spec is a path, a shipped spec's name or a mapping, got {type(spec).__name__}")
    path = shipped.resolve(spec)  # a file on disk wins; else a shipped name
    # Read, do not parse: a spec seen before is answered from the cache without parsing.
    return source.read_text(path), filename or (os.fspath(spec) if path == FsPath(spec) else str(path))


def list_specs() -> list[str]:
    """The names of the specs netspec ships, sorted (``netspec list``); each loads by name: ``load("lenet")``."""
    return list(shipped.shipped())


def mapping_text(spec: Mapping[str, Any]) -> str:
    """A mapping as YAML text, keys in their order, so it takes the same path as a file."""
    try:
        return yaml.safe_dump(_plain(spec, 0, [source.MAX_NODES]), sort_keys=False, allow_unicode=True,
                              width=2**20)
    except yaml.YAMLError as exc:  # RepresenterError: a value YAML has no plain spelling for
        found = exc.args[1] if len(exc.args) > 1 else exc
        raise _mapping_error("bad-type", f"the mapping holds {short_repr(found)}, which is not a plain value",
                             "use only mappings, lists, strings, numbers, booleans and null") from None


def _plain(value: Any, depth: int, budget: list[int]) -> Any:
    """Config nodes (OmegaConf's DictConfig, ListConfig...) as plain dicts and lists, which YAML can write: at most
    ``budget`` nodes in all, read as a YAML file's are (lists that share a sublist are walked once per use)."""
    if depth > source.MAX_DEPTH:  # also stops a mapping that contains itself
        raise _mapping_error("too-deep", f"the mapping is nested deeper than {source.MAX_DEPTH} levels")
    if not isinstance(value, Mapping) and (not isinstance(value, Sequence) or isinstance(value, (str, bytes))):
        return value
    try:
        items = list(itertools.islice(value.items() if isinstance(value, Mapping) else value, budget[0] + 1))
    except Exception as exc:  # a config node that cannot be read (OmegaConf's ???): the user's object raised
        raise _mapping_error("bad-value", f"cannot read the mapping: {type(exc).__name__}: {str(exc)[:120]}") \
            from None
    budget[0] -= len(items)
    if budget[0] < 0:
        raise _mapping_error("too-large", f"the mapping holds more than {source.MAX_NODES:,} nodes")
    if isinstance(value, Mapping):
        return {key: _plain(item, depth + 1, budget) for key, item in items}
    return [_plain(item, depth + 1, budget) for item in items]


def _mapping_error(code: str, message: str, hint: str | None = None) -> SpecError:
    return SpecError([Diagnostic(code, message, Span(MAPPING_FILE, 0, 0), hint=hint)])


# What a cached result read besides the spec's own text: the directories its imports may read from and
# every import path it resolved (as written, the importing file, the real path found).
_Reads = tuple[tuple[str, ...], tuple[tuple[str, str, str], ...]]
_Key = tuple[str, str, str, tuple[str, ...], schema.Grammar]  # text, file, overrides, search path, plugins loaded
_CACHE: OrderedDict[_Key, tuple[Compiled, _Reads]] = OrderedDict()
_CACHE_SIZE = 64
_CACHE_LOCK = threading.Lock()


def _compile_text(text: str, file: str, overrides: Mapping[str, Any] | None = None,
                  search_path: Sequence[str | os.PathLike[str]] = ()) -> Compiled:
    """Every pure stage, cached by the content of every file involved, the overrides and the plugins loaded."""
    key = _cache_key(text, file, overrides, search_path)
    with _CACHE_LOCK:
        hit = _CACHE.get(key)
    if hit is not None and _unchanged(hit[0].files, hit[1]):
        with _CACHE_LOCK:
            if key in _CACHE:
                _CACHE.move_to_end(key)
        return hit[0]
    compiled, reads = _compile_fresh(text, file, overrides, search_path)
    with _CACHE_LOCK:
        _CACHE[key] = (compiled, reads)
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return compiled


def _cache_key(text: str, file: str, overrides: Mapping[str, Any] | None,
               search_path: Sequence[str | os.PathLike[str]]) -> _Key:
    return (text, file, _overrides_key(overrides), tuple(os.fspath(p) for p in search_path),
            schema.grammar())  # one per registry: the plugins loaded


def _compile_fresh(text: str, file: str, overrides: Mapping[str, Any] | None,
                   search_path: Sequence[str | os.PathLike[str]]) -> tuple[Compiled, _Reads]:
    with gc_paused():
        src = source.load_text(text, file)
        reader = expand.reader_for(file, [os.fspath(p) for p in search_path])
        src = expand.expand(src, reader, overrides)
        spec = validate_data(src)
        program = resolve.resolve(spec, src)
        inference = shapes.infer(program)
        try:  # what writing the classes finds (a block's cannot-infer, its warnings) is said now
            prepared = codegen.prepare(inference)
        except codegen.CodegenError as exc:
            raise SpecError([exc.diagnostic]) from None
    files = {path: body for path, body in reader.files.items() if path != os.path.realpath(file)}
    probe = _prober(text, file, overrides, search_path)
    return (Compiled(inference, hashlib.sha256(text.encode()).hexdigest(), files, prepared.warnings,
                     lambda: _generated(prepared, probe)),
            (reader.roots, tuple(reader.located)))


def _generated(prepared: codegen.Prepared, probe: codegen.Probe) -> codegen.Generated:
    """The source, written when first asked: a pure stage like the others, with the collector paused as theirs."""
    with gc_paused():
        return prepared.generated(probe)


def _prober(text: str, file: str, overrides: Mapping[str, Any] | None,
            search_path: Sequence[str | os.PathLike[str]]) -> codegen.Probe:
    """The spec inferred with some vars set otherwise, or None where that fails: codegen checks with it which vars
    the root class can take as constructor arguments (the same class must serve both)."""
    def probe(values: dict[str, Any]) -> shapes.Inference | None:
        try:
            src = expand.expand(source.load_text(text, file), expand.reader_for(file, [os.fspath(p) for p in
                                                                                        search_path]),
                                {**(overrides or {}), **values})
            return shapes.infer(resolve.resolve(validate_data(src), src))
        except SpecError:
            return None
    return probe


def _overrides_key(overrides: Mapping[str, Any] | None) -> str:
    if not overrides:
        return ""
    return json.dumps({str(k): v for k, v in overrides.items()}, sort_keys=True, default=repr)


def _unchanged(files: Mapping[str, str], reads: _Reads) -> bool:
    """Whether a fresh compile would read the same imported files, holding the same text: every import
    resolved again and every file re-read with the checks a fresh compile makes (inside the fence, no
    link, no FIFO or device, the file actually opened checked), never a blocking open."""
    if not files and not reads[1]:
        return True
    roots, located = reads
    return expand.Reader(roots).unchanged(located, files)


def cache_clear() -> None:
    """Forget every compiled spec (tests, or a long-running process that edits specs in place)."""
    with _CACHE_LOCK:
        _CACHE.clear()


def cache_discard(*, text: str, filename: str | None = None) -> None:
    """Forget the compile of ``text`` as ``compile_spec(text=text, filename=filename)`` made it. The language
    server discards each text its documents stop keeping, so an editing session holds a few compiles, not those of
    its last 64 keystrokes (4 MB each on a 1,000-layer spec). netspec's tools, not the public API."""
    key = _cache_key(text, filename or TEXT_FILE, expand.plain_overrides(None), ())
    with _CACHE_LOCK:
        _CACHE.pop(key, None)


@contextmanager
def gc_paused() -> Iterator[None]:
    """The pure stages build many small objects and no garbage cycles worth collecting;
    the cyclic collector's passes over them cost a third of the time on large specs.

    The collector is the process's: the first compile to start turns it off and the last one to finish
    restores what the first found, counted under a lock, so threads compiling at once never turn it
    back on under one another, nor leave it off. The language server holds it around a whole answer (netspec's
    tools, not the public API: not in ``__all__``)."""
    with _GC_PAUSE.lock:
        if _GC_PAUSE.count == 0:
            _GC_PAUSE.was_enabled = gc.isenabled()
            gc.disable()
        _GC_PAUSE.count += 1
    try:
        yield
    finally:
        with _GC_PAUSE.lock:
            _GC_PAUSE.count -= 1
            if _GC_PAUSE.count == 0 and _GC_PAUSE.was_enabled:
                gc.enable()


@dataclass
class _GcPause:
    """How many compiles have the collector paused, and whether it was on before the first."""

    count: int = 0
    was_enabled: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)


_GC_PAUSE = _GcPause()


def validate(spec: SpecLike | None = None, *, text: str | None = None, filename: str | None = None,
             overrides: Mapping[str, Any] | None = None,
             search_path: Sequence[str | os.PathLike[str]] = (), plugins: Plugins = None,
             config: str | os.PathLike[str] | None = None) -> list[Diagnostic]:
    """Check a spec completely (grammar, names, shapes); return its warnings or raise SpecError.

    >>> netspec.validate("lenet")                      # a shipped spec, by name
    >>> netspec.validate(text=yaml_text)               # diagnostics say <string>:LINE:COL
    """
    return compile_spec(spec, text=text, filename=filename, overrides=overrides, search_path=search_path,
                        plugins=plugins, config=config).warnings


def compile_source(spec: SpecLike | None = None, *, text: str | None = None, filename: str | None = None,
                   overrides: Mapping[str, Any] | None = None,
                   search_path: Sequence[str | os.PathLike[str]] = (), plugins: Plugins = None,
                   config: str | os.PathLike[str] | None = None) -> str:
    """The generated Python source of the spec's module: what ``netspec compile`` prints."""
    return compile_spec(spec, text=text, filename=filename, overrides=overrides,
                        search_path=search_path, plugins=plugins, config=config).source_code


def build_class(spec: SpecLike | None = None, *, text: str | None = None, filename: str | None = None,
                overrides: Mapping[str, Any] | None = None,
                search_path: Sequence[str | os.PathLike[str]] = (), plugins: Plugins = None,
                config: str | os.PathLike[str] | None = None) -> type[nn.Module]:
    """The spec's ``nn.Module`` class, built from the generated source (imports torch)."""
    from .backend import build

    compiled = compile_spec(spec, text=text, filename=filename, overrides=overrides, search_path=search_path,
                            plugins=plugins, config=config)
    try:
        return build.make_class(compiled.source_code, compiled.name)
    except Exception as exc:  # the API raises SpecError only; this is a netspec bug, located as well as it can be
        raise build_failure(compiled, exc) from exc


def loads(text: str, *, filename: str = TEXT_FILE, device: Any = None, dtype: Any = None,
          max_params: int | None = None, plugins: Plugins = None) -> nn.Module:
    """:func:`load` from YAML text, as :func:`json.loads` is to :func:`json.load`.

    >>> model = netspec.loads(yaml_text, device="cpu")
    """
    return load(text=text, filename=filename, device=device, dtype=dtype, max_params=max_params, plugins=plugins)


def load(spec: SpecLike | None = None, *, text: str | None = None, filename: str | None = None,
         device: Any = None, dtype: Any = None, max_params: int | None = None,
         overrides: Mapping[str, Any] | None = None, search_path: Sequence[str | os.PathLike[str]] = (),
         plugins: Plugins = None, config: str | os.PathLike[str] | None = None,
         weights: str | os.PathLike[str] | None = None, **var_values: Any) -> nn.Module:
    """Build the spec's module directly on ``device`` in ``dtype``.

    ``spec`` is a path, a shipped spec's name (``"lenet"``, ``"specs/alexnet.yaml"``
    from any directory) or a mapping; ``text=`` takes YAML text instead.
    ``dtype`` is a floating ``torch.dtype`` or one of the names in
    :data:`DTYPE_NAMES` (``"float16"``, ``"half"``, ``"fp16"``...); ``device``
    anything ``torch.device`` takes.  A bad one raises ValueError naming what is
    accepted.  A model past ``max_params`` (default
    :data:`shapes.DEFAULT_MAX_PARAMS`) is refused before anything is allocated;
    ``device="meta"`` allocates nothing and is exempt, and so is a load with ``weights=`` (the
    checkpoint is the size asked for) unless ``max_params`` is given.

    Any other keyword sets one of the spec's ``vars``, as ``overrides=`` and
    ``--set`` do: ``netspec.load("resnet18", num_classes=10)``.

    ``config`` names a Hugging Face ``config.json`` read into the vars (overrides win over it), and
    ``weights`` the weights loaded strictly into the module built, every key and shape checked first, one
    diagnostic per mismatch: a PyTorch ``state_dict`` file (``.pt``/``.pth``, read weights-only), a
    ``.safetensors`` file or a sharded checkpoint's ``.index.json`` (the ``hf`` extra; docs/huggingface.md),
    or the name of weights the spec declares in ``weights:`` (``"IMAGENET1K_V2"``), read from torch.hub's
    cache and downloaded there first if absent (:mod:`netspec.backend.pretrained`; docs/spec.md, "Weights").

    >>> model = netspec.load("lenet.yaml", device="cuda", dtype="bf16")
    """
    from .backend import build

    device, dtype = torch_device(device), torch_dtype(dtype)
    if var_values:
        overrides = {**(overrides or {}), **var_values}
    if weights is not None and weights_name(weights) is None:  # a missing extra is said before any work
        from .backend import weights as checkpoint

        if not checkpoint.is_torch_file(os.fspath(weights)):
            checkpoint.require_safetensors(os.fspath(weights))
    compiled = compile_spec(spec, text=text, filename=filename, overrides=overrides, search_path=search_path,
                            plugins=plugins, config=config)
    entry = None if weights is None else named_entry(compiled, weights)
    if entry is not None:  # downloaded (or found in the cache) before anything is allocated
        from .backend import pretrained

        weights = pretrained.fetch(entry)
    unavailable = build.device_problem(device)
    if unavailable:  # the machine, not the spec: said before any layer is built
        raise SpecError([Diagnostic(
            "device-unavailable", f"device {str(device)!r} is not available on this machine: {unavailable}",
            Span(compiled.inference.model.source.file, 0, 0), (),
            f"build with device='cpu' (or no device) here, or on a machine where torch can use {str(device)!r}; "
            "the spec itself is fine")])
    if not build.is_meta(device) and not (weights is not None and max_params is None):
        # a checkpoint given is the size asked for: the budget guards against sizes written by mistake
        shapes.check_budget(compiled.inference, max_params)
    try:
        cls = build.make_class(compiled.source_code, compiled.name)
        module = build.instantiate(cls, device, dtype)
    except Exception as exc:  # whatever torch refuses that the static checks let through, at the spec's line
        raise build_failure(compiled, exc, device) from exc
    if weights is not None:
        from .backend import weights as checkpoint

        checkpoint.load_weights(module, weights, entry.renames if entry is not None else ())
    return module


def weights_name(weights: str | os.PathLike[str]) -> str | None:
    """``weights`` as the name of weights a spec declares (``IMAGENET1K_V2``: an identifier, no dot or slash),
    or None for a file's path."""
    text = os.fspath(weights)
    return text if isinstance(weights, str) and text.isidentifier() and text.isascii() else None


def named_entry(compiled: Compiled, weights: str | os.PathLike[str]) -> ir.NamedWeights | None:
    """The spec's entry ``weights`` names (None for a file's path), its vars checked against the model's;
    SpecError ``unknown-weights`` / ``weights-vars-mismatch``.  Torch-free."""
    name = weights_name(weights)
    if name is None:
        return None
    program = compiled.inference.program
    where = Span(compiled.inference.model.source.file, 0, 0)
    entry = program.weights.get(name)
    if entry is None:
        problem = named_weights.unknown_name(name, program.weights, compiled.name, where)
        if os.path.exists(name):  # a file without a suffix reads as a name
            problem = dataclasses.replace(problem, hint=f"to load the file '{name}', write its path: ./{name}")
        raise SpecError([problem])
    problems = named_weights.check_vars(entry, program.var_values, None)
    if problems:
        raise SpecError(problems)
    return entry


def weights_file(compiled: Compiled, weights: str | os.PathLike[str], progress: bool = False) -> str:
    """The file ``weights`` stands for: a named entry's file in torch.hub's cache (downloaded first if absent,
    its hash checked), or the path itself.  Imports torch for a named entry."""
    entry = named_entry(compiled, weights)
    if entry is None:
        return os.fspath(weights)
    from .backend import pretrained

    return pretrained.fetch(entry, progress)


def check_weights(compiled: Compiled, weights: str | os.PathLike[str], progress: bool = False) -> str:
    """Check ``weights`` against ``compiled``'s module built on the meta device (every key and shape, nothing
    allocated or copied), as :func:`load` would load them; the file read (a named entry's in torch.hub's
    cache, downloaded first if absent).  Imports torch."""
    from .backend import build

    entry = named_entry(compiled, weights)
    try:
        module = build.instantiate(build.make_class(compiled.source_code, compiled.name), torch_device("meta"))
    except Exception as exc:
        raise build_failure(compiled, exc) from exc
    if entry is not None:
        from .backend import pretrained

        return pretrained.load_named(module, entry, progress)
    from .backend import weights as checkpoint

    checkpoint.load_weights(module, weights)
    return os.fspath(weights)


def named_weights_of(spec: SpecLike | None = None, *, text: str | None = None, filename: str | None = None,
                     overrides: Mapping[str, Any] | None = None,
                     search_path: Sequence[str | os.PathLike[str]] = ()) -> dict[str, ir.NamedWeights]:
    """The weights a spec declares, by name (an alias maps to its target's entry): URL, file name, hash, the
    vars they were trained with, their renames, ``meta`` (transforms, metrics, num_params) and
    ``categories`` (the class names, in output order).  Torch-free.

    >>> netspec.named_weights("zoo/resnet50")["IMAGENET1K_V2"].meta["transforms"]["resize_size"]
    232
    """
    return dict(compile_spec(spec, text=text, filename=filename, overrides=overrides,
                             search_path=search_path).inference.program.weights)


def build_failure(compiled: Compiled, exc: BaseException, device: Any = None) -> SpecError:
    """A SpecError at the spec line of the entry whose constructor raised ``exc``.

    The generated source runs under a ``<netspec:...>`` file name: the deepest traceback frame
    in it gives the generated line, and :attr:`Compiled.lineno_map` the spec entry that line was
    written from, at any depth: a layer of the root or of a block's class, a child of a
    Sequential, a parameter, a block's var.
    """
    model = compiled.inference.model
    located = compiled.locate(exc)
    origin = located[-1][1] if located else None
    what, name, span = "module", "", model.source.span(())
    path: Path = ()
    if origin is not None:
        path, span = origin.path, origin.span
        if origin.kind in ("layer", "parameter"):
            what, name = origin.kind, f" '{origin.name}'"
    detail = (str(exc).strip().splitlines() or [""])[0][:300]
    on = getattr(device, "type", "cpu")
    hint = ("netspec's checks should have caught this first: please report the spec" if on in ("cpu", "meta") else
            f"if the spec builds with device='cpu', this is a limit of '{on}' in this PyTorch (a dtype or layer "
            "it lacks); else please report the spec")
    return SpecError([Diagnostic(
        "build-failed", f"PyTorch refused to build {what}{name}: {type(exc).__name__}: {detail}", span, path,
        hint)])


def explain(exc: BaseException, spec: SpecLike | None = None, *, text: str | None = None,
            filename: str | None = None, overrides: Mapping[str, Any] | None = None,
            search_path: Sequence[str | os.PathLike[str]] = (), plugins: Plugins = None,
            config: str | os.PathLike[str] | None = None) -> list[codegen.Origin]:
    """The spec entries an exception raised by the spec's module went through, outermost first: for every
    traceback frame in the generated source, the entry its line was written from (``str()`` of each is
    ``file:line:col: path``).  A failure in ``forward`` names the forward step (``forward.3``), inside a
    block's forward too; a failure while building names the layer or parameter.  Pure: torch not imported.

    >>> try:
    ...     model(x)
    ... except RuntimeError as exc:
    ...     print(*netspec.explain(exc, "lenet"), sep="\n")
    specs/lenet.yaml:21:5: forward.7
    """
    compiled = compile_spec(spec, text=text, filename=filename, overrides=overrides, search_path=search_path,
                            plugins=plugins, config=config)
    return [origin for _, origin in compiled.locate(exc)]


def summary(spec: SpecLike | nn.Module | None = None, *, text: str | None = None, filename: str | None = None,
            overrides: Mapping[str, Any] | None = None,
            search_path: Sequence[str | os.PathLike[str]] = (), batch: int = 1,
            dims: Mapping[str, int] | None = None, plugins: Plugins = None,
            config: str | os.PathLike[str] | None = None, inputs: Any = None, dtype: str | None = None) -> Summary:
    """Every layer's and op's output shape, parameter count and MACs, with totals and memory figures; torch is
    not imported.

    ``batch`` binds the batch dim ``N`` for the memory figures and ``batch_macs`` (MACs are per sample
    regardless); ``dims`` binds other symbolic dims (``{"H": 32, "W": 32}``) everywhere.  ``dtype`` (a spelling
    of :data:`DTYPE_NAMES`: ``"bf16"``...) gives the memory figures of the module built in that dtype.

    ``spec`` may also be any ``nn.Module``, with ``inputs=`` its forward's input shapes by parameter name
    (``{"x": ["N", 3, 224, 224]}``; a tensor gives a shape and a dtype; one shape alone is passed
    positionally): it runs once on the meta device with hooks, under FlopCounterMode, and gives the same
    table and figures (:mod:`netspec.backend.module_summary`; a forward that reads values runs for real).

    >>> print(netspec.summary("alexnet"))                # the table ``netspec summary`` prints
    >>> netspec.summary("alexnet").total_params
    46764746
    >>> netspec.summary("lenet").total_macs
    416520
    >>> netspec.summary(torchvision.models.resnet18(), inputs={"x": [1, 3, 224, 224]}).total_macs
    1814073344
    """
    if _is_module(spec):
        from .backend import module_summary

        if inputs is None:
            raise TypeError("summary of an nn.Module needs inputs=, e.g. inputs={'x': [1, 3, 224, 224]}")
        return module_summary.summarise_module(spec, inputs, batch=batch, dims=dims, dtype=dtype)
    if inputs is not None:
        raise TypeError("inputs= is for summary of an nn.Module; a spec declares its own inputs")
    return summarise(compile_spec(cast("SpecLike | None", spec), text=text, filename=filename, overrides=overrides,
                                  search_path=search_path, plugins=plugins, config=config), batch=batch, dims=dims,
                     dtype=dtype)


def _is_module(value: Any) -> TypeGuard[nn.Module]:
    """Whether ``value`` is an ``nn.Module``, asked without importing torch (a module means torch is loaded)."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(value, torch.nn.Module)


def summarise(compiled: Compiled, batch: int = 1, dims: Mapping[str, int] | None = None,
              dtype: str | None = None) -> Summary:
    """:func:`summary` of a spec already compiled (:mod:`netspec.backend.summary` draws it); ``dtype`` (a
    spelling of :data:`DTYPE_NAMES`: ``"bf16"``...) gives the memory figures of the module built in it."""
    name = DTYPE_NAMES.get(dtype.strip().lower().removeprefix("torch.")) if isinstance(dtype, str) else None
    if dtype is not None and name is None:
        raise ValueError(f"dtype={dtype!r} is not a floating-point dtype; use one of: {', '.join(DTYPE_NAMES)}")
    from .backend import summary as summary_table

    return summary_table.summarise(compiled.inference, compiled.warnings, batch, dims, name)


__all__ = ["COLUMNS", "DEFAULT_COLUMNS", "DTYPE_NAMES", "Compiled", "MemoryFigures", "SpecError", "SpecLike",
           "Summary", "build_class", "compile_source", "compile_spec", "compile_string", "explain", "list_specs",
           "load", "loads", "spec_text", "summarise", "summary", "torch_device", "torch_dtype", "validate"]
# a spec's `weights:` (docs/spec.md, "Weights")
__all__ += ["check_weights", "named_entry", "named_weights_of", "weights_file", "weights_name"]
