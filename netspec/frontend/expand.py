"""Data -> data: a spec's ``extends`` and ``imports`` read in, and ``--set`` overrides applied.

Each file is parsed by :mod:`netspec.frontend.source` (safe YAML, every node located), and its nodes keep
their own file:line:col in the merged data, so an error inside an imported block points into the
file that holds it.  Imports are new attack surface, so reading is fenced in: a relative path,
resolved (links included) to a regular ``.yaml`` file under the importing spec's own directory or
a directory the user named; never an absolute path, never an escape through ``..`` or a symlink,
and a refused file is never opened, so no diagnostic can quote it.
"""

from __future__ import annotations

import errno
import itertools
import numbers
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path as FsPath
from typing import Any

from ..errors import Diagnostic, Path, Span, SpecError, did_you_mean, printable, short_repr
from . import files as files_mod
from . import shipped as shipped_mod
from . import source as source_mod
from .expr import MAX_ITEMS, MAX_LIST_DEPTH, ExprError, check_value
from .source import Source

MAX_FILES = 64  # spec files one spec may read, itself included
MAX_TOTAL_BYTES = 16 * 1024 * 1024
MERGED_KEYS = ("vars", "blocks")  # merged entry by entry by `extends`; every other key is replaced whole
SUFFIXES = (".yaml", ".yml")


@dataclass
class Reader:
    """Reads the files one spec needs, inside its allowed directories, remembering each one."""

    roots: tuple[str, ...]  # real paths of the directories imports may read from
    files: dict[str, str] = field(default_factory=dict)  # every file read: path -> text
    stack: list[str] = field(default_factory=list)  # the chain of files being expanded (cycles)
    # each file parsed and expanded once, however many specs import or extend it (a diamond of
    # imports would otherwise parse a shared 4 MiB base once per path to it)
    expanded: dict[str, Source] = field(default_factory=dict)
    # every path resolved: (as written, the importing file, its real path); the compile cache re-runs these
    located: list[tuple[str, str, str]] = field(default_factory=list)
    # each file's identity (st_dev, st_ino) -> the real path it was first read under: two names of one
    # file (a hard link) are one file, expanded once
    identities: dict[files_mod.FileId, str] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)  # real path -> the first real path of its file

    def locate(self, wanted: str, importer: str, span: Span, path: Path) -> str:
        """The real path of ``wanted`` written in ``importer``, or a SpecError at ``span``.  A name without
        ``.yaml`` is a shipped spec (``zoo/resnet18``), read from the package's own ``specs/``."""
        if not wanted.endswith(SUFFIXES):
            known = shipped_mod.shipped()
            name = shipped_mod.shipped_name(wanted)
            found = next((known[c] for c in (name, f"zoo/{name}") if name is not None and c in known), None)
            if found is None:
                raise _error("import-refused", f"expected a .yaml spec file or a shipped spec's name, found "
                             f"{short_repr(wanted)}", span, path, did_you_mean(wanted, known) or
                             "imports and extends name spec files by relative path (blocks.yaml) or shipped specs "
                             "by name (zoo/resnet18)")
            real = os.path.realpath(found)
            shipped_root = os.path.realpath(shipped_mod.specs_dir())
            if shipped_root not in self.roots:  # the package's own specs: read inside their own fence
                self.roots = (*self.roots, shipped_root)
            self.located.append((wanted, importer, real))
            return real
        if os.path.isabs(wanted) or wanted.startswith("~") or "\\" in wanted or "\x00" in wanted:
            raise _error("import-refused", f"expected a relative path, found {short_repr(wanted)}", span, path,
                         "write the path relative to the spec that imports it")
        bases = [os.path.dirname(importer)] if _on_disk(importer) else []
        bases += [root for root in self.roots if root not in bases]
        outside = False
        for base in bases:
            candidate = os.path.realpath(os.path.join(base, wanted))
            if not any(_inside(candidate, root) for root in self.roots):
                outside = True  # never asked whether it exists: the answer would tell what lies outside
                continue
            if os.path.exists(candidate):
                self.located.append((wanted, importer, candidate))
                return candidate
        if outside:
            raise _error("import-refused", f"{short_repr(wanted)} resolves outside the directories this spec may "
                         "read", span, path, "keep imported specs beside the spec, or name their directory with "
                         "--search-path (search_path= in Python)")
        raise _error("import-missing", f"cannot find {short_repr(wanted)}", span, path,
                     "the path is relative to the importing spec's directory")

    def read(self, real: str, span: Span, path: Path) -> Source:
        if real in self.stack:
            chain = " -> ".join(os.path.basename(f) for f in [*self.stack[self.stack.index(real):], real])
            raise _error("import-cycle", f"spec files import each other in a cycle: {chain}", span, path,
                         "move the shared blocks into a file that imports neither")
        if len(self.files) >= MAX_FILES and real not in self.files:
            raise _error("too-large", f"the spec reads more than {MAX_FILES} files", span, path)
        text = self.files.get(real)
        if text is None:
            text = self.read_text(real, span, path)
            if sum(map(len, self.files.values())) + len(text) > MAX_TOTAL_BYTES:
                raise _error("too-large", f"the spec and its imports hold more than "
                             f"{MAX_TOTAL_BYTES // 2**20} MiB", span, path)
            self.files[real] = text
        return source_mod.load_text(text, _display(real))

    def read_text(self, real: str, span: Span, path: Path) -> str:
        """The text of the file at ``real``, opened inside the fence (:func:`netspec.frontend.files.read_spec`: the
        file actually opened is checked, never a FIFO, never through a link), its identity recorded."""
        try:
            found = files_mod.read_spec(real, source_mod.MAX_BYTES + 1, self.roots)
        except files_mod.UnsafeFile as exc:
            if exc.errno == errno.EACCES:  # swapped for (or moved below) a link out of the fence
                raise _error("import-refused", "the imported file lies outside the directories this spec may "
                             "read", span, path, "keep imported specs beside the spec, or name their directory "
                             "with --search-path (search_path= in Python)") from None
            raise _error("import-refused", f"cannot import the file: {exc.strerror}", span, path) from None
        except OSError as exc:
            raise _error("import-missing", f"cannot read the file: {exc.strerror}", span, path) from None
        self.aliases[real] = self.identities.setdefault(found.ident, real)
        return source_mod.decode(found.data, _display(real))

    def unchanged(self, located: Sequence[tuple[str, str, str]], texts: Mapping[str, str]) -> bool:
        """Whether a fresh expansion would resolve every path in ``located`` to the same file and read
        ``texts`` again: the checks a fresh read makes, the fence included, never a blocking open."""
        span = Span("<cache>", 0, 0)
        try:
            for wanted, importer, real in located:
                if self.locate(wanted, importer, span, ()) != real:
                    return False
            return all(self.read_text(real, span, ()) == text for real, text in texts.items())
        except SpecError:
            return False


