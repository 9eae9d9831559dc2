"""The spec's grammar as pydantic-core validators: what ``netspec validate`` checks a spec with.

The grammar is written once, as pydantic models drawn from the registry (:mod:`netspec.frontend.models`, which
also gives the JSON Schema editors read).  Checking a spec needs none of pydantic's Python layer: pydantic
generates the grammar's core schema once per netspec version and plugin set, it is kept on disk as plain data
(JSON naming the few functions of :mod:`netspec.frontend.tags`, never code), and each process reads it and hands
it to ``pydantic_core.SchemaValidator``.  The validators make :class:`Node` s (plain attribute bags) where the
models would make model instances, so the stages after this one read a spec the same way.

A spec is first checked by the grammar narrowed to the layer types and ops it names (the same schema, the
layer and step unions left with fewer members, built in one pass); a spec it refuses is checked again by the
whole grammar, which reports the errors, so diagnostics never depend on the narrowing.
:mod:`netspec.frontend.validate` turns pydantic-core's errors into :class:`Diagnostic` s.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import sys
import threading
import weakref
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar

from .._version import __version__
from ..ops import OPS, REGISTRY, LayerType, Registry, publish, registry
from ..ops.init import INIT_ARGS, SIMPLE_INITS
from . import core
from .core import SchemaValidator
from .tags import (
    BARE,
    BLOCK,
    DTYPES,
    EXPR,
    FACTORIES,
    FUNCTIONS,
    GROUP,
    IDENTIFIER_PATTERN,
    LAYER_TAG,
    SEQUENCE,
    SEQUENTIAL,
    SPEC_VERSION,
    STEP_OPS,
    Expression,
    layer_tagger,
    looks_like_expression,
    step_tag,
)

if TYPE_CHECKING:
    from .models import ModelGrammar

__all__ = [
    "BARE", "BLOCK", "DTYPES", "GROUP", "IDENTIFIER_PATTERN", "INIT_ARGS", "SEQUENCE", "SEQUENTIAL", "SIMPLE_INITS",
    "SPEC_VERSION", "STEP_OPS", "ArgDecl", "BlockSpec", "BufferSpec", "Expression", "Grammar", "ListItem", "Node",
    "ParamDictSpec", "ParamItem", "ParamListSpec", "RepeatSpec", "Spec", "add_layers", "grammar", "json_schema",
    "json_schema_text", "looks_like_expression", "validate",
]

# The grammar is a snapshot of the registry: freezing it keeps the snapshot the only truth (a type added
# now would be named in did-you-mean hints yet refused by the grammar).
REGISTRY.freeze("netspec.frontend.schema")


# ---------------------------------------------------------------- what the validators make


class _NodeType(type):
    """The type of a Node class: its keys (``model_fields``) are known once its grammar is read."""

    _fields: dict[str, str | None]
    _nested: dict[str, int]
    _table: _ClassTable | None

    @property
    def model_fields(cls) -> Mapping[str, str | None]:
        """The keys of this mapping, in the grammar's order (each with its alias: ``if_`` is written ``if``)."""
        if not cls._fields and cls.__name__ in _FIXED_NAMES:
            grammar(REGISTRY)._load()  # the built-in grammar names every fixed class's keys
        return MappingProxyType(cls._fields)

    def nested_model(cls, name: str) -> type[Node] | None:
        """The Node class of key ``name`` where the grammar gives that key one mapping's type, else None."""
        index = cls._nested.get(name)
        return None if index is None or cls._table is None else cls._table[index]


