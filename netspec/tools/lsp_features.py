"""What the language server knows, free of any LSP library: plain positions in, plain answers out.

Positions here are 0-based ``(line, character)`` pairs, as LSP counts them; netspec's
:class:`~netspec.errors.Span` is 1-based and is converted at the edge.  Everything works
from the document's text, the last YAML that parsed (so completion keeps working while a
line is half typed) and the last spec that compiled (shapes for hover and inlay hints, read off its trace).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .. import api
from ..errors import Diagnostic, Span, SpecError
from ..frontend import expand, files, source
from ..middle import counts, ir
from ..middle.shapes import Event, Row
from ..ops import LAYERS, OPS, Dim, fmt_shape

Position = tuple[int, int]  # 0-based line, character


@dataclass(frozen=True)
class Range:
    start: Position
    end: Position


@dataclass(frozen=True)
class Problem:
    """One diagnostic, placed in the document."""

    range: Range
    severity: str  # "error" | "warning"
    code: str | None  # netspec's diagnostic code; None for a failure of netspec itself
    message: str


@dataclass(frozen=True)
class Completion:
    label: str
    kind: str  # "class" (layer type), "module" (block), "field" (argument), "variable", "function"
    detail: str = ""
    documentation: str = ""
    insert_text: str | None = None


@dataclass(frozen=True)
class Location:
    path: str
    line: int  # 0-based


@dataclass
class Document:
    """A spec as the editor holds it, and what netspec made of it."""

    path: str | None  # the file it is saved as; None for an untitled buffer
    text: str = ""
    compiled: api.Compiled | None = None  # the last text that compiled
    data: dict[str, Any] = field(default_factory=dict)  # the last text that parsed
    problems: list[Problem] = field(default_factory=list)

    @property
    def lines(self) -> list[str]:
        return self.text.splitlines()

    def update(self, text: str) -> list[Problem]:
        """Take the new text: parse it, compile it, and return its diagnostics.

        The limits ``netspec validate`` applies to a file come first, so a document too big or too deep
        is refused at once with the diagnostic validate gives, before anything parses all of it."""
        self.text = text
        try:
            parsed = parse(text, self.path or api.TEXT_FILE)
        except SpecError as exc:  # the compile would stop at the same parse with the same error
            self.problems = [problem(self, d, text.splitlines()) for d in exc.diagnostics]
            return self.problems
        if isinstance(parsed.data, dict):
            self.data = parsed.data
        self.problems = compile_problems(self, text)
        return self.problems


def parse(text: str, file: str) -> source.Source:
    """``text`` parsed under the limits a spec file gets (size, depth, nodes: :mod:`netspec.frontend.source`)."""
    if len(text) > source.MAX_BYTES // 4 and len(text.encode("utf-8", "surrogatepass")) > source.MAX_BYTES:
        # the size check of a file read from disk, with its diagnostic (file-too-large)
        source.decode(text.encode("utf-8", "surrogatepass")[: source.MAX_BYTES + 1], file)
    try:
        return source.load_text(text, file)
    except RecursionError:  # not expected from the event stream; the same last guard as validate's
        raise SpecError([Diagnostic("too-deep", f"spec nests deeper than {source.MAX_DEPTH} levels",
                                    Span(file, 1, 1))]) from None


# ---------------------------------------------------------------------------------------------- diagnostics

_TOKEN = re.compile(r"[^\s,:{}\[\]#]+")


def _same_file(a: str, b: str | None) -> bool:
    if b is None:
        return False
    try:
        return os.path.realpath(a) == os.path.realpath(b)
    except (OSError, ValueError):
        return a == b


def _in_doc(file: str, doc: Document) -> bool:
    return file == (doc.path or api.TEXT_FILE) or _same_file(file, doc.path)


def _place(lines: list[str], line: int, col: int) -> Range:
    """The range of the token that starts at 1-based ``line``:``col`` (the rest of the line if none does)."""
    if line < 1 or line > len(lines):
        return Range((0, 0), (0, len(lines[0]) if lines else 0))
    text = lines[line - 1]
    start = min(max(col - 1, 0), len(text))
    match = _TOKEN.match(text, start)
    end = match.end() if match and match.end() > start else len(text.rstrip())
    return Range((line - 1, start), (line - 1, max(end, start)))


def problem(doc: Document, d: Diagnostic, lines: list[str]) -> Problem:
    message = (f"{d.dotted_path}: " if d.path else "") + d.message
    if d.hint:
        message += f"\nhint: {d.hint}"
    span = d.span
    if span is not None and _in_doc(span.file, doc):
        where = _place(lines, span.line, span.col)
    else:
        # in another file (an import) or nowhere in particular: say where, at the line naming it
        if span is not None and span.line:
            message = f"{span}: {message}"
        where = _place(lines, _naming_line(lines, span.file if span else None), 1)
    return Problem(where, d.severity, d.code, message)


def _naming_line(lines: list[str], file: str | None) -> int:
    """The 1-based line that names ``file`` (an import or extends), else 1."""
    if file:
        name = os.path.basename(file)
        for i, text in enumerate(lines, 1):
            if name and name in text:
                return i
    return 1


def compile_problems(doc: Document, text: str) -> list[Problem]:
    lines = text.splitlines()
    try:
        compiled = api.compile_spec(text=text, filename=doc.path)
    except SpecError as exc:
        return [problem(doc, d, lines) for d in exc.diagnostics]
    except Exception as exc:  # a bug in netspec: say so rather than go silent
        return [Problem(_place(lines, 1, 1), "error", None, f"netspec failed: {type(exc).__name__}: {exc}")]
    doc.compiled = compiled
    return [problem(doc, d, lines) for d in compiled.warnings]


# ---------------------------------------------------------------------------------------------- forward steps


@dataclass(frozen=True)
class Step:
    index: int
    line: int  # 0-based
    start: int  # character where the step's text starts
    end: int  # ... and ends
    layers: frozenset[str]  # the layers it calls
    event: Event | None  # its last top-level event in the trace: what the step leaves


def _called_layers(stmt: ir.Stmt) -> frozenset[str]:
    return frozenset(n.func for n in ir.walk(stmt) if isinstance(n, ir.Call) and n.kind == "layer")


def _step_end(text: str, start: int) -> int:
    """Where a forward step that starts at ``start`` ends: at a top-level comma or bracket in a flow list."""
    before = text[:start].rstrip()
    flow = before.endswith(("[", ","))
    depth = 0
    quote = ""
    i = start
    while i < len(text):
        ch = text[i]
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            if depth == 0:
                break
            depth -= 1
        elif (ch == "," and depth == 0 and flow) or (ch == "#" and (i == 0 or text[i - 1].isspace())):
            break
        i += 1
    return start + len(text[start:i].rstrip())


def _calls(compiled: api.Compiled) -> list[Event]:
    """The trace's calls, each once, in order: a layer, an op, a matmul, a Sequential or block (at its exit)."""
    return [e for e in compiled.inference.trace if e.row is not None and e.kind != "enter"]