def reader_for(file: str, search_path: Sequence[str | FsPath] = ()) -> Reader:
    """The reader of a spec at ``file``: its own directory, then the directories the user named."""
    roots = [os.path.realpath(os.path.dirname(file) or ".")] if _on_disk(file) else []
    roots += [os.path.realpath(str(p)) for p in search_path]
    return Reader(tuple(dict.fromkeys(roots)))


def expand(src: Source, reader: Reader, overrides: Mapping[str, Any] | None = None) -> Source:
    """The spec with its base spec and imported blocks read in, and ``overrides`` set on its vars."""
    if _on_disk(src.file):
        reader.files.setdefault(os.path.realpath(src.file), src.text)
    merged = _expand_file(src, reader, os.path.realpath(src.file) if _on_disk(src.file) else src.file)
    if overrides:
        _override(merged, plain_overrides(overrides))
    return merged


def _expand_file(src: Source, reader: Reader, real: str) -> Source:
    if not isinstance(src.data, dict) or not ({"extends", "imports"} & src.data.keys()):
        return src
    reader.stack.append(real)
    try:
        merged = src
        base = src.data.get("extends")
        if isinstance(base, str):
            merged = _extend(src, _load(base, src, ("extends",), reader))
        imports = merged.data.get("imports")
        if isinstance(imports, list):
            for index, wanted in enumerate(imports):
                if isinstance(wanted, str):
                    _import_blocks(merged, _load(wanted, src, ("imports", index), reader), ("imports", index))
        return merged
    finally:
        reader.stack.pop()


def _load(wanted: str, importer: Source, path: Path, reader: Reader) -> Source:
    span = importer.span(path)
    real = reader.locate(wanted, importer.file, span, path)
    if real in reader.stack:
        reader.read(real, span, path)  # reports the cycle
    if real not in reader.expanded:
        read = reader.read(real, span, path)
        first = reader.aliases.get(real, real)
        if first != real and first in reader.expanded:  # another name of a file already read: one file
            reader.expanded[real] = reader.expanded[first]
        else:
            if first in reader.stack:
                reader.read(first, span, path)  # reports the cycle
            reader.expanded[real] = _expand_file(read, reader, real)
    return reader.expanded[real]