class Node(metaclass=_NodeType):
    """A mapping of the spec as the grammar checked it: its keys as attributes, as a model instance has them
    (pydantic-core sets ``__dict__`` and the ``__pydantic_*__`` slots; no ``__init__`` runs)."""

    __slots__ = ("__dict__", "__pydantic_extra__", "__pydantic_fields_set__", "__pydantic_private__")
    _fields: ClassVar[dict[str, str | None]] = {}
    _nested: ClassVar[dict[str, int]] = {}
    _table: ClassVar[_ClassTable | None] = None

    @property
    def model_fields_set(self) -> set[str]:
        """The keys written in the spec (a default filled in is not one)."""
        return self.__pydantic_fields_set__  # type: ignore[no-any-return]

    @property
    def model_extra(self) -> dict[str, Any] | None:
        """The keys a mapping that allows any (a block's use) holds beyond its own."""
        return self.__pydantic_extra__  # type: ignore[no-any-return]

    def model_dump(self, *, exclude_unset: bool = False, by_alias: bool = False) -> dict[str, Any]:
        """Plain data: nested nodes as dicts (the keys written only, with ``exclude_unset``)."""
        fields = type(self)._fields
        written = self.__pydantic_fields_set__
        out = {(fields.get(name) or name) if by_alias else name: _dump(value, exclude_unset, by_alias)
               for name, value in self.__dict__.items() if not exclude_unset or name in written}
        out.update({k: _dump(v, exclude_unset, by_alias) for k, v in (self.__pydantic_extra__ or {}).items()})
        return out

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and self.__dict__ == other.__dict__ and \
            self.__pydantic_extra__ == other.__pydantic_extra__

    __hash__ = None  # type: ignore[assignment]

    if TYPE_CHECKING:  # a node's keys are the grammar's, known when it is read: to a type checker, any name

        def __getattr__(self, name: str) -> Any: ...

    def __repr__(self) -> str:
        items = [*self.__dict__.items(), *(self.__pydantic_extra__ or {}).items()]
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in items)})"


def _dump(value: Any, exclude_unset: bool, by_alias: bool) -> Any:
    if isinstance(value, Node):
        return value.model_dump(exclude_unset=exclude_unset, by_alias=by_alias)
    if isinstance(value, dict):
        return {k: _dump(v, exclude_unset, by_alias) for k, v in value.items()}
    if isinstance(value, list):
        return [_dump(v, exclude_unset, by_alias) for v in value]
    if isinstance(value, tuple):
        return tuple(_dump(v, exclude_unset, by_alias) for v in value)
    return value


# The nodes the later stages tell apart by class (resolve: `isinstance(value, RepeatSpec)`), one per model of the
# same name in netspec.frontend.models; every other model (a layer type's, an op's) gets a Node class per grammar.
class Spec(Node):
    """A netspec model spec, checked."""

    __slots__ = ()


class BlockSpec(Node):
    __slots__ = ()


class ArgDecl(Node):
    __slots__ = ()


class RepeatSpec(Node):
    __slots__ = ()


class ParamItem(Node):
    __slots__ = ()


class ListItem(ParamItem):
    __slots__ = ()


class ParamListSpec(Node):
    __slots__ = ()


class ParamDictSpec(Node):
    __slots__ = ()


class BufferSpec(Node):
    __slots__ = ()


_FIXED: dict[str, type[Node]] = {cls.__name__: cls for cls in (
    Spec, BlockSpec, ArgDecl, RepeatSpec, ParamItem, ListItem, ParamListSpec, ParamDictSpec, BufferSpec)}
_FIXED_NAMES = frozenset(_FIXED)


# ---------------------------------------------------------------- the core schema as data
#
# pydantic's core schema is dicts, lists and scalars, but for a few objects: model classes (`cls`), the functions
# of tags.FUNCTIONS and the grammar's layer tagger, and default factories.  As data each is a one-key mapping:
# {"$class": index into the class table}, {"$fn": name}, {"$factory": name}; a tuple is {"$tuple": [...]}.
# `metadata` and `serialization` (the JSON Schema's and the serialiser's, not the validator's) are left out.
# The definitions are kept as JSON texts by ref, so a narrowed grammar reads only those it reaches.

_FORMAT = 3
_DROPPED = frozenset({"metadata", "serialization"})


class _Encoder:
    """A core schema as data: :meth:`data` (JSON-able), with the class table of its models."""

    def __init__(self, tagger: Callable[[Any], Any]) -> None:
        self.tagger = tagger
        self.functions = {fn: name for name, fn in FUNCTIONS.items()} | {tagger: LAYER_TAG}
        self.factories = {fn: name for name, fn in FACTORIES.items()}
        self.index: dict[type, int] = {}
        self.classes: list[dict[str, Any]] = []

    def value(self, node: Any) -> Any:
        if isinstance(node, dict):
            if any(not isinstance(k, str) or k.startswith("$") for k in node):
                raise _NotData(f"a mapping with keys {list(node)[:3]}")
            return {k: self.value(v) for k, v in node.items() if k not in _DROPPED}
        if isinstance(node, list):
            return [self.value(v) for v in node]
        if isinstance(node, tuple):
            return {"$tuple": [self.value(v) for v in node]}
        if node is None or isinstance(node, (str, bool, int, float)):
            return node
        if isinstance(node, type) and hasattr(node, "model_fields"):
            return {"$class": self.model(node)}
        if node in self.factories:
            return {"$factory": self.factories[node]}
        if callable(node) and node in self.functions:
            return {"$fn": self.functions[node]}
        raise _NotData(f"{node!r} (add a function to netspec.frontend.tags.FUNCTIONS)")

    def model(self, cls: type) -> int:
        """The index of ``cls`` in the class table: its name, its keys with aliases, the models it holds."""
        if cls in self.index:
            return self.index[cls]
        self.index[cls] = len(self.classes)
        entry: dict[str, Any] = {"name": cls.__name__, "fixed": _fixed_name(cls), "fields": {}, "nested": {}}
        self.classes.append(entry)
        for name, info in cls.model_fields.items():  # type: ignore[attr-defined]
            entry["fields"][name] = info.alias if info.alias != name else None
            if isinstance(info.annotation, type) and hasattr(info.annotation, "model_fields"):
                entry["nested"][name] = self.model(info.annotation)
        return self.index[cls]