def _output_shape(output: Any) -> tuple[Dim, ...]:
    """The shape an event gives: its tensor's, or the first of several (chunk's, MultiheadAttention's)."""
    if isinstance(output, tuple):
        return output[0].shape if output else ()
    return output.shape  # type: ignore[no-any-return]


def steps(doc: Document) -> list[Step]:
    """The root forward's steps, each with where it is written and the shape it leaves."""
    compiled = doc.compiled
    if compiled is None:
        return []
    model = compiled.inference.model
    spans = model.source.spans
    lines = doc.lines
    calls = [_called_layers(stmt) for stmt in model.body]
    # an op's or a matmul's step: the one whose IR holds its node
    holder = {id(node): i for i, stmt in enumerate(model.body) for node in ir.walk(stmt)}
    # a layer's, Sequential's or block's: the next step (from the last placed) calling it by its name
    root = compiled.inference.instances.get("")
    names = {id(c.entry): name for name, c in (root.names if root else {}).items()
             if c is not None and not isinstance(c, list)}
    last: dict[int, Event] = {}
    cursor = 0
    for event in _calls(compiled):
        assert event.row is not None
        if event.row.depth:
            continue
        if event.kind in ("op", "arith"):
            if id(event.node) not in holder:
                continue
            cursor = holder[id(event.node)]
        else:
            name = names.get(id(event.node))
            found = next((j for j in range(cursor, len(calls)) if name in calls[j]), None)
            if found is None:
                continue
            cursor = found
        last[cursor] = event
    out = []
    for i in range(len(model.body)):
        span = spans.get(("forward", i))
        if span is None or not _in_doc(span.file, doc):
            continue
        line = span.line - 1
        if not 0 <= line < len(lines):
            continue
        start = span.col - 1
        out.append(Step(i, line, start, _step_end(lines[line], start), calls[i] if i < len(calls) else frozenset(),
                        last.get(i)))
    return out


