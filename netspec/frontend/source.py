"""Spec text -> plain Python data, with the file:line:col of every node.

The YAML is read as an event stream, never handed to a constructor, so no tag
can name Python code and no structure is built before its depth, size and
shape are checked.  Scalars follow the YAML 1.2 core schema; the YAML 1.1
spellings that change meaning between parsers (``no``, ``on``, ``017``,
``3:3``) are refused instead of guessed.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path as FsPath
from typing import Any

import yaml

from ..errors import Diagnostic, Path, Span, SpecError, short_repr
from ..records import stores_fields
from . import files

# Limits that keep every later stage bounded in time and memory.  A hand-written
# AlexNet is ~2 KiB and ~100 nodes; these leave a thousandfold margin, and 100,000 layers written
# out one by one (~4 nodes and ~30 bytes each) fit.
MAX_BYTES = 4 * 1024 * 1024
MAX_DEPTH = 64
MAX_NODES = 500_000
MAX_INT_DIGITS = 40  # 2**63 has 19 digits; the limit only keeps int() far from Python's 4300-digit guard
MAX_KEY_CHARS = 256  # keys are names: they reach messages and paths, so they stay short and printable

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_NULL = {"", "~", "null", "Null", "NULL"}
_TRUE = {"true", "True", "TRUE"}
_FALSE = {"false", "False", "FALSE"}
_INT = re.compile(r"[-+]?[0-9]+")
_OCT = re.compile(r"0o[0-7]+")
_HEX = re.compile(r"0x[0-9a-fA-F]+")
_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")
_INF = re.compile(r"[-+]?\.(inf|Inf|INF)")
_NAN = re.compile(r"\.(nan|NaN|NAN)")
_YAML11_BOOL = {"yes", "Yes", "YES", "no", "No", "NO", "on", "On", "ON", "off", "Off", "OFF"}
_SEXAGESIMAL = re.compile(r"[-+]?[0-9][0-9_]*(:[0-5]?[0-9])+(\.[0-9_]*)?")
_LEADING_ZERO = re.compile(r"[-+]?0[0-9]+")
_BINARY = re.compile(r"[-+]?0b[01_]+")
# 1_000: a number in YAML 1.1 only.  Written so the first "_" can be matched one way only: an
# ambiguous "[0-9_]*_[0-9_]*" backtracks quadratically on "1____...x" (40 KB took 54 s).
# Every scalar pattern here must stay free of such nested or adjacent ambiguous repetition.
_UNDERSCORED = re.compile(r"[-+]?[0-9]+_[0-9_]*(\.[0-9_]*)?")
_NUMBER_START = frozenset("+-.0123456789")  # the first character every number pattern above can match
_SURROGATE = re.compile("[\ud800-\udfff]")
# The plain scalars resolve_plain reads as null or a boolean, or refuses (YAML 1.1 booleans).
_RESERVED_WORDS = frozenset(_NULL | _TRUE | _FALSE | _YAML11_BOOL)
# The plain keys add_key refuses, each said otherwise below: booleans in YAML 1.1 or 1.2, and null spelled out.
_AMBIGUOUS_KEYS = frozenset(_YAML11_BOOL | _TRUE | _FALSE | {key for key in _NULL if key.isalpha()})


@dataclass
class Source:
    """A parsed spec: its data and where each value and key stands in the file."""

    file: str
    text: str
    data: Any
    spans: dict[Path, Span] = field(default_factory=dict)
    key_spans: dict[Path, Span] = field(default_factory=dict)
    # The other files whose nodes this data holds (imported blocks, an extended spec): file -> text.
    others: dict[str, str] = field(default_factory=dict)

    @cached_property
    def lines(self) -> list[str]:
        # cached: spans of forward steps look lines up once per syntax node
        return self.text.splitlines()

    def lines_of(self, file: str) -> list[str]:
        """The lines of ``file``: this spec's own, or those of a file it imported."""
        if file == self.file or file not in self.others:
            return self.lines
        cache = self.__dict__.setdefault("_other_lines", {})
        if file not in cache:
            cache[file] = self.others[file].splitlines()
        return cache[file]  # type: ignore[no-any-return]

    def span(self, path: Path) -> Span:
        """The span of the node at ``path``, or of its nearest ancestor."""
        spans = self.spans
        while path not in spans and path:
            path = path[:-1]
        found = spans.get(path)
        return found if found is not None else Span(self.file, 1, 1)  # made only when needed: asked per step

    def key_span(self, path: Path) -> Span:
        return self.key_spans.get(path) or self.span(path)