class _NotData(RuntimeError):
    """A core schema holding an object that is not data: kept in memory only, never cached."""


def _fixed_name(cls: type) -> str | None:
    for base in cls.__mro__:
        if base.__name__ in _FIXED_NAMES and base.__module__ == "netspec.frontend.models":
            return base.__name__
    return None


def _schema_data(models: ModelGrammar) -> dict[str, Any]:
    """The grammar's core schema as data (raises _NotData if it holds anything else)."""
    core = models.core_schema()
    encoder = _Encoder(models.tag)
    if core.get("type") == "definitions":
        root, definitions = core["schema"], core["definitions"]
    else:
        root, definitions = core, []
    data = {
        "root": encoder.value(root),
        "definitions": {d["ref"]: json.dumps(encoder.value(d), separators=(",", ":")) for d in definitions},
    }
    ops = {name: json.dumps(encoder.value(core), separators=(",", ":")) for name, core in
           models.op_core_schemas().items()}
    tag_models = {name: encoder.model(cls) for name, cls in models.tag_models.items()}
    layer_models = {name: encoder.model(cls) for name, cls in models.layer_models.items()}
    args = {key: json.dumps(encoder.value(core), separators=(",", ":")) for key, core in
            models.arg_core_schemas().items()}
    data |= {"classes": encoder.classes, "tag_models": tag_models, "layer_models": layer_models,
             "spec": encoder.model(models.spec), "ops": ops, "args": args}
    return data


class _Decoder:
    """Data back into a core schema for pydantic-core: names bound to tags.FUNCTIONS, classes to Nodes."""

    def __init__(self, classes: _ClassTable, tagger: Callable[[Any], Any],
                 keep: tuple[frozenset[str], frozenset[str]] | None) -> None:
        self.classes = classes
        self.functions = {**FUNCTIONS, LAYER_TAG: tagger}
        self.keep = keep  # the narrowed grammar's layer and step tags
        self.refs: list[str] = []

    def value(self, node: Any) -> Any:
        if isinstance(node, dict):
            if len(node) == 1:
                (key,) = node
                if key == "$class":
                    return self.classes[node[key]]
                if key == "$fn":
                    return self.functions[node[key]]
                if key == "$factory":
                    return FACTORIES[node[key]]
                if key == "$tuple":
                    return tuple(self.value(v) for v in node[key])
            kind = node.get("type")
            if kind == "definition-ref":
                self.refs.append(node["schema_ref"])
            elif kind == "tagged-union" and self.keep is not None:
                node = self.narrow(node)
            return {k: self.value(v) for k, v in node.items()}
        if isinstance(node, list):
            return [self.value(v) for v in node]
        return node

    def narrow(self, union: dict[str, Any]) -> dict[str, Any]:
        """The layer or step union left with the members the spec names (before its members are read)."""
        layers, steps = self.keep  # type: ignore[misc]
        found = union.get("discriminator")
        name = found.get("$fn") if isinstance(found, dict) else None
        if name == LAYER_TAG:
            return {**union, "choices": {t: s for t, s in union["choices"].items() if t in layers or t == BARE}}
        if name == "step_tag":
            return {**union, "choices": {t: s for t, s in union["choices"].items() if t in steps or t == EXPR}}
        return union