def inlay_hints(doc: Document) -> list[tuple[Position, str]]:
    """``-> (N, 6, 28, 28)`` after each forward step."""
    return [((s.line, s.end), f"-> {fmt_shape(_output_shape(s.event.output))}") for s in steps(doc)
            if s.event is not None]


# ---------------------------------------------------------------------------------------------- hover

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_FILE_WORD = re.compile(r"[\w./~-]+")


def word_at(text: str, char: int, pattern: re.Pattern[str] = _WORD) -> tuple[str, int, int] | None:
    for match in pattern.finditer(text):
        if match.start() <= char <= match.end():
            return match.group(), match.start(), match.end()
    return None


def _count(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) else str(value)


def _row_text(title: str, row: Row, shape: tuple[Dim, ...]) -> str:
    return "\n".join([
        f"**{title}**: `{row.type}`",
        "",
        f"- output shape: `{fmt_shape(shape)}`",
        f"- parameters: {_count(row.params)}",
        f"- MACs per sample: {_count(counts.per_sample(row.macs))}",
    ])


def _event_text(title: str, event: Event) -> str:
    assert event.row is not None
    return _row_text(title, event.row, _output_shape(event.output))


def hover(doc: Document, pos: Position) -> str | None:
    """Markdown for the layer or forward step at ``pos``: its output shape, parameters and MACs."""
    line, char = pos
    lines = doc.lines
    if doc.compiled is None or not 0 <= line < len(lines):
        return None
    found = word_at(lines[line], char)
    by_path: dict[str, Event] = {}  # a layer's first call
    for event in _calls(doc.compiled):
        assert event.row is not None
        by_path.setdefault(event.row.path, event)
    # a forward step: the layer named under the cursor, else the step's result
    for step in steps(doc):
        if step.line == line and step.start <= char <= step.end:
            if found and found[0] in step.layers and found[0] in by_path:
                return _event_text(found[0], by_path[found[0]])
            if step.event is not None:
                return _event_text(f"forward step {step.index}", step.event)
    if found is None:
        return None
    word = found[0]
    key = doc.compiled.inference.model.source.key_spans.get(("layers", word))
    if key is not None and key.line - 1 == line and word in by_path:
        return _event_text(word, by_path[word])
    # a layer inside a block: every instance of it
    chain = enclosing_keys(lines, line)
    if len(chain) >= 3 and chain[0] == "blocks" and chain[2] == "layers" and _is_key(lines[line], found):
        block = chain[1]
        rows = doc.compiled.inference.rows
        parents = {r.path for r in rows if r.type == block}
        hits = [r for r in rows if r.path.rpartition(".")[0] in parents and r.path.rpartition(".")[2] == word]
        if hits:
            shapes = sorted({fmt_shape(r.output_shape) for r in hits})
            head = _row_text(f"{block}.{word}", hits[0], hits[0].output_shape)
            return head + f"\n\n{len(hits)} instance(s); output shapes: " + ", ".join(f"`{s}`" for s in shapes)
    return None


def _is_key(text: str, found: tuple[str, int, int]) -> bool:
    return text[found[2]:].lstrip().startswith(":")


# ---------------------------------------------------------------------------------------------- structure

_KEY = re.compile(r"^(\s*)(?:-\s+)?([\w.-]+)\s*:(?:\s|$)")


def enclosing_keys(lines: list[str], line: int) -> list[str]:
    """The block-style mapping keys around ``line``, outermost first (``['blocks', 'B', 'layers']``)."""
    chain: list[str] = []
    current = lines[line] if 0 <= line < len(lines) else ""
    limit = len(current) - len(current.lstrip())  # a blank line's indentation: where the cursor is
    if current.lstrip().startswith("- "):
        limit = len(current) - len(current.lstrip())
    for i in range(min(line, len(lines)) - 1, -1, -1):
        text = lines[i]
        stripped = text.lstrip()
        if not stripped or stripped.startswith("#"):
            continue
        indent = len(text) - len(stripped)
        if indent >= limit:
            continue
        match = _KEY.match(text)
        if match:
            chain.append(match.group(2))
        limit = indent
        if indent == 0:
            break
    return chain[::-1]