def _extend(child: Source, base: Source) -> Source:
    """``base`` with ``child``'s keys laid over it: vars and blocks entry by entry, the rest whole."""
    if not isinstance(base.data, dict):
        return child
    data = dict(base.data)
    spans = dict(base.spans)
    key_spans = dict(base.key_spans)
    for key, value in child.data.items():
        if key == "extends":
            continue
        if key in MERGED_KEYS and isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
            for name in value:
                _drop(spans, key_spans, (key, name))
        else:
            data[key] = value
            _drop(spans, key_spans, (key,))
    data.pop("extends", None)
    for table, own in ((spans, child.spans), (key_spans, child.key_spans)):
        table.update({p: s for p, s in own.items() if p[:1] != ("extends",)})
    others = {**base.others, base.file: base.text, **child.others}
    return Source(child.file, child.text, data, spans, key_spans, others)


def _drop(spans: dict[Path, Span], key_spans: dict[Path, Span], prefix: Path) -> None:
    for table in (spans, key_spans):
        for path in [p for p in table if p[: len(prefix)] == prefix]:
            del table[path]


def _import_blocks(into: Source, library: Source, where: Path) -> None:
    blocks = library.data.get("blocks") if isinstance(library.data, dict) else None
    if not isinstance(blocks, dict) or not blocks:
        raise _error("import-empty", f"{printable(library.file)} defines no blocks to import", into.span(where), where,
                     "imports bring in the `blocks:` of another spec")
    own = into.data.setdefault("blocks", {})
    if not isinstance(own, dict):
        return  # the grammar reports a `blocks:` that is not a mapping
    for name, block in blocks.items():
        if name in own:
            # one file reached along two paths (a imports b and c, both import d) is one definition:
            # the same block written at the same place of the same file
            written = into.key_spans.get(("blocks", name))
            if written is not None and written == library.key_spans.get(("blocks", name)):
                continue
            raise _error("duplicate-name", f"block '{name}' is defined here and in {printable(library.file)}",
                         into.span(where), where, "rename one of them, or drop the import")
        own[name] = block
    for table, theirs in ((into.spans, library.spans), (into.key_spans, library.key_spans)):
        table.update({p: s for p, s in theirs.items() if p[:1] == ("blocks",) and len(p) >= 2 and p[1] in blocks})
    into.others.update({**library.others, library.file: library.text})


OVERRIDES = Span("<overrides>", 0, 0)


def plain_overrides(overrides: Mapping[str, Any] | None) -> dict[str, Any]:
    """``overrides`` as a dict of plain values: any mapping of names to numbers, booleans, strings, None and
    sequences of them (a tuple, OmegaConf's ``ListConfig`` when Hydra passes one) becomes a dict of lists, read
    once, inside the bounds of a value written in a spec (items, depth: a list that holds itself is too deep),
    so every later stage, the compile cache's key included, sees plain data."""
    if overrides is None:
        return {}
    if not isinstance(overrides, Mapping):
        raise _error("bad-value", f"expected a mapping of var names to values, found a value of type "
                     f"{type(overrides).__name__!r}", OVERRIDES, (), "e.g. overrides={'num_classes': 10}")
    budget = [MAX_ITEMS]
    out: dict[str, Any] = {}
    for name, value in _read(overrides.items(), "the overrides", (), budget):
        if not isinstance(name, str):
            raise _error("unknown-var", f"expected a var's name, found {short_repr(name)}", OVERRIDES,
                         ("vars",), "var names are strings")
        out[name] = _plain_value(value, name, 0, budget)
    return out