class _ClassTable:
    """One grammar's Node classes, each made when first named (a spec names a few of some 300)."""

    def __init__(self, table: list[dict[str, Any]]) -> None:
        self.table = table
        self.made: dict[int, type[Node]] = {}
        self._lock = threading.Lock()

    def __getitem__(self, index: int) -> type[Node]:
        found = self.made.get(index)
        if found is not None:
            return found
        with self._lock:  # one class per entry, whichever thread names it first
            found = self.made.get(index)
            if found is not None:
                return found
            entry = self.table[index]
            fixed = entry["fixed"]
            made: type[Node] = _FIXED[fixed] if fixed is not None else _NodeType(  # type: ignore[assignment]
                str(entry["name"]), (Node,), {"__slots__": ()})
            if fixed is None or not made._fields:  # a fixed class's keys are the same in every grammar: set once
                made._fields = {str(k): (None if v is None else str(v)) for k, v in entry["fields"].items()}
                made._nested = {str(k): int(v) for k, v in entry["nested"].items()}
                made._table = self
            self.made[index] = made
            return made


# ---------------------------------------------------------------- the cache on disk


def cache_dir() -> Path:
    """Where the grammar's core schema is kept: $NETSPEC_CACHE_DIR, else the user's cache directory."""
    found = os.environ.get("NETSPEC_CACHE_DIR")
    if found:
        return Path(found)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "netspec"


def _fingerprint(reg: Registry) -> str:
    """What the grammar is made from: netspec's version and its grammar and registry sources, pydantic's
    version, and each plugin layer type's arguments (a plugin set is a registry)."""
    digest = hashlib.sha256(f"{_FORMAT} {__version__} {core.__version__} {sys.version_info[:2]}".encode())
    digest.update(_pydantic_version())
    here = Path(__file__).resolve().parent
    for path in (here / "models.py", here / "tags.py", here / "schema.py", *sorted((here.parent / "ops").glob(
            "*.py"))):
        digest.update(path.name.encode())
        try:
            digest.update(path.read_bytes())
        except OSError:
            digest.update(b"?")
    for name, layer in reg.layers.items():
        if REGISTRY.layers.get(name) is not layer:
            digest.update(repr((name, layer.args, layer.bare_ok)).encode())
    return digest.hexdigest()


def _pydantic_version() -> bytes:
    """pydantic's version module as text, read without importing pydantic (its package costs every start-up
    ~10 ms): the models the core schema is generated from are pydantic's, so another pydantic makes another."""
    found = importlib.util.find_spec("pydantic")
    try:
        return Path(found.origin).with_name("version.py").read_bytes() if found and found.origin else b"?"
    except OSError:
        return b"?"


# The file: a first line of JSON (the root schema, the class table, the line of each definition, op and layer
# argument), then one line of JSON per definition, per op's arguments and per layer argument, so a narrowed grammar
# parses only the lines it reaches.
_TEXTS = ("definitions", "ops", "args")


def _read_cache(path: Path, fingerprint: str) -> dict[str, Any] | None:
    """The cached data, or None: missing, unreadable, another grammar's or not what this module writes."""
    try:
        lines = path.read_text(encoding="utf-8").split("\n")
        data = json.loads(lines[0])
        if not isinstance(data, dict) or data.get("fingerprint") != fingerprint or data.get("format") != _FORMAT:
            return None
        for key in _TEXTS:
            data[key] = {name: lines[int(line)] for name, line in data[key].items()}
    except (OSError, ValueError, UnicodeDecodeError, RecursionError, IndexError, TypeError, AttributeError):
        return None
    return data


_CACHE_FILES = 16