def _get(data: Any, chain: list[str]) -> Any:
    node = data
    for key in chain:
        if isinstance(node, dict):
            node = node.get(key)
        elif isinstance(node, list) and key.isdigit() and int(key) < len(node):
            node = node[int(key)]
        else:
            return None
    return node


def _keys(node: Any) -> list[str]:
    return [str(k) for k in node] if isinstance(node, dict) else []


def _blocks(doc: Document) -> dict[str, Any]:
    blocks = doc.data.get("blocks")
    return blocks if isinstance(blocks, dict) else {}


# ---------------------------------------------------------------------------------------------- completion

_DEFINITION_KEYS = ("layers", "params", "inputs", "vars", "args")


def _type_items(doc: Document) -> list[Completion]:
    items = [Completion(name, "class", layer.family, layer.summary) for name, layer in sorted(LAYERS.items())]
    items.append(Completion("Sequential", "class", "container", "layers applied in order"))
    for name in sorted(_blocks(doc)):
        items.append(Completion(str(name), "module", "block", f"the block {name} of this spec"))
    for name in sorted(imported_blocks(doc)):
        if name not in _blocks(doc):
            items.append(Completion(name, "module", "block", f"the block {name}, imported"))
    return items


def _annotation(arg: Any) -> str:
    text = getattr(arg.annotation, "__name__", None) or str(arg.annotation)
    text = re.sub(r"typing\.Annotated\[([^,\]]+).*", r"\1", text)
    default = arg.default
    if default is not None and type(default).__name__ != "object" and not isinstance(default, type):
        text += f" = {default!r}"
    if arg.inferred:
        text += " (inferred)"
    return text


def _arg_items(doc: Document, type_name: str, present: set[str]) -> list[Completion]:
    layer = LAYERS.get(type_name)
    items: list[Completion] = []
    if layer is not None:
        for arg in layer.args:
            if arg.name not in present:
                items.append(Completion(arg.name, "field", _annotation(arg), arg.doc or "", f"{arg.name}: "))
    else:
        block = _blocks(doc).get(type_name)
        args = block.get("args") if isinstance(block, dict) else None
        for name in _keys(args):
            if name not in present:
                items.append(Completion(name, "field", f"argument of {type_name}", "", f"{name}: "))
    for name in ("if", "repeat", "type"):
        if name not in present and items:
            items.append(Completion(name, "keyword", "layer option", "", f"{name}: "))
    return items


def _scope_items(doc: Document, chain: list[str]) -> list[Completion]:
    definition = _get(doc.data, chain[:2]) if chain[:1] == ["blocks"] and len(chain) >= 2 else doc.data
    items: list[Completion] = []
    seen: set[str] = set()
    kinds = {"layers": "layer", "params": "parameter", "inputs": "input", "vars": "var", "args": "argument"}
    for section in _DEFINITION_KEYS:
        for name in _keys(_get(definition, [section])):
            if name not in seen:
                seen.add(name)
                items.append(Completion(name, "variable", kinds[section]))
    for name, op in sorted(OPS.items()):
        if name not in seen:
            items.append(Completion(name, "function", f"{name}({', '.join(op.params)})", op.summary))
    return items


def completions(doc: Document, pos: Position) -> list[Completion]:
    line, char = pos
    lines = doc.lines
    text = lines[line] if 0 <= line < len(lines) else ""
    before = text[:char]
    chain = enclosing_keys(lines, line)
    own = _KEY.match(before)
    # a layer's type: `type: Con`, or a bare `bn1: BatchNo` under layers
    if re.search(r"\btype:\s*[\w]*$", before):
        return _type_items(doc)
    if chain[-1:] == ["layers"] and own and re.match(r"^\s*(-\s+)?[\w.-]+:\s*[\w]*$", before):
        return _type_items(doc)
    # a layer's arguments in a flow mapping: `{type: Conv2d, ou`
    brace = before.rfind("{")
    if brace >= 0 and "}" not in before[brace:] and re.search(r"[{,]\s*[\w]*$", before):
        inside = text[brace:]
        close = inside.find("}")
        inside = inside if close < 0 else inside[:close]
        match = re.search(r"\btype:\s*([\w]+)", inside)
        if match:
            present = set(re.findall(r"([\w]+)\s*:", inside))
            return _arg_items(doc, match.group(1), present)
    # a layer's arguments in a block mapping
    if re.match(r"^\s*[\w]*$", before) and len(chain) >= 2 and chain[-2] == "layers":
        node = _get(doc.data, chain)
        if isinstance(node, dict) and isinstance(node.get("type"), str):
            return _arg_items(doc, node["type"], set(_keys(node)))
    # names in scope in a forward
    if "forward" in chain or (own and own.group(2) == "forward"):
        return _scope_items(doc, chain)
    return []