def load_file(path: str | FsPath) -> Source:
    return load_text(read_text(path), str(path))


def read_text(path: str | FsPath) -> str:
    """The spec file's text, checked for size and encoding but not parsed (api caches by it).

    Opened by :func:`netspec.frontend.files.read_spec`: never in blocking mode, and only a regular file
    (a FIFO or a device named like a spec is refused, never waited on)."""
    name = str(path)
    try:
        raw = files.read_spec(path, MAX_BYTES + 1).data
    except OSError as exc:
        raise SpecError([Diagnostic("file-unreadable", f"cannot read the spec: {exc.strerror or exc}",
                                    Span(name, 0, 0))]) from None
    return decode(raw, name)


def load_bytes(raw: bytes, file: str = "<spec>") -> Source:
    return load_text(decode(raw, file), file)


def decode(raw: bytes, file: str = "<spec>") -> str:
    if len(raw) > MAX_BYTES:
        raise _error(file, 1, 1, "file-too-large", f"spec is larger than {MAX_BYTES // (1024 * 1024)} MiB",
                     "split the model or generate it with blocks and repeat")
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise _error(file, line, col, "encoding", f"expected UTF-8 text, found byte 0x{raw[exc.start]:02x}",
                     "save the spec as UTF-8") from None
    return text


def load_text(text: str, file: str = "<spec>") -> Source:
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        raise _error(file, line, 1, "encoding", "expected text, found a NUL byte", None)
    surrogate = _SURROGATE.search(text)  # only text from Python callers can hold one; UTF-8 cannot encode it
    if surrogate:
        line, col = _char_line_col(text, surrogate.start())
        raise _error(file, line, col, "encoding", f"expected text, found a lone surrogate "
                     f"U+{ord(surrogate.group()):04X}", "decode the spec as UTF-8 with errors='strict'")
    builder = _DataBuilder(file)
    try:
        _feed_events(text, builder)
    except yaml.MarkedYAMLError as exc:
        raise _syntax_error(file, exc, text) from None
    except yaml.reader.ReaderError as exc:  # control characters: a position, no mark
        line, col = _line_col(text, exc.position)
        raise _error(file, line, col, "yaml-syntax", f"invalid YAML: {exc.reason} (found U+{exc.character:04X})"
                     if isinstance(exc.character, int) else f"invalid YAML: {exc.reason}",
                     "remove the control character") from None
    except yaml.YAMLError as exc:
        raise _error(file, 1, 1, "yaml-syntax", f"invalid YAML: {exc}", None) from None
    except (RecursionError, MemoryError):  # not expected from the event stream; kept as a last guard
        raise _error(file, 1, 1, "too-deep", f"spec nests deeper than {MAX_DEPTH} levels", None) from None
    if builder.result is _MISSING:
        raise _error(file, 1, 1, "empty-spec", "expected a mapping with 'netspec: 1', found an empty file",
                     "start the spec with 'netspec: 1'")
    return Source(file, text, builder.result, builder.spans, builder.key_spans)