def _plain_value(value: Any, name: str, depth: int, budget: list[int]) -> Any:
    path: Path = ("vars", name)
    if value is None or type(value) in (bool, int, float, str):
        return value
    if isinstance(value, str):  # a subclass (an enum's value...): the text itself
        return str.__str__(value)
    if isinstance(value, (numbers.Integral, numbers.Real)):  # an IntEnum, numpy's integers and floats, a Fraction
        try:
            return int(value) if isinstance(value, numbers.Integral) else float(value)
        except Exception as exc:  # the user's own number class raised
            raise _error("bad-value", f"cannot read '{name}': {_raised(exc)}", OVERRIDES, path) from None
    if isinstance(value, Sequence) and not isinstance(value, (bytes, bytearray, memoryview)):
        if depth >= MAX_LIST_DEPTH:  # also stops a list that holds itself
            raise _error("too-deep", f"cannot set '{name}': lists nest more than {MAX_LIST_DEPTH} deep",
                         OVERRIDES, path)
        return [_plain_value(item, name, depth + 1, budget) for item in _read(value, f"'{name}'", path, budget)]
    raise _error("bad-value", f"cannot set '{name}': expected a number, boolean, string, null or a list of them, "
                 f"found a value of type {type(value).__name__!r}", OVERRIDES, path,
                 "vars hold numbers, booleans, strings and lists of them")


def _read(items: Iterable[Any], what: str, path: Path, budget: list[int]) -> list[Any]:
    """The items of a user's container, read once and at most ``budget`` of them in all (a ``range(10**9)`` is
    a sequence too).  A config object may fail when read (OmegaConf's missing value ``???``, an interpolation
    that cannot be resolved): that is a diagnostic, not a traceback."""
    try:
        found = list(itertools.islice(items, budget[0] + 1))
    except Exception as exc:  # the user's own container raised: report it, whatever it was
        raise _error("bad-value", f"cannot read {what}: {_raised(exc)}", OVERRIDES, path) from None
    budget[0] -= len(found)
    if budget[0] < 0 and not path:
        raise _error("too-large", f"expected at most {MAX_ITEMS:,} overrides and items in their values, found more",
                     OVERRIDES, path)
    if budget[0] < 0:
        raise _error("too-large", f"cannot set {what}: the value holds more than {MAX_ITEMS:,} items in all",
                     OVERRIDES, path)
    return found


def _raised(exc: Exception) -> str:
    """What a user's object raised, in a few words: its type and its text cut to 120 characters."""
    try:
        text = str(exc)
    except Exception:  # an exception whose own __str__ fails
        text = ""
    return f"{type(exc).__name__}: {text if len(text) <= 120 else text[:117] + '...'}"


def _override(src: Source, overrides: Mapping[str, Any]) -> None:
    data = src.data if isinstance(src.data, dict) else {}
    found = data.get("vars")
    variables: dict[str, Any] = found if isinstance(found, dict) else {}
    for name, value in overrides.items():
        where = Span("<overrides>", 0, 0)
        if name not in variables:
            hint = did_you_mean(str(name), variables) or (
                f"the spec's vars are {', '.join(variables)}" if variables else "the spec declares no vars")
            raise _error("unknown-var", f"cannot set {short_repr(name)}: the spec has no var of that name", where,
                         ("vars", str(name)), hint)
        try:
            check_value(value)
        except ExprError as exc:
            raise _error("bad-value", f"cannot set '{name}': {exc.message}", where, ("vars", name)) from None
        if not isinstance(value, (int, float, bool, str, list)) and value is not None:
            raise _error("bad-value", f"cannot set '{name}' to a {type(value).__name__}", where, ("vars", name),
                         "vars hold numbers, booleans, strings and lists of them")
        variables[name] = value


def parse_override(text: str) -> tuple[str, Any]:
    """``width=64`` or ``layers=[3, 4, 6, 3]`` from the command line, the value read as YAML."""
    name, sep, raw = text.partition("=")
    if not sep or not name.strip().isidentifier():
        raise SpecError([Diagnostic("bad-override", f"expected NAME=VALUE, found {short_repr(text)}",
                                    Span("<--set>", 0, 0), (), "e.g. --set width=64")])
    parsed = source_mod.load_text(raw or "null", "<--set>")
    return name.strip(), parsed.data


def _on_disk(file: str) -> bool:
    return not (file.startswith("<") and file.endswith(">"))


def _inside(candidate: str, root: str) -> bool:
    return candidate == root or candidate.startswith(root.rstrip(os.sep) + os.sep)


def _display(real: str) -> str:
    """An imported file's name in diagnostics: relative to the working directory when below it."""
    try:
        rel = os.path.relpath(real)
    except ValueError:
        return real
    return real if rel.startswith("..") else rel


def _error(code: str, message: str, span: Span, path: Path, hint: str | None = None) -> SpecError:
    return SpecError([Diagnostic(code, message, span, path, hint)])


__all__ = ["Reader", "expand", "parse_override", "plain_overrides", "reader_for"]