# ---------------------------------------------------------------------------------------------- definition


_NOWHERE = Span("<lsp>", 0, 0)


def _reader(doc: Document) -> expand.Reader:
    """The reader a compile of ``doc`` uses: the same directories, so the same fence as diagnostics."""
    return expand.reader_for(doc.path or api.TEXT_FILE)


def _resolve(reader: expand.Reader, name: str, importer: str | None) -> str | None:
    """The real path of the spec file ``name`` written in ``importer``, found as a compile finds it;
    None where a compile would refuse it (outside the fence, missing, not a regular file)."""
    try:
        real = reader.locate(name, importer or api.TEXT_FILE, _NOWHERE, ())
    except SpecError:
        return None
    return real if files.is_regular(real) else None


def _imports(doc: Document, data: Mapping[str, Any] | None = None) -> list[str]:
    data = doc.data if data is None else data
    names = [str(n) for n in data.get("imports") or [] if isinstance(n, str)] if isinstance(
        data.get("imports"), list) else []
    if isinstance(data.get("extends"), str):
        names.append(data["extends"])
    return names


def _block_line(lines: list[str], name: str) -> int | None:
    """The 0-based line of ``name:`` under ``blocks:``."""
    inside = False
    for i, text in enumerate(lines):
        if re.match(r"^blocks\s*:", text):
            inside = True
            continue
        if inside and text and not text[0].isspace() and not text.startswith("#"):
            inside = False
        if inside and re.match(rf"^\s+{re.escape(name)}\s*:", text):
            return i
    return None


def imported_blocks(doc: Document) -> dict[str, Location]:
    """Blocks of the files this spec imports or extends (and theirs), with where each is written."""
    found: dict[str, Location] = {}
    seen: set[str] = set()
    reader = _reader(doc)  # files read as a compile reads them: inside the fence, within its limits
    todo = [p for p in (_resolve(reader, n, doc.path) for n in _imports(doc)) if p is not None]
    while todo and len(seen) < 32:
        path = todo.pop(0)
        if path in seen:
            continue
        seen.add(path)
        try:
            parsed = reader.read(path, _NOWHERE, ())
        except SpecError:
            continue
        data = parsed.data
        if not isinstance(data, dict):
            continue
        lines = parsed.lines
        for name in _keys(data.get("blocks")):
            line = _block_line(lines, name)
            if line is not None and name not in found:
                found[name] = Location(path, line)
        todo.extend(p for p in (_resolve(reader, n, path) for n in _imports(Document(path, data=data)))
                    if p is not None)
    return found


def definition(doc: Document, pos: Position) -> Location | None:
    line, char = pos
    lines = doc.lines
    if not 0 <= line < len(lines):
        return None
    text = lines[line]
    chain = enclosing_keys(lines, line)
    own = _KEY.match(text)
    in_files = {"imports", "extends"} & (set(chain) | ({own.group(2)} if own else set()))
    if in_files:
        found_file = word_at(text, char, _FILE_WORD)
        if found_file and found_file[0].endswith((".yaml", ".yml")):
            path = _resolve(_reader(doc), found_file[0], doc.path)
            return Location(path, 0) if path else None
    found = word_at(text, char)
    if found is None:
        return None
    word = found[0]
    vars_ = doc.data.get("vars")
    if isinstance(vars_, dict) and isinstance(vars_.get(word), str) and not _is_key(text, found):
        word = vars_[word]  # `type: block` with `vars: {block: BasicBlock}`
    if word in _blocks(doc):
        target = _block_line(lines, word)
        if target is not None and target != line:
            return Location(doc.path or "", target)
        return None
    return imported_blocks(doc).get(word)