def _feed_events(text: str, builder: _DataBuilder) -> None:
    """Every parser event of ``text`` to ``builder``: what ``yaml.parse`` yields, without its generator
    (a few percent of reading a large spec)."""
    loader = _Loader(text)
    try:
        get, feed, add_scalar, stack = loader.get_event, builder.feed, builder.add_scalar, builder.stack
        event = get()
        while event is not None:  # both parsers give None after the stream's end: no check_event call per event
            if type(event) is _ScalarEvent and stack:  # what feed does with one, called directly
                add_scalar(event)
            else:
                feed(event)
            event = get()
    finally:
        loader.dispose()


def _syntax_error(file: str, exc: yaml.MarkedYAMLError, text: str = "") -> SpecError:
    """The parser's complaint, said in the spec's terms.

    libyaml (the C loader every PyYAML wheel uses) and the pure-Python parser word the
    same mistake differently: a tab is "found character that cannot start any token" in
    one and "found character '\\t'" in the other.  So the text at the marks decides, not
    the wording: a tab there is named with its column, and a flow collection the parser
    gave up in is named with the line and column of its bracket as well as where the
    parser noticed (the next line, or the end of the file, for an unclosed one).
    """
    mark = exc.problem_mark or exc.context_mark
    line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    problem = exc.problem or exc.context or "malformed YAML"
    if "nesting depth" in problem:  # libyaml's own flow-depth guard, met before our depth check
        return _error(file, line, col, "too-deep", f"spec nests deeper than {MAX_DEPTH} levels", None)
    lines = text.splitlines()  # both parsers count lines as str.splitlines does (\r\n, \r, \n, NEL, LS, PS)
    tab = _tab_at(lines, mark) if mark else None
    if tab:
        tab_line, tab_col = tab
        indenting = not lines[tab_line - 1][: tab_col - 1].strip(" \t-")  # before a key or an item's '- '
        return _error(file, tab_line, tab_col, "yaml-syntax", "invalid YAML: expected spaces, found a tab",
                      f"replace the tab at line {tab_line}, column {tab_col} with spaces"
                      + (": YAML does not allow tabs in indentation" if indenting else ""))
    flow = _FLOW_CONTEXTS.get(exc.context or "")
    if flow and exc.context_mark and exc.problem_mark and "expected ','" in problem:
        opened, closer = flow
        at = f"line {exc.context_mark.line + 1}, column {exc.context_mark.column + 1}"
        found = _found_at(lines, exc.problem_mark)
        hint = f"close the '{opened}' opened at {at} with '{closer}'"
        if found != "the end of the file":  # a missing ',' reads the same to the parser
            hint += ", or separate its items with ','"
        return _error(file, line, col, "yaml-syntax", f"invalid YAML: expected ',' or '{closer}' in the "
                      f"'{opened}' opened at {at}, found {found}", hint)
    if exc.context == "while scanning a quoted scalar" and exc.context_mark and "end of stream" in problem:
        at = f"line {exc.context_mark.line + 1}, column {exc.context_mark.column + 1}"
        return _error(file, line, col, "yaml-syntax", f"invalid YAML: expected the closing quote of the string "
                      f"opened at {at}, found the end of the file", f"close the quote opened at {at}")
    tabs = "indent with spaces; YAML forbids tabs" if "\t" in problem or "tab" in problem else None  # not at a mark
    return _error(file, line, col, "yaml-syntax", f"invalid YAML: {problem}", tabs)


_FLOW_CONTEXTS = {"while parsing a flow mapping": ("{", "}"), "while parsing a flow sequence": ("[", "]")}
_TOKEN = re.compile(r"[^\s,\[\]{}:#]+|\S")


def _tab_at(lines: list[str], mark: Any) -> tuple[int, int] | None:
    """The tab the parser stopped at: under the mark, or in the indentation the mark stands in."""
    if not 0 <= mark.line < len(lines):
        return None
    text = lines[mark.line]
    if mark.column < len(text) and text[mark.column] == "\t":
        return mark.line + 1, mark.column + 1
    indent = len(text) - len(text.lstrip(" \t"))
    if mark.column <= indent and "\t" in text[:indent]:
        return mark.line + 1, text.index("\t") + 1
    return None