def _write_cache(path: Path, data: dict[str, Any]) -> None:
    """Written whole or not at all (a temporary file renamed); a cache that cannot be written is no error."""
    header = {key: value for key, value in data.items() if key not in _TEXTS}
    lines: list[str] = [""]
    for key in _TEXTS:
        header[key] = {}
        for name, text in data[key].items():
            header[key][name] = len(lines)
            lines.append(text)
    lines[0] = json.dumps(header, separators=(",", ":"))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        temporary.write_text("\n".join(lines), encoding="utf-8")
        os.replace(temporary, path)
        kept = sorted(path.parent.glob("grammar-*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in kept[_CACHE_FILES:]:  # other versions' and plugin sets' grammars: the newest few are kept
            old.unlink(missing_ok=True)
    except OSError:
        pass


# ---------------------------------------------------------------- one registry's grammar

_NARROWED_LIMIT = 8
Tags = tuple[frozenset[str], frozenset[str]]


class Grammar:
    """The grammar of one registry: its core schema (read once, from the cache or from the models) and the
    validators built from it, the whole grammar's and a few narrowed ones, each built once under the grammar's
    lock.  :func:`grammar` makes one per registry: a plugin makes a new registry, so a new grammar, and never
    changes this one, so a validation that started with it finishes with it."""

    def __init__(self, reg: Registry) -> None:
        self.registry = reg
        self.tag: Callable[[Any], str | None] = layer_tagger(reg.layers)
        self._lock = threading.RLock()
        self._data: dict[str, Any] | None = None
        self._classes = _ClassTable([])
        self._whole: SchemaValidator | None = None
        self._narrowed: dict[Tags, SchemaValidator] = {}
        self._cached = False
        self._lines: dict[tuple[str, str], SchemaValidator] = {}  # an op's arguments, a layer argument's type

    # -- reading the core schema

    def _load(self, fresh: bool = False) -> dict[str, Any]:
        with self._lock:
            if self._data is None or fresh:
                self._data = self._read(fresh)
                self._classes = _ClassTable(self._data["classes"])
                for index, entry in enumerate(self._data["classes"]):
                    if entry["fixed"] is not None:
                        self._classes[index]  # the fixed classes learn their keys now (model_fields)
            return self._data

    def _read(self, fresh: bool) -> dict[str, Any]:
        """The core schema as data: from the cache on disk, else made from the models (and cached)."""
        fingerprint = _fingerprint(self.registry)
        path = cache_dir() / f"grammar-{fingerprint[:40]}.json"
        data = None if fresh else _read_cache(path, fingerprint)
        if data is not None:
            self._cached = True
            return data
        self._cached = False
        from .models import model_grammar  # the models: only when the cache has no grammar of this registry

        data = _schema_data(model_grammar(self.registry))
        data |= {"format": _FORMAT, "fingerprint": fingerprint}
        _write_cache(path, data)
        return data

    def _validator(self, keep: Tags | None) -> SchemaValidator:
        """A validator (see :meth:`_build`); a cache whose data cannot be built is ignored, and written again."""
        with self._lock:
            data = self._load()
            try:
                return self._build(data, keep)
            except (KeyError, IndexError, TypeError, ValueError, AttributeError, core.SchemaError):
                if not self._cached:
                    raise
            return self._build(self._load(fresh=True), keep)

    def _build(self, data: dict[str, Any], keep: Tags | None) -> SchemaValidator:
        """A validator from the data, the layer and step unions narrowed to ``keep`` (None: the whole grammar):
        one pass over the root and the definitions it reaches."""
        decoder = _Decoder(self._classes, self.tag, keep)
        root = decoder.value(data["root"])
        texts: Mapping[str, str] = data["definitions"]
        definitions: list[Any] = []
        seen: set[str] = set()
        while decoder.refs:
            ref = decoder.refs.pop()
            if ref not in seen:
                seen.add(ref)
                definitions.append(decoder.value(json.loads(texts[ref])))
        schema = {"type": "definitions", "schema": root, "definitions": definitions} if definitions else root
        return SchemaValidator(schema)

    # -- the validators

    def whole(self) -> SchemaValidator:
        """The whole grammar's validator (from then on it is used alone)."""
        with self._lock:
            if self._whole is None:
                self._whole = self._validator(None)
            return self._whole

    @property
    def whole_built(self) -> bool:
        return self._whole is not None

    @property
    def narrowed_count(self) -> int:
        return len(self._narrowed)

    def narrowed(self, data: Any) -> SchemaValidator | None:
        """The grammar narrowed to what ``data`` names (see :meth:`used_tags`), or None: use the whole grammar."""
        with self._lock:
            if self._whole is not None:
                return None
            tags = self.used_tags(data)
            if tags is None:
                return None
            return self.narrowed_to(tags)

    def narrowed_to(self, tags: Tags) -> SchemaValidator | None:
        with self._lock:
            if tags not in self._narrowed:
                if len(self._narrowed) >= _NARROWED_LIMIT:
                    return None
                self._narrowed[tags] = self._validator(tags)
            return self._narrowed[tags]

    def used_tags(self, data: dict[str, Any]) -> Tags | None:
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
                if children is not None:  # most layers: a leaf
                    stack.extend(children.values() if isinstance(children, dict) else children
                                 if isinstance(children, list) else ())
            forward = definition.get("forward")
            steps |= {tag for tag in map(step_tag, forward if isinstance(forward, list) else ())
                      if tag not in (None, EXPR)}
        if not layers <= {*self.registry.layers, SEQUENTIAL, SEQUENCE, BLOCK, GROUP} or not steps <= set(STEP_OPS):
            return None
        return frozenset(layers), frozenset(steps)

    def validate(self, data: Any) -> Spec:
        """``data`` as a Spec, checked by the grammar narrowed to what it names, else by the whole grammar;
        raises pydantic-core's ValidationError (:mod:`netspec.frontend.validate` turns it into diagnostics)."""
        narrowed = self.narrowed(data) if isinstance(data, dict) else None
        if narrowed is not None:
            try:
                return narrowed.validate_python(data)  # type: ignore[no-any-return]
            except core.ValidationError:
                pass  # the whole grammar reports the errors, exactly as without the narrowing
        return self.whole().validate_python(data)  # type: ignore[no-any-return]

    def op_validator(self, name: str) -> SchemaValidator:
        """The validator of op ``name``'s arguments (built on first use)."""
        return self._line_validator("ops", name)

    def arg_validator(self, key: str) -> SchemaValidator:
        """The validator of a layer argument's own type, by ``layer.arg`` (a call keyword's: ``layer(arg)``), built
        on first use: what an argument written as an expression is checked with once its value is known."""
        return self._line_validator("args", key)

    def _line_validator(self, section: str, key: str) -> SchemaValidator:
        """A validator of one of the cache's lines (see _TEXTS), built once."""
        with self._lock:
            found = self._lines.get((section, key))
            if found is None:
                data = self._load()
                decoder = _Decoder(self._classes, self.tag, None)
                found = self._lines[section, key] = SchemaValidator(decoder.value(json.loads(data[section][key])))
            return found

    # -- what the error translation reads

    @property
    def spec(self) -> type[Node]:
        index: int = self._load()["spec"]
        return self._classes[index]

    @property
    def tag_models(self) -> Mapping[str, type[Node]]:
        """The Node classes by union tag and by model name (what an error's location names)."""
        data = self._load()
        return MappingProxyType({name: self._classes[i] for name, i in data["tag_models"].items()})

    @property
    def layer_models(self) -> Mapping[str, type[Node]]:
        data = self._load()
        return MappingProxyType({name: self._classes[i] for name, i in data["layer_models"].items()})

    def json_schema(self) -> dict[str, Any]:
        from .models import model_grammar  # pydantic's Python layer: only for the JSON Schema editors read

        return model_grammar(self.registry).json_schema()


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
            found = _GRAMMARS[reg] = Grammar(reg)
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
        grammar(new)._load()  # read now: a layer type the grammar cannot take is refused here, the registry unchanged
        return new

    return publish(change)


def validate(data: Any) -> Spec:
    """``data`` as a Spec, checked by the current registry's grammar (see :meth:`Grammar.validate`)."""
    return grammar().validate(data)


def _used_tags(data: dict[str, Any]) -> Tags | None:
    return grammar().used_tags(data)


def _narrowed_validator(layers: frozenset[str], steps: frozenset[str]) -> SchemaValidator:
    """A narrowed grammar's validator, built afresh (for tests: the cached ones are limited in number)."""
    return grammar()._validator((layers, steps))


def _whole_validator() -> SchemaValidator:
    return grammar().whole()


def arg_validator(layer_type: str, arg_name: str, call: bool = False) -> SchemaValidator:
    """The check of one argument's own type (``call``: a call keyword's) in the current registry's grammar."""
    return grammar().arg_validator(f"{layer_type}({arg_name})" if call else f"{layer_type}.{arg_name}")


def json_schema() -> dict[str, Any]:
    """The JSON Schema of the current registry's grammar (the plugins loaded so far included)."""
    return grammar().json_schema()


def json_schema_text() -> str:
    return json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"


# ---------------------------------------------------------------- the models' tables, read from the grammar

class _OpArgs:
    """An op's argument model as shape inference uses it: ``model_validate(arguments).model_dump()``."""

    def __init__(self, name: str) -> None:
        self.name = name

    def model_validate(self, value: Any) -> Node:
        return _BASE_GRAMMAR.op_validator(self.name).validate_python(value)  # type: ignore[no-any-return]


# Each op's argument check (for shapes' check of an op's constant arguments), by op name.
OP_ARG_MODELS: Mapping[str, _OpArgs] = MappingProxyType({name: _OpArgs(name) for name in OPS})


def __getattr__(name: str) -> Any:
    """The built-in grammar's tables of Node classes, by layer type and by tag: read on first use."""
    if name == "LAYER_MODELS":
        return _BASE_GRAMMAR.layer_models
    if name == "TAG_MODELS":
        return _BASE_GRAMMAR.tag_models
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