def _found_at(lines: list[str], mark: Any) -> str:
    """What stands at a parser's mark, as a message names it: a token, or the end of the file."""
    rest = [lines[mark.line][mark.column:], *lines[mark.line + 1:]] if mark.line < len(lines) else []
    if all(not line.strip() or line.lstrip().startswith("#") for line in rest):
        return "the end of the file"
    token = _TOKEN.search(rest[0])
    return short_repr(token.group(), 30) if token else "the end of the line"


def _line_col(text: str, position: int) -> tuple[int, int]:
    """Line and column of a reader error's position: libyaml counts bytes of the UTF-8 text."""
    if _Loader is not yaml.SafeLoader:
        position = len(text.encode("utf-8")[: max(position, 0)].decode("utf-8", "ignore"))
    return _char_line_col(text, position)


def _char_line_col(text: str, index: int) -> tuple[int, int]:
    before = text[: max(index, 0)]
    return before.count("\n") + 1, index - (before.rfind("\n") + 1) + 1


def _error(file: str, line: int, col: int, code: str, message: str, hint: str | None) -> SpecError:
    return SpecError([Diagnostic(code, message, Span(file, line, col), (), hint)])


_ScalarEvent = yaml.ScalarEvent
_MappingEndEvent = yaml.MappingEndEvent
_SequenceEndEvent = yaml.SequenceEndEvent


def _new_span(file: str, line: int, col: int) -> Span:
    """``Span(file, line, col)``, made without the frozen dataclass's ``__init__``: that sets each field through
    ``object.__setattr__``, twice the cost, and reading a large spec makes a span for every node."""
    span: Span = object.__new__(Span)
    fields = span.__dict__
    fields["file"], fields["line"], fields["col"] = file, line, col
    return span


_span: Callable[[str, int, int], Span] = _new_span if stores_fields(Span, ("file", "line", "col")) else Span


class _Missing:
    pass


_MISSING: Any = _Missing()


class _Frame:
    """A mapping or sequence under construction."""

    def __init__(self, container: dict[Any, Any] | list[Any], path: Path) -> None:
        self.container = container
        self.path = path
        self.pending_key: Any = _MISSING
        self.pending_key_span: Span | None = None


class _DataBuilder:
    """Builds data from parser events with an explicit stack (no recursion)."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.stack: list[_Frame] = []
        self.result: Any = _MISSING
        self.spans: dict[Path, Span] = {}
        self.key_spans: dict[Path, Span] = {}
        self.nodes = 0
        self.documents = 0

    def span_of(self, event: Any) -> Span:
        mark = event.start_mark
        return _span(self.file, mark.line + 1, mark.column + 1)

    def fail(self, event: Any, code: str, message: str, hint: str | None = None) -> SpecError:
        span = self.span_of(event)
        return _error(self.file, span.line, span.col, code, message, hint)

    def feed(self, event: Any) -> None:
        kind = type(event)  # (a scalar inside a container never comes here: _feed_events hands it to add_scalar)
        if kind is _MappingEndEvent or kind is _SequenceEndEvent:
            if self.stack.pop().pending_key is not _MISSING:  # pragma: no cover - the parser pairs keys and values
                raise self.fail(event, "yaml-syntax", "mapping key has no value")
            return
        if isinstance(event, yaml.DocumentStartEvent):
            self.documents += 1
            if self.documents > 1:
                raise self.fail(event, "multiple-documents", "expected one YAML document, found a second",
                                "keep one spec per file; remove the '---' separator")
            return
        if isinstance(event, yaml.AliasEvent):
            raise self.fail(event, "yaml-alias", f"YAML aliases are not allowed (found '*{event.anchor}')",
                            "write the value out, or use a Sequential block for repeated layers")
        if isinstance(event, (yaml.ScalarEvent, yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            self.check_node(event)
        if isinstance(event, yaml.ScalarEvent):
            self.add_value(event, self.scalar(event))
        elif isinstance(event, yaml.MappingStartEvent):
            self.open(event, {})
        elif isinstance(event, yaml.SequenceStartEvent):
            self.open(event, [])

    def add_scalar(self, event: Any) -> None:
        """A scalar inside a mapping or sequence: check_node, scalar and add_value for it, inlined (a large spec
        is mostly scalars).  The checks run in the same order, so the same first error is raised."""
        self.nodes += 1
        stack = self.stack
        if self.nodes > MAX_NODES or event.anchor is not None or event.tag is not None or len(stack) >= MAX_DEPTH:
            self.check_limits(event)
        frame = stack[-1]
        container = frame.container
        text: str = event.value
        mark = event.start_mark
        if type(container) is list:
            value = text if event.style or event.tag == "!" else self.resolve_plain(event, text)
            self.spans[(*frame.path, len(container))] = _span(self.file, mark.line + 1, mark.column + 1)
            container.append(value)
        elif frame.pending_key is _MISSING:  # a key: a name, kept as written
            self.add_key(event, frame, text, _span(self.file, mark.line + 1, mark.column + 1))
        else:
            value = text if event.style or event.tag == "!" else self.resolve_plain(event, text)
            path = (*frame.path, frame.pending_key)
            self.spans[path] = _span(self.file, mark.line + 1, mark.column + 1)
            if frame.pending_key_span is not None:
                self.key_spans[path] = frame.pending_key_span
            container[frame.pending_key] = value
            frame.pending_key = _MISSING

    def check_node(self, event: Any) -> None:
        self.nodes += 1
        self.check_limits(event)

    def check_limits(self, event: Any) -> None:
        """The node count (this node counted), anchors, tags and depth: the first broken limit raised."""
        if self.nodes > MAX_NODES:
            raise self.fail(event, "too-large", f"spec has more than {MAX_NODES} YAML nodes")
        if event.anchor is not None:
            raise self.fail(event, "yaml-alias", f"YAML anchors are not allowed (found '&{event.anchor}')",
                            "write the value out, or use a Sequential block for repeated layers")
        if event.tag is not None:
            plain = isinstance(event, yaml.ScalarEvent) and event.tag == "!" and not event.implicit[0]
            if not plain:
                raise self.fail(event, "yaml-tag", f"explicit YAML tags are not allowed (found '{event.tag}')",
                                "netspec reads plain YAML values only; remove the tag")
        if len(self.stack) >= MAX_DEPTH:
            raise self.fail(event, "too-deep", f"spec nests deeper than {MAX_DEPTH} levels")

    def child_path(self) -> Path:
        if not self.stack:
            return ()
        frame = self.stack[-1]
        if isinstance(frame.container, list):
            return (*frame.path, len(frame.container))
        return (*frame.path, frame.pending_key)

    def open(self, event: Any, container: dict[Any, Any] | list[Any]) -> None:
        if self.stack and isinstance(self.stack[-1].container, dict) and self.stack[-1].pending_key is _MISSING:
            raise self.fail(event, "yaml-key", "expected a plain key, found a mapping or list used as a key")
        path = self.child_path()
        self.add_value(event, container)
        self.stack.append(_Frame(container, path))

    def add_value(self, event: Any, value: Any) -> None:
        span = self.span_of(event)
        if not self.stack:
            self.result = value
            self.spans[()] = span
            return
        frame = self.stack[-1]
        if isinstance(frame.container, list):
            self.spans[(*frame.path, len(frame.container))] = span
            frame.container.append(value)
        elif frame.pending_key is _MISSING:
            self.add_key(event, frame, value, span)
        else:
            path = (*frame.path, frame.pending_key)
            self.spans[path] = span
            if frame.pending_key_span is not None:
                self.key_spans[path] = frame.pending_key_span
            frame.container[frame.pending_key] = value
            frame.pending_key = _MISSING

    def add_key(self, event: Any, frame: _Frame, key: Any, span: Span) -> None:
        # Keys are names, so they stay strings whatever they look like.
        key = event.value if isinstance(event, yaml.ScalarEvent) else key
        if len(key) > MAX_KEY_CHARS:
            raise self.fail(event, "bad-key", f"key is {len(key)} characters long, more than {MAX_KEY_CHARS}",
                            "keys are names; shorten it")
        if not key.isprintable():
            raise self.fail(event, "bad-key", f"key {short_repr(key)} holds control or invisible characters",
                            "keys are names: letters, digits and '_'")
        # A plain `on:` is {True: ...} to PyYAML and other YAML 1.1 readers, `true:` and `null:`
        # to every reader: the same file would name another layer (or none) for them.
        plain = isinstance(event, _ScalarEvent) and not event.style
        kind = None if not plain or key not in _AMBIGUOUS_KEYS else (  # most keys: one set lookup
            "read as a boolean by YAML 1.1 parsers such as PyYAML" if key in _YAML11_BOOL
            else "a boolean in YAML" if key in _TRUE or key in _FALSE
            else "null in YAML" if key in _NULL and key.isalpha()  # '~' is refused as a name anyway
            else None)
        if kind is not None:
            raise self.fail(event, "yaml-ambiguous", f"key '{key}' is {kind}, not a name",
                            f"quote it ('{key}': ...) or rename it")
        if key in frame.container:
            raise self.fail(event, "duplicate-key", f"key '{key}' appears twice in this mapping",
                            f"YAML parsers silently keep the last '{key}'; remove one of them")
        frame.pending_key = key
        frame.pending_key_span = span

    def scalar(self, event: Any) -> Any:
        text: str = event.value
        top = self.stack[-1] if self.stack else None
        is_key = top is not None and isinstance(top.container, dict) and top.pending_key is _MISSING
        if event.style or is_key or event.tag == "!":  # the C parser reports plain style as ''
            return text
        return self.resolve_plain(event, text)

    def resolve_plain(self, event: Any, text: str) -> Any:
        if text in _RESERVED_WORDS:  # one lookup for most text: none of these
            if text in _NULL:
                return None
            if text in _TRUE:
                return True
            if text in _FALSE:
                return False
            raise self.fail(event, "yaml-ambiguous", f"'{text}' is a boolean in YAML 1.1 but a string in YAML 1.2",
                            "write true or false, or quote the string")
        if text[0] not in _NUMBER_START:  # a word (a layer type, a name): no number pattern below can match
            return text
        if text.isdigit() and text.isascii() and (text[0] != "0" or len(text) == 1):
            return self.integer(event, text)  # plain digits, no leading zero: only _INT below can match
        if _LEADING_ZERO.fullmatch(text) or _BINARY.fullmatch(text) or _OCT.fullmatch(text) or \
                _UNDERSCORED.fullmatch(text):
            raise self.fail(event, "yaml-ambiguous", f"'{text}' is read differently by YAML 1.1 and 1.2 parsers",
                            "write the number without a leading zero, prefix or '_', or quote the string")
        if _SEXAGESIMAL.fullmatch(text):
            raise self.fail(event, "yaml-ambiguous", f"'{text}' is a base-60 number in YAML 1.1",
                            "quote it if you mean a string")
        if _INT.fullmatch(text) or _HEX.fullmatch(text):
            return self.integer(event, text)
        if _FLOAT.fullmatch(text):
            return float(text)
        if _INF.fullmatch(text):
            return float("-inf") if text.startswith("-") else float("inf")
        if _NAN.fullmatch(text):
            return float("nan")
        return text

    def integer(self, event: Any, text: str) -> int:
        if len(text) > MAX_INT_DIGITS:
            raise self.fail(event, "int-too-large", f"integer literal has {len(text)} digits, more than any tensor "
                            "size", "netspec integers fit in 64 bits (at most 9223372036854775807)")
        if text.startswith("0x"):
            return int(text[2:], 16)
        return int(text)
