"""What the language server knows, free of any LSP library: plain positions in, plain answers out.

Positions here are 0-based ``(line, character)`` pairs, as LSP counts them; netspec's
:class:`~netspec.errors.Span` is 1-based and is converted at the edge.  Everything works
from the document's text, the last YAML that parsed (so completion keeps working while a
line is half typed) and one :class:`Analysis` per text: its diagnostics and what is known of
its shapes, read off the shape trace once and shared by hover, inlay hints and diagnostics.

An invalid spec still has shapes: the analysis repairs what a diagnostic says how to repair (an
unknown key dropped or renamed as its "did you mean" says, a wrong inferred argument left to be
inferred, a broken layer stood in for by a pass-through one whose shapes are then not shown) and
runs the stages again, a bounded number of times, so every independent mistake is its own
diagnostic and every shape before the first unrepairable one is known.  Where the text does not
parse at all, the last analysis that had shapes keeps answering hovers and hints.
"""

from __future__ import annotations

import bisect
import contextlib
import copy
import dataclasses
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .. import api
from ..errors import Diagnostic, Path, Span, SpecError
from ..frontend import expand, files, source
from ..frontend.validate import validate_data
from ..middle import counts, ir, resolve, shapes
from ..middle.elaborate import Instance
from ..middle.shapes import Event, Row
from ..ops import LAYERS, OPS, Dim, fmt_shape

Position = tuple[int, int]  # 0-based line, character

MAX_REPAIRS = 8  # rounds of repair-and-rerun one invalid text gets: each is one run of the pure stages
CACHE_SIZE = 4  # analyses a document keeps, by text (undo, redo, a save of the same text)
MAX_LISTED = 12  # instances a hover lists one by one


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
    hint: str | None = None  # the diagnostic's hint alone (code actions read it)


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


@dataclass(frozen=True)
class Step:
    """One forward step of a definition (the root's or a block's) and what it leaves in each instance."""

    definition: str  # "" for the root, else the block's name
    index: int
    line: int  # 0-based
    start: int  # character where the step's text starts
    end: int  # ... and ends
    layers: frozenset[str]  # the layers it calls
    # (instance path, the "step" event of the value it leaves) for every instance that ran it
    events: tuple[tuple[str, Event], ...]
    # by instance path: the last call or arithmetic it made there (a hover names what made the value)
    makers: dict[str, Event] = field(default_factory=dict)

    @property
    def event(self) -> Event | None:
        """What the step leaves in its first instance (the root's only one)."""
        return self.events[0][1] if self.events else None


@dataclass
class Analysis:
    """One text's diagnostics and what is known of its shapes (all of them, or those up to its errors)."""

    text: str
    problems: list[Problem]
    program: ir.Program | None = None
    trace: list[Event] = field(default_factory=list)
    rows: list[Row] = field(default_factory=list)
    instances: dict[str, Instance] = field(default_factory=dict)
    compiled: api.Compiled | None = None  # set when every stage passed
    own: source.Source | None = None  # this text's own parse, once made (spans for outline and rename)
    file: str = api.TEXT_FILE
    _steps: list[Step] | None = None
    _first: dict[str, Event] | None = None
    _hints: list[tuple[Position, str]] | None = None
    _tried: bool = False

    @property
    def parsed(self) -> source.Source | None:
        """This text's own parse (not the merged one a compile makes of it), made when first asked: a text that
        compiled needs none to answer diagnostics, hovers or hints; None where the text does not parse."""
        if self.own is None and not self._tried:
            self._tried = True
            with contextlib.suppress(SpecError):  # None: the text does not parse
                self.own = parse(self.text, self.file)
        return self.own

    @property
    def complete(self) -> bool:
        return self.compiled is not None

    @property
    def has_shapes(self) -> bool:
        return self.program is not None and bool(self.trace)


@dataclass
class Document:
    """A spec as the editor holds it, and what netspec made of it."""

    path: str | None  # the file it is saved as; None for an untitled buffer
    text: str = ""
    problems: list[Problem] = field(default_factory=list)
    analysis: Analysis | None = None  # the current text's
    shown: Analysis | None = None  # the last analysis with shapes: hovers and hints read it
    cache: dict[str, Analysis] = field(default_factory=dict)
    # analyses the cache let go of, freed by release(): after the answer, not inside it
    retired: list[Analysis] = field(default_factory=list, repr=False)
    _data: dict[str, Any] = field(default_factory=dict, repr=False)
    _unread: Analysis | None = field(default=None, repr=False)  # an analysis whose text data has not read

    @property
    def data(self) -> dict[str, Any]:
        """The last text that parsed, as plain data (completion reads it while a line is half typed)."""
        if self._unread is not None:
            self._unread = None
            for analysis in reversed(self.cache.values()):  # the latest text first
                parsed = analysis.parsed
                if parsed is not None and isinstance(parsed.data, dict):
                    self._data = parsed.data
                    break
        return self._data

    @property
    def compiled(self) -> api.Compiled | None:
        """The last text that compiled completely."""
        return self.shown.compiled if self.shown is not None else None

    @property
    def lines(self) -> list[str]:
        return self.text.splitlines()

    def update(self, text: str) -> list[Problem]:
        """Take the new text: parse it, analyse it, and return its diagnostics.

        The limits ``netspec validate`` applies to a file come first, so a document too big or too deep
        is refused at once with the diagnostic validate gives, before anything parses all of it."""
        self.release()  # what the last update let go of, if no one freed it since
        self.text = text
        analysis = self.cache.pop(text, None)
        if analysis is None or not _still_current(self, analysis):
            analysis = analyse(self, text)
        self.cache[text] = analysis  # most recent last
        while len(self.cache) > CACHE_SIZE:
            self.retired.append(self.cache.pop(next(iter(self.cache))))
        self.analysis = self._unread = analysis
        if analysis.has_shapes or self.shown is None or analysis.parsed is not None:
            self.shown = analysis  # else (the text does not parse): the last analysis with shapes keeps answering
        self.problems = analysis.problems
        return self.problems

    def answer(self, text: str, send: Callable[[list[Problem]], None]) -> None:
        """:meth:`update` to ``text`` and its diagnostics handed to ``send`` (the server publishes them); then what
        can wait for the editor's next request. The collector stays paused until ``send`` returns: its pass over
        what the analysis made (3-4 ms on a 1,000-layer spec) and freeing the analyses the cache let go of come
        after the answer, not inside it."""
        with api.gc_paused():
            send(self.update(text))
        self.release()

    def release(self) -> None:
        """Free the analyses :meth:`update` let go of, and netspec's compile cache of their texts. The server
        calls it once the diagnostics are sent: freeing a large spec's analysis (a 1,000-layer one's inference,
        trace and hovers: 2-5 ms) then costs the editor no wait."""
        for analysis in self.retired:
            api.cache_discard(text=analysis.text, filename=self.path)
        self.retired.clear()


def _check_size(text: str, file: str) -> None:
    """The size check of a file read from disk, with its diagnostic (file-too-large)."""
    if len(text) > source.MAX_BYTES // 4 and len(text.encode("utf-8", "surrogatepass")) > source.MAX_BYTES:
        source.decode(text.encode("utf-8", "surrogatepass")[: source.MAX_BYTES + 1], file)


def _still_current(doc: Document, analysis: Analysis) -> bool:
    """Whether an analysis kept for the same text still holds: the files it imports are unchanged (netspec's
    compile cache checks them for a text that compiled; a text that did not is kept only if it imports none)."""
    if analysis.compiled is not None:
        try:
            return api.compile_spec(text=analysis.text, filename=doc.path) is analysis.compiled
        except SpecError:
            return False
    return "imports" not in analysis.text and "extends" not in analysis.text


def parse(text: str, file: str) -> source.Source:
    """``text`` parsed under the limits a spec file gets (size, depth, nodes: :mod:`netspec.frontend.source`)."""
    _check_size(text, file)
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
    return Problem(where, d.severity, d.code, message, d.hint)


def _naming_line(lines: list[str], file: str | None) -> int:
    """The 1-based line that names ``file`` (an import or extends), else 1."""
    if file:
        name = os.path.basename(file)
        for i, text in enumerate(lines, 1):
            if name and name in text:
                return i
    return 1


def analyse(doc: Document, text: str) -> Analysis:
    """The text's diagnostics and shapes: the pipeline once; on errors, the repair rounds of :func:`_partial`."""
    lines = text.splitlines()
    file = doc.path or api.TEXT_FILE
    try:
        _check_size(text, file)  # the limits first: a text too big is never parsed
        compiled = api.compile_spec(text=text, filename=doc.path)
    except SpecError as exc:
        try:
            parsed = parse(text, file)
        except SpecError as parse_error:  # the compile stopped at the same parse with the same error
            return Analysis(text, [problem(doc, d, lines) for d in parse_error.diagnostics], file=file, _tried=True)
        with api.gc_paused():
            return _partial(doc, text, parsed, exc.diagnostics)
    except Exception as exc:  # a bug in netspec (or a guard parse() has: say what parse says)
        try:
            parse(text, file)
        except SpecError as parse_error:
            return Analysis(text, [problem(doc, d, lines) for d in parse_error.diagnostics], file=file, _tried=True)
        return Analysis(text, [Problem(_place(lines, 1, 1), "error", None,
                                       f"netspec failed: {type(exc).__name__}: {exc}")], file=file)
    inference = compiled.inference
    return Analysis(text, [problem(doc, d, lines) for d in compiled.warnings], inference.program,
                    inference.trace, inference.rows, inference.instances, compiled, file=file)


def compile_problems(doc: Document, text: str) -> list[Problem]:
    """The diagnostics of ``text`` (what :meth:`Document.update` publishes), without keeping it."""
    return analyse(doc, text).problems


# ---------------------------------------------------------------------------------------------- partial results

# A layer that returns its input, drawn from the registry: it stands in for a layer nothing can repair.
_PASS = next(name for name, layer in LAYERS.items() if layer.passthrough and not layer.args and layer.n_inputs == 1)
_SUGGESTION = re.compile(r"did you mean '([^']+)'\?")


def _layer_prefix(path: Path) -> Path | None:
    """The path of the layer entry ``path`` is in (``('layers', 'fc3')``, ``('blocks', 'B', 'layers', 'conv')``)."""
    if len(path) >= 2 and path[0] == "layers":
        return path[:2]
    if len(path) >= 4 and path[0] == "blocks" and path[2] == "layers":
        return path[:4]
    return None


def _node(data: Any, path: Path) -> Any:
    for key in path:
        listed = isinstance(data, list) and isinstance(key, int) and 0 <= key < len(data)
        if not listed and not (isinstance(data, dict) and key in data):
            return None
        data = data[key]
    return data


@dataclass
class _Repair:
    """What the repair rounds changed: layers made pass-through (their shapes unknown) and layers touched."""

    stand_ins: list[Path] = field(default_factory=list)
    touched: list[Path] = field(default_factory=list)

    def covers(self, path: Path) -> bool:
        return any(path[:len(p)] == p for p in self.touched)


def _repair(data: Any, d: Diagnostic, stage: str, repair: _Repair) -> bool:
    """Change ``data`` (a copy) so that ``d`` is gone, as its hint says or by the least guess; False if
    nothing can be done (a mistake outside any layer: the rounds stop there)."""
    path = d.path
    layer = _layer_prefix(path)
    scope = path[:-2]
    if d.code == "unknown-name" and path[-2:-1] == ("forward",) and scope in ((), path[:2]) \
            and isinstance(_node(data, path), str) and _WORD.fullmatch(_node(data, path)):
        # a step naming no layer: a pass-through layer of that name stands in, and shapes from it on are not shown
        layers = _node(data, (*scope, "layers"))
        name = _node(data, path)
        if isinstance(layers, dict) and name not in layers:
            layers[name] = {"type": _PASS}
            repair.stand_ins.append((*scope, "layers", name))
            repair.touched.append(path)
            return True
        return False
    if layer is None:
        return False
    parent_path, key = path[:-1], path[-1] if path else None
    parent = _node(data, parent_path)
    suggestion = _SUGGESTION.search(d.hint or "")
    if stage == "shapes":  # a wrong inferred argument: leave it to be inferred, as the hint says
        entry = _node(data, layer)
        if isinstance(entry, dict) and isinstance(entry.get("type"), str) and entry["type"] in LAYERS:
            inferred = [a.name for a in LAYERS[entry["type"]].args if a.inferred and a.name in entry]
            if inferred and layer not in repair.touched:
                for name in inferred:
                    del entry[name]
                repair.touched.append(layer)
                return True
        return False
    if layer in repair.stand_ins:
        return False
    repair.touched.append(layer)
    if d.code == "unknown-key" and isinstance(parent, dict) and key in parent and len(path) > len(layer):
        if suggestion and suggestion.group(1) not in parent:  # renamed as "did you mean" says, order kept
            new = {(suggestion.group(1) if k == key else k): v for k, v in parent.items()}
            parent.clear()
            parent.update(new)
        else:
            del parent[key]  # a key no layer reads changes nothing when dropped
        return True
    if d.code == "unknown-layer" and suggestion and isinstance(parent, dict) and key == "type" \
            and suggestion.group(1) in LAYERS:
        parent["type"] = suggestion.group(1)
        return True
    # anything else: the layer stands in as a pass-through, and shapes from it on are not shown
    holder = _node(data, layer[:-1])
    if isinstance(holder, dict) and layer[-1] in holder:
        holder[layer[-1]] = {"type": _PASS}
        repair.stand_ins.append(layer)
        return True
    return False


def _cut(trace: list[Event], stand_ins: list[Path]) -> tuple[list[Event], bool]:
    """The trace up to the first event of a stand-in layer (what comes after it is not known)."""
    if not stand_ins:
        return trace, False
    for i, event in enumerate(trace):
        path = getattr(event.node, "path", None) if isinstance(event.node, ir.Layer) else None
        if path is not None and any(tuple(path[:len(p)]) == p for p in stand_ins):
            return trace[:i], True
    return trace, False


def _partial(doc: Document, text: str, parsed: source.Source, first: list[Diagnostic]) -> Analysis:
    """Everything that can be known of an invalid text: its mistakes, each once, and the shapes they leave."""
    lines = text.splitlines()
    found: list[Diagnostic] = list(first)
    seen = {(d.code, d.span, d.path) for d in first}
    analysis = Analysis(text, [], file=parsed.file)  # its own parse made again when asked: expand may merge into it
    file = doc.path or api.TEXT_FILE
    try:
        current = expand.expand(parsed, expand.reader_for(file), None)
    except SpecError:
        current = None  # an import refused: nothing further is known
    except Exception:  # a bug in netspec: the first diagnostics stand
        current = None
    repair = _Repair()
    if current is not None:
        current = dataclasses.replace(current, data=copy.deepcopy(current.data))

    def add(diagnostics: list[Diagnostic], stage: str) -> None:
        for d in diagnostics:
            key = (d.code, d.span, d.path)
            if key in seen or (d.severity == "error" and repair.covers(d.path)):
                continue
            seen.add(key)
            found.append(d)

    for _ in range(MAX_REPAIRS if current is not None else 0):
        assert current is not None
        stage = "grammar"
        keep: list[shapes.Shared] = []
        try:
            spec = validate_data(current)
            stage = "resolve"
            program = resolve.resolve(spec, current)
            stage = "shapes"
            inference = shapes.infer(program, keep)
        except SpecError as exc:
            errors = [d for d in exc.diagnostics if d.severity == "error"]
            if stage == "shapes" and keep:
                trace, cut = _cut(keep[0].trace or [], repair.stand_ins)
                if trace:
                    analysis.program, analysis.trace = program, trace
                    analysis.rows, analysis.instances = keep[0].rows, keep[0].instances
                if cut:  # the error comes after a stand-in: a consequence of the guess, not a mistake
                    break
            add(errors, stage)
            if not all(_repair(current.data, d, stage, repair) for d in errors) or not errors:
                break
            continue
        except Exception:  # a repair netspec cannot take: what is known so far stands
            break
        trace, _ = _cut(inference.trace, repair.stand_ins)
        analysis.program, analysis.trace = inference.program, trace
        analysis.rows, analysis.instances = inference.rows, inference.instances
        break
    analysis.problems = [problem(doc, d, lines) for d in found]
    return analysis


# ---------------------------------------------------------------------------------------------- forward steps


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


def _step_extent(lines: list[str], line: int, start: int, end: int) -> tuple[int, int]:
    """The last line and character of a forward step written at ``line``:``start``..``end``: past ``end`` when it
    goes on below (a block scalar, ``- |``, or a plain scalar folded over lines), on every line indented deeper
    than its ``-``."""
    prefix = lines[line][:start].rstrip()
    if not prefix.endswith("-"):  # in a flow list, `forward: [a, b]`: one line
        return line, end
    dash = len(prefix) - 1
    last = (line, end)
    for i in range(line + 1, len(lines)):
        text = lines[i]
        if not text.strip():
            continue
        if len(text) - len(text.lstrip()) <= dash:
            break
        last = (i, len(text.rstrip()))
    return last


def _calls(trace: list[Event]) -> list[Event]:
    """The trace's calls, each once, in order: a layer, an op, a matmul, a Sequential or block (at its exit)."""
    return [e for e in trace if e.row is not None and e.kind != "enter"]


_MADE = frozenset({"step", "arith", "neg", "index"})


def _value_text(value: Any) -> str | None:
    """A step's value as a hint shows it: a tensor's shape; a tuple's tensors, nested ones in brackets (an LSTM's
    ``(N, T, 5), [(1, N, 5), (1, N, 5)]``); None for a value with no tensor in it (a size, ``x.shape``)."""
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        return fmt_shape(value.shape)
    if not isinstance(value, tuple) or not any(_value_text(v) is not None for v in value):
        return None
    return ", ".join(_value_text(v) or ("None" if v is None else repr(v)) if not isinstance(v, tuple)
                     else f"[{_value_text(v) or repr(v)}]" for v in value)


def _output_shape(output: Any) -> tuple[Dim, ...]:
    """The shape an event gives: its tensor's, or the first of several (chunk's, MultiheadAttention's)."""
    if isinstance(output, tuple):
        return output[0].shape if output else ()
    return output.shape  # type: ignore[no-any-return]


def _place_events(events: list[Event], starts: list[tuple[int, int]], ends: list[tuple[int, int, int]],
                  here: Callable[[str], bool]) -> dict[int, Event]:
    """Which step each of one instance's events belongs to (the last per step), by where it happened
    (``Event.span``: the call or the arithmetic in forward; ``starts``: each step's first character, in order;
    ``ends``: its last line and character, and its index). A layer inside a Sequential is said to happen where it
    is written, in no step: the Sequential's exit stands for it."""
    last: dict[int, Event] = {}
    for event in events:
        span = event.span
        if span is None or not here(span.file):
            continue
        at = (span.line - 1, span.col - 1)
        k = bisect.bisect_right(starts, at) - 1
        if k >= 0 and at <= ends[k][:2]:
            last[ends[k][2]] = event
    return last


def _analysis(doc: Document) -> Analysis | None:
    shown = doc.shown
    return shown if shown is not None and shown.program is not None else None


def steps(doc: Document) -> list[Step]:
    """Every definition's forward steps (the root's and each block's written in this document), each with
    where it is written and the shape it leaves in each instance; computed once per analysis."""
    analysis = _analysis(doc)
    if analysis is None:
        return []
    if analysis._steps is None:
        with api.gc_paused():
            analysis._steps = _steps(doc, analysis)
    return analysis._steps


def _steps(doc: Document, analysis: Analysis) -> list[Step]:
    assert analysis.program is not None
    lines = analysis.text.splitlines()
    by_instance: dict[str, list[Event]] = {}
    for event in analysis.trace:  # values, and what made them: calls and arithmetic
        if event.kind in _MADE or (event.row is not None and event.kind != "enter"):
            by_instance.setdefault(event.instance, []).append(event)
    prefixes: dict[int, list[str]] = {}
    for prefix, instance in analysis.instances.items():
        prefixes.setdefault(id(instance.definition), []).append(prefix)
    known: dict[str, bool] = {}

    def here(file: str) -> bool:
        if file not in known:
            known[file] = _in_doc(file, doc)
        return known[file]

    out: list[Step] = []
    for definition in (analysis.program.root, *analysis.program.blocks.values()):
        spans = definition.source.spans
        body = definition.body
        placed = [(i, span) for i in range(len(body)) for span in [spans.get((*definition.path, "forward", i))]
                  if span is not None and here(span.file) and 0 <= span.line - 1 < len(lines)]
        if not placed:
            continue
        layer_names = {str(layer.key) for layer in definition.layers}
        calls: list[frozenset[str]] = [frozenset()] * len(body)
        where: list[tuple[int, int, int]] = []  # line, start, end of each placed step (its first line)
        extents: list[tuple[int, int]] = []  # the last line and character of each
        for i, span in placed:
            line, start = span.line - 1, span.col - 1
            end = _step_end(lines[line], start)
            where.append((line, start, end))
            extents.append(_step_extent(lines, line, start, end))
            written = "\n".join([lines[line][start:end], *lines[line + 1:extents[-1][0] + 1]])
            calls[i] = frozenset(_WORD.findall(written)) & layer_names
        order = sorted(range(len(placed)), key=lambda k: where[k][:2])
        starts = [where[k][:2] for k in order]
        ends = [(*extents[k], placed[k][0]) for k in order]
        per_instance = []
        for prefix in prefixes.get(id(definition), []):
            events = by_instance.get(prefix, [])
            per_instance.append((prefix, _place_events([e for e in events if e.kind == "step"], starts, ends, here),
                                 _place_events([e for e in events if e.kind != "step"], starts, ends, here)))
        name = "" if definition.is_root else str(definition.path[-1])
        for (i, _), (line, start, end) in zip(placed, where, strict=True):
            left = tuple((prefix, values[i]) for prefix, values, _ in per_instance if i in values)
            made = {prefix: last[i] for prefix, _, last in per_instance if i in last}
            out.append(Step(name, i, line, start, end, calls[i], left, made))
    return out


def _hint_label(step: Step, analysis: Analysis) -> str | None:
    shapes_ = [_value_text(event.output) for _, event in step.events]
    if not shapes_ or None in shapes_:
        return None
    distinct = list(dict.fromkeys(shapes_))
    if len(distinct) == 1:
        return f"-> {distinct[0]}"
    symbolic = _symbolic(step, analysis)
    if symbolic is not None:
        return f"-> {symbolic}"
    return f"-> {shapes_[0]} (+{len(distinct) - 1} more)"


def _block_names(step: Step, analysis: Analysis) -> list[dict[str, int]]:
    """For each instance running ``step``: the integer values its names hold (arguments, vars, and the symbols of
    its declared input shape, read off the input it was given)."""
    assert analysis.program is not None
    definition = analysis.program.blocks[step.definition]
    entered = {e.path: e for e in analysis.trace if e.kind == "enter" and e.type == step.definition}
    out = []
    for prefix, _ in step.events:
        instance = analysis.instances.get(prefix)
        values = {k: v for k, v in (instance.env.items() if instance else ()) if type(v) is int}
        enter = entered.get(prefix)
        tensors = [t for t in (enter.inputs if enter is not None else ()) if hasattr(t, "shape")]
        for declared, tensor in zip(definition.inputs, tensors, strict=False):
            if len(declared.shape) == len(tensor.shape):
                values.update({d: v for d, v in zip(declared.shape, tensor.shape, strict=True)
                               if isinstance(d, str) and type(v) is int})
        out.append(values)
    return out


def _symbolic(step: Step, analysis: Analysis) -> str | None:
    """The shape a block's step gives in every instance written with the block's names (``(N, planes, H/stride,
    W/stride)``), where one name, a product of two or a quotient of two fits every instance exactly; else None."""
    if not all(hasattr(event.output, "shape") for _, event in step.events):
        return None  # a tuple: each instance's written out
    shapes_ = [_output_shape(event.output) for _, event in step.events]
    if len({len(s) for s in shapes_}) != 1 or step.definition not in (analysis.program.blocks if analysis.program
                                                                       else {}):
        return None
    names = _block_names(step, analysis)
    shared_names = set.intersection(*(set(v) for v in names)) if names else set()
    declared = analysis.program.blocks[step.definition].inputs  # type: ignore[union-attr]
    own = declared[0].shape if declared else ()
    out = []
    for i in range(len(shapes_[0])):
        # the input's own symbol at this position first (W, not H, for the last dim of a square image)
        common = sorted(shared_names, key=lambda n: (i >= len(own) or n != own[i], n))
        column = [s[i] for s in shapes_]
        if all(d == column[0] for d in column):
            out.append(str(column[0]))
            continue
        if not all(type(d) is int for d in column):
            return None
        found = next((a for a in common if all(v[a] == d for v, d in zip(names, column, strict=True))), None)
        if found is None:
            found = next((f"{a} * {b}" for a in common for b in common if a <= b
                          and all(v[a] * v[b] == d for v, d in zip(names, column, strict=True))), None)
        if found is None:
            found = next((f"{a}/{b}" for a in common for b in common if a != b
                          and all(v[b] and v[b] * d == v[a] for v, d in zip(names, column, strict=True))), None)
        if found is None:
            return None
        out.append(found)
    return "(" + ", ".join(out) + ")"


def inlay_hints(doc: Document) -> list[tuple[Position, str]]:
    """``-> (N, 6, 28, 28)`` after each forward step, a block's too: the shape every instance gives, else the
    shape in the block's names where they fit every instance (``(N, planes, H/stride, W/stride)``), else the
    first instance's and how many other shapes the rest give."""
    analysis = _analysis(doc)
    if analysis is None:
        return []
    if analysis._hints is None:
        out = []
        for s in steps(doc):
            label = _hint_label(s, analysis)
            if label is not None:
                out.append(((s.line, s.end), label))
        analysis._hints = sorted(out)
    return list(analysis._hints)


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


def _row_text(title: str, row: Row, shown: str) -> str:
    return "\n".join([
        f"**{title}**: `{row.type}`",
        "",
        f"- output shape: `{shown}`",
        f"- parameters: {_count(row.params)}",
        f"- MACs per sample: {_count(counts.per_sample(row.macs))}",
    ])


def _event_text(title: str, event: Event) -> str:
    """A call's hover: its row (type, output shape, parameters, MACs per sample)."""
    assert event.row is not None
    return _row_text(title, event.row, fmt_shape(_output_shape(event.output)))


def _step_text(title: str, value: Event, last: Event | None) -> str:
    """A forward step's hover: the value it leaves (every tensor of a tuple), and what made it where the step's
    last call or arithmetic did (a call's row: parameters and MACs; an operator); else the value alone
    (indexing a call's output, a tuple taken apart, a name)."""
    shown = _value_text(value.output) or "?"
    if last is not None and last.output is value.output:
        if last.row is not None:
            return _row_text(title, last.row, shown)
        return f"**{title}**: `{last.type}`\n\n- output shape: `{shown}`"
    return f"**{title}**\n\n- output shape: `{shown}`"


def _instances_text(title: str, events: list[tuple[str, Event]], head: str | None = None) -> str:
    """A block's step or layer: the first instance's row (or ``head``), then what it gives in every instance."""
    head = head if head is not None else _event_text(title, events[0][1])
    listed = [f"- `{prefix}`: `{_value_text(event.output) or fmt_shape(_output_shape(event.output))}`"
              for prefix, event in events[:MAX_LISTED]]
    if len(events) > MAX_LISTED:
        listed.append(f"- ... {len(events) - MAX_LISTED} more")
    return head + f"\n\nin {len(events)} instance(s):\n" + "\n".join(listed)


def _first_calls(analysis: Analysis) -> dict[str, Event]:
    """A layer's first call, by its row's module path; computed once per analysis."""
    if analysis._first is None:
        with api.gc_paused():
            analysis._first = _first_events(analysis)
    return analysis._first


def _first_events(analysis: Analysis) -> dict[str, Event]:
    first: dict[str, Event] = {}
    for event in _calls(analysis.trace):
        assert event.row is not None
        first.setdefault(event.row.path, event)
    return first


def _partial_note(doc: Document) -> str:
    analysis = doc.analysis
    if analysis is not None and analysis is not doc.shown:
        return "\n\n_(from the last text that had shapes: this one does not parse or check that far)_"
    if analysis is not None and not analysis.complete:
        return "\n\n_(partial: the spec has errors; shapes up to them)_"
    return ""


def hover(doc: Document, pos: Position) -> str | None:
    """Markdown for what is at ``pos``: a layer or forward step (root or block: its output shape in every
    instance, parameters, MACs), a var or a block argument (its value, per instance)."""
    text = _hover(doc, pos)
    return None if text is None else text + _partial_note(doc)


def _hover(doc: Document, pos: Position) -> str | None:
    line, char = pos
    analysis = _analysis(doc)
    lines = doc.lines  # positions are the current text's (an analysis kept from an earlier one may lag)
    if analysis is None or not 0 <= line < len(lines):
        return None
    found = word_at(lines[line], char)
    first = _first_calls(analysis)
    # a forward step: the layer named under the cursor, else the step's result
    for step in steps(doc):
        if step.line == line and step.start <= char <= step.end:
            if not step.definition:
                if found and found[0] in step.layers and found[0] in first:
                    return _event_text(found[0], first[found[0]])
                if step.event is not None and _value_text(step.event.output) is not None:
                    return _step_text(f"forward step {step.index}", step.event, step.makers.get(""))
                continue
            if found and found[0] in step.layers:
                calls = _layer_calls(analysis, step.definition, found[0])
                if calls:
                    return _instances_text(f"{step.definition}.{found[0]}", calls)
            if step.events and all(_value_text(e.output) is not None for _, e in step.events):
                title = f"{step.definition} forward step {step.index}"
                prefix, first_value = step.events[0]
                return _instances_text(title, list(step.events),
                                       _step_text(title, first_value, step.makers.get(prefix)))
    if found is None:
        return None
    word = found[0]
    model = analysis.program.root if analysis.program is not None else None
    key = model.source.key_spans.get(("layers", word)) if model is not None else None
    if key is not None and key.line - 1 == line and word in first:
        return _event_text(word, first[word])
    chain = enclosing_keys(lines, line)
    # a layer inside a block: every instance of it
    if len(chain) >= 3 and chain[0] == "blocks" and chain[2] == "layers" and _is_key(lines[line], found) \
            and len(chain) == 3:
        calls = _layer_calls(analysis, chain[1], word)
        if calls:
            return _instances_text(f"{chain[1]}.{word}", calls)
    return _name_hover(analysis, chain, lines[line], found)


def _layer_calls(analysis: Analysis, block: str, layer: str) -> list[tuple[str, Event]]:
    """The first call of ``layer`` in each instance of ``block``."""
    first = _first_calls(analysis)
    definition = analysis.program.blocks.get(block) if analysis.program is not None else None
    out = []
    for prefix, instance in analysis.instances.items():
        if instance.definition is definition and prefix:
            event = first.get(f"{prefix}.{layer}")
            if event is not None:
                out.append((prefix, event))
    return out


def _value(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _name_hover(analysis: Analysis, chain: list[str], text: str, found: tuple[str, int, int]) -> str | None:
    """A var of the root or a block, or a block's argument, where it is declared or used."""
    program = analysis.program
    if program is None:
        return None
    word = found[0]
    block = chain[1] if len(chain) >= 2 and chain[0] == "blocks" else None
    if block is not None and block in program.blocks:
        definition = program.blocks[block]
        kind = next((f"argument of {block}" + (f" ({a.kind})" if a.kind else "")
                     for a in definition.block_args if a.name == word), None)
        if kind is None and any(v.name == word for v in definition.vars):
            kind = f"var of {block}"
        if kind is None:
            return None
        values = [(prefix, inst.env[word]) for prefix, inst in analysis.instances.items()
                  if inst.definition is definition and prefix and word in inst.env]
        listed = [f"- `{prefix}`: `{_value(v)}`" for prefix, v in values[:MAX_LISTED]]
        if len(values) > MAX_LISTED:
            listed.append(f"- ... {len(values) - MAX_LISTED} more")
        distinct = {_value(v) for _, v in values}
        head = f"**{word}**: {kind}"
        if len(distinct) == 1:
            return head + f"\n\n- value: `{distinct.pop()}` in all {len(values)} instance(s)"
        return head + (f"\n\nin {len(values)} instance(s):\n" + "\n".join(listed) if listed else "\n\nno instance")
    if any(v.name == word for v in program.root.vars) and word in program.var_values:
        return f"**{word}**: var\n\n- value: `{_value(program.var_values[word])}`"
    if word in program.root.args:
        return f"**{word}**: forward argument\n\n- default: `{_value(program.root.args[word])}`"
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
        todo.extend(p for p in (_resolve(reader, n, path) for n in _imports(Document(path), data))
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


# ---------------------------------------------------------------------------------------------- outline


@dataclass(frozen=True)
class Symbol:
    """One entry of the document's outline."""

    name: str
    kind: str  # "layer", "block", "var", "argument", "input", "forward"
    detail: str
    range: Range  # the whole entry
    selection: Range  # its name
    children: tuple[Symbol, ...] = ()


def _parsed(doc: Document) -> source.Source | None:
    """The latest parse of the document: the current text's, else the last text that parsed."""
    for analysis in (doc.analysis, doc.shown):
        if analysis is not None and analysis.parsed is not None:
            return analysis.parsed
    return None


def _key_range(parsed: source.Source, path: Path, name: str) -> Range | None:
    span = parsed.key_spans.get(path)
    if span is None or span.file != parsed.file:
        return None
    line, col = span.line - 1, span.col - 1
    text = parsed.lines[line] if 0 <= line < len(parsed.lines) else ""
    if text[col:col + len(name)] != name and text[col + 1:col + 1 + len(name)] == name:
        col += 1  # a quoted key
    return Range((line, col), (line, col + len(name)))


def _extent(lines: list[str], line: int, last: int) -> int:
    """The last line of the entry whose key is on ``line``: before the next line indented no deeper."""
    indent = len(lines[line]) - len(lines[line].lstrip())
    end = line
    for i in range(line + 1, min(last, len(lines) - 1) + 1):
        stripped = lines[i].lstrip()
        if not stripped or stripped.startswith("#"):
            continue
        if len(lines[i]) - len(stripped) <= indent and not stripped.startswith(("-", "]", "}")):
            break
        if len(lines[i]) - len(stripped) < indent:
            break
        end = i
    return end


def _entries(parsed: source.Source, section: Path, kind: str, detail: Any, last: int) -> list[Symbol]:
    node = _node(parsed.data, section)
    if not isinstance(node, dict):
        return []
    out = []
    lines = parsed.lines
    for key, value in node.items():
        name = str(key)
        selection = _key_range(parsed, (*section, key), name)
        if selection is None:
            continue
        end = _extent(lines, selection.start[0], last)
        whole = Range((selection.start[0], 0), (end, len(lines[end]) if end < len(lines) else 0))
        out.append(Symbol(name, kind, detail(value), whole, selection))
    return out


def _layer_detail(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return str(value.get("type", "Sequential" if "layers" in value else ""))
    if isinstance(value, list):
        return f"{len(value)} layers"
    return ""


def symbols(doc: Document) -> list[Symbol]:
    """The outline: vars, inputs, blocks (their args, vars and layers inside), layers, forward."""
    parsed = _parsed(doc)
    if parsed is None or not isinstance(parsed.data, dict):
        return []
    last = len(parsed.lines) - 1
    out: list[Symbol] = []
    out += _entries(parsed, ("vars",), "var", _value, last)
    out += _entries(parsed, ("inputs",), "input", _value, last)
    for block in _entries(parsed, ("blocks",), "block", lambda _: "block", last):
        end = block.range.end[0]
        inner = [*_entries(parsed, ("blocks", block.name, "args"), "argument", _value, end),
                 *_entries(parsed, ("blocks", block.name, "vars"), "var", _value, end),
                 *_entries(parsed, ("blocks", block.name, "layers"), "layer", _layer_detail, end)]
        out.append(dataclasses.replace(block, children=tuple(inner)))
    out += _entries(parsed, ("layers",), "layer", _layer_detail, last)
    forward = _key_range(parsed, ("forward",), "forward")
    if forward is not None:
        end = _extent(parsed.lines, forward.start[0], last)
        out.append(Symbol("forward", "forward", "", Range(forward.start, (end, len(parsed.lines[end]))), forward))
    return sorted(out, key=lambda s: s.selection.start)


# ---------------------------------------------------------------------------------------------- rename

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


class RenameError(ValueError):
    """A rename that cannot be made; the message says why."""


def _definition_at(parsed: source.Source, line: int) -> Path:
    """``('blocks', 'B')`` when 0-based ``line`` is inside block B, else ``()``."""
    chain = enclosing_keys(parsed.lines, line)
    own = _KEY.match(parsed.lines[line]) if 0 <= line < len(parsed.lines) else None
    if chain[:1] == ["blocks"] and len(chain) >= 2:
        return ("blocks", chain[1])
    if chain == ["blocks"] and own:
        return ("blocks", own.group(2))
    return ()


def _forward_edits(parsed: source.Source, scope: Path, old: str, new: str) -> list[tuple[Range, str]]:
    """``old`` as a name in the forward steps of ``scope`` (not an attribute, a key or a string)."""
    forward = parsed.key_spans.get((*scope, "forward"))
    if forward is None or forward.file != parsed.file:
        return []
    lines = parsed.lines
    first = forward.line - 1
    last = _extent(lines, first, len(lines) - 1)
    pattern = re.compile(rf"(?<![\w.'\"]){re.escape(old)}(?![\w'\"])")
    edits = []
    for i in range(first, last + 1):
        text = lines[i].split(" #", 1)[0]
        begin = text.index(":") + 1 if i == first and ":" in text else 0
        for match in pattern.finditer(text, begin):
            if text[match.end():].lstrip().startswith(":") and not text[match.end():].lstrip().startswith("::"):
                continue  # an op step's key (`- max_pool2d: 2`) is never a layer
            edits.append((Range((i, match.start()), (i, match.end())), new))
    return edits


def _scalar_edits(parsed: source.Source, old: str, new: str) -> list[tuple[Range, str]]:
    """Every scalar value that is exactly ``old`` outside forward (``type: B``, ``bn: B``, ``vars: {b: B}``), and
    every key ``old`` in an ``init`` pass."""
    edits = []

    def walk(node: Any, path: Path) -> None:
        if path[:1] == ("forward",) or path[2:3] == ("forward",) or path[:1] == ("inputs",):
            return
        if isinstance(node, dict):
            for key, value in node.items():
                if key == old and "init" in path:  # an initialiser pass's key naming the block
                    where = _key_range(parsed, (*path, key), old)
                    if where is not None:
                        edits.append((where, new))
                walk(value, (*path, key))
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, (*path, i))
        elif node == old:
            span = parsed.spans.get(path)
            if span is None or span.file != parsed.file or not 0 < span.line <= len(parsed.lines):
                return
            line, col = span.line - 1, span.col - 1
            text = parsed.lines[line]
            if text[col:col + len(old)] != old and text[col + 1:col + 1 + len(old)] == old:
                col += 1
            if text[col:col + len(old)] == old:
                edits.append((Range((line, col), (line, col + len(old))), new))

    walk(parsed.data, ())
    return edits


def rename(doc: Document, pos: Position, new: str) -> list[tuple[Range, str]] | None:
    """The edits that rename the layer or block at ``pos`` to ``new`` across this document: its key, its
    uses in forward (a layer's, in its own definition) or as a type (a block's); None if nothing renamable
    is there.  Raises :class:`RenameError` for a name that is no identifier or is already taken."""
    target = prepare_rename(doc, pos)
    if target is None:
        return None
    parsed = _parsed(doc)
    assert parsed is not None
    kind, scope, old = target
    if not _IDENT.match(new):
        raise RenameError(f"{new!r} is not a name: letters, digits and '_', not starting with a digit")
    if kind == "block":
        taken = _keys(_node(parsed.data, ("blocks",))) + list(LAYERS)
        if new in taken and new != old:
            raise RenameError(f"'{new}' is already a block or a layer type")
        key = _key_range(parsed, ("blocks", old), old)
        edits = ([(key, new)] if key else []) + _scalar_edits(parsed, old, new)
    else:
        taken = _keys(_node(parsed.data, (*scope, "layers")))
        if new in taken and new != old:
            raise RenameError(f"'{new}' is already a layer here")
        key = _key_range(parsed, (*scope, "layers", old), old)
        edits = ([(key, new)] if key else []) + _forward_edits(parsed, scope, old, new)
    return sorted(set(edits), key=lambda e: e[0].start)


def prepare_rename(doc: Document, pos: Position) -> tuple[str, Path, str] | None:
    """What a rename at ``pos`` would rename: ("layer", its definition's path, name) or ("block", (), name)."""
    parsed = _parsed(doc)
    line, char = pos
    if parsed is None or parsed.text != doc.text or not 0 <= line < len(parsed.lines):
        return None  # renaming needs the current text parsed
    found = word_at(parsed.lines[line], char)
    if found is None:
        return None
    word = found[0]
    if word in _keys(_node(parsed.data, ("blocks",))):
        return ("block", (), word)
    scope = _definition_at(parsed, line)
    if word in _keys(_node(parsed.data, (*scope, "layers"))):
        return ("layer", scope, word)
    return None


# ---------------------------------------------------------------------------------------------- code actions


@dataclass(frozen=True)
class Action:
    """A quick fix: what a diagnostic's hint says to write, as edits."""

    title: str
    problem: Problem
    edits: tuple[tuple[Range, str], ...]


_SET = re.compile(r"^set ([A-Za-z_]\w*): ([^\s,;]+)")
_QUOTE = re.compile(r"quote the expression, \"(.+)\"$")


def _value_range(text: str, line: int, key: str, start: int) -> Range | None:
    """The value after ``key:`` on ``text`` (a flow mapping's: up to its comma or brace)."""
    match = re.compile(rf"(?<![\w.]){re.escape(key)}\s*:\s*").search(text, max(start - len(key) - 2, 0))
    if match is None:
        match = re.compile(rf"(?<![\w.]){re.escape(key)}\s*:\s*").search(text)
    if match is None:
        return None
    end = match.end()
    depth = 0
    while end < len(text):
        ch = text[end]
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        elif (ch in ",}" and depth <= 0) or (ch == "#" and text[end - 1].isspace()):
            break
        end += 1
    value_end = match.end() + len(text[match.end():end].rstrip())
    return Range((line, match.end()), (line, value_end))


def _fixes(doc: Document, p: Problem) -> list[Action]:
    hint = p.hint or ""
    lines = doc.lines
    line, col = p.range.start
    if not 0 <= line < len(lines):
        return []
    text = lines[line]
    out: list[Action] = []
    suggestion = _SUGGESTION.search(hint)
    token = text[p.range.start[1]:p.range.end[1]]
    if suggestion and token:
        new = suggestion.group(1)
        word = word_at(text, col)
        if word is not None and word[1] == col:
            out.append(Action(f"did you mean '{new}'? change '{word[0]}' to '{new}'", p,
                              ((Range((line, word[1]), (line, word[2])), new),)))
    setting = _SET.match(hint)
    if setting:
        key, value = setting.groups()
        where = _value_range(text, line, key, col)
        if where is not None:
            out.append(Action(f"set {key}: {value}", p, ((where, value),)))
    quoted = _QUOTE.search(hint)
    if quoted:
        expression = quoted.group(1)
        at = text.find(expression)
        if at >= 0 and '"' not in expression:
            out.append(Action("quote this expression", p,
                              ((Range((line, at), (line, at + len(expression))), f'"{expression}"'),)))
    if "quote the step if it is an expression" in hint:
        step = re.match(r"^(\s*-\s+)(.*?)\s*$", text)
        if step and '"' not in step.group(2):
            out.append(Action("quote this step", p, ((Range((line, len(step.group(1))), (line, len(text.rstrip()))),
                                                      f'"{step.group(2)}"'),)))
    return out


def code_actions(doc: Document, where: Range) -> list[Action]:
    """The quick fixes of the current diagnostics on the lines of ``where``, each once."""
    out: list[Action] = []
    seen: set[tuple[tuple[Range, str], ...]] = set()
    for p in doc.problems:
        if p.range.end[0] < where.start[0] or p.range.start[0] > where.end[0]:
            continue
        for action in _fixes(doc, p):
            if action.edits not in seen:
                seen.add(action.edits)
                out.append(action)
    return out


# ---------------------------------------------------------------------------------------------- semantic tokens

# What each name in a spec is, as an editor colours it: a block is a class, a layer type a type, a layer a
# variable, a var a read-only variable, a block argument (and a root input) a parameter, an op a function.
TOKEN_TYPES = ("class", "type", "variable", "parameter", "function")
TOKEN_MODIFIERS = ("declaration", "readonly")
# What the names a definition declares are, by section; in this order, a later section's name wins (a layer over
# an argument of the same name, as in forward).
_SECTION_KINDS = {"inputs": ("parameter", ()), "vars": ("variable", ("readonly",)), "args": ("parameter", ()),
                  "layers": ("variable", ())}


@dataclass(frozen=True, order=True)
class Token:
    """One coloured name: 0-based line and character, its length, its type and modifiers."""

    line: int
    start: int
    length: int
    type: str
    modifiers: tuple[str, ...] = ()


_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")


def semantic_tokens(doc: Document) -> list[Token]:
    """Every block, layer type, layer, var, block argument, input and op the current text names, in order: their
    keys (declarations), the names in forward steps and in expressions, and ``type:`` values.  Empty while the
    current text does not parse (positions would not match it)."""
    parsed = _parsed(doc)
    if parsed is None or parsed.text != doc.text or not isinstance(parsed.data, dict):
        return []
    blocks = _keys(_node(parsed.data, ("blocks",)))
    tokens: set[Token] = set()
    for block in blocks:
        tokens |= _declared(parsed, ("blocks",), [block], "class")
    for scope in [(), *(("blocks", block) for block in blocks)]:
        kinds = _scope_kinds(parsed, scope, blocks)
        for section, (kind, modifiers) in _SECTION_KINDS.items():
            names = _keys(_node(parsed.data, (*scope, section)))
            tokens |= _declared(parsed, (*scope, section), names, kind, modifiers)
        tokens |= _forward_tokens(parsed, scope, kinds)
        tokens |= _value_tokens(parsed, scope, kinds)
    return sorted(tokens)


def _scope_kinds(parsed: source.Source, scope: Path, blocks: list[str]) -> dict[str, tuple[str, tuple[str, ...]]]:
    """What each name means inside one definition: its layers, args, vars and inputs over the blocks and ops."""
    kinds: dict[str, tuple[str, tuple[str, ...]]] = {name: ("class", ()) for name in blocks}
    kinds |= {name: ("function", ()) for name in OPS}
    for section, kind in _SECTION_KINDS.items():
        kinds |= {name: kind for name in _keys(_node(parsed.data, (*scope, section)))}
    return kinds


def _declared(parsed: source.Source, section: Path, names: list[str], kind: str,
              modifiers: tuple[str, ...] = ()) -> set[Token]:
    out = set()
    for name in names:
        where = _key_range(parsed, (*section, name), name)
        if where is not None:
            out.add(Token(where.start[0], where.start[1], len(name), kind, ("declaration", *modifiers)))
    return out


def _words(line: int, text: str, begin: int, kinds: Mapping[str, tuple[str, tuple[str, ...]]],
           calls_only: bool = False) -> set[Token]:
    """The names ``kinds`` knows in ``text`` from ``begin``: not attributes (``x.shape``), keyword names
    (``dim=1``) or words inside quotes; ops only where called (``calls_only``: in an argument's expression, where
    a bare word is a name: ``act: relu`` is not the op)."""
    blanked = _QUOTED.sub(lambda m: " " * len(m.group()), text)
    out = set()
    for match in _WORD.finditer(blanked, begin):
        word, start, end = match.group(), match.start(), match.end()
        known = kinds.get(word)
        if known is None or (start and blanked[start - 1] == "."):
            continue
        after = blanked[end:].lstrip()
        if (after.startswith("=") and not after.startswith("==")) or \
                (calls_only and known[0] == "function" and not after.startswith("(")):
            continue
        out.add(Token(line, start, end - start, known[0], known[1]))
    return out


def _forward_tokens(parsed: source.Source, scope: Path,
                    kinds: Mapping[str, tuple[str, tuple[str, ...]]]) -> set[Token]:
    """The names in the forward steps of ``scope``: each step's expression, and an op step's key
    (``- max_pool2d: 2``)."""
    out: set[Token] = set()

    def walk(node: Any, path: Path) -> None:
        if isinstance(node, str):
            out.update(_scalar_tokens(parsed, path, node, kinds))
        elif isinstance(node, list):
            for i, item in enumerate(node):
                walk(item, (*path, i))
        elif isinstance(node, dict):
            for key, value in node.items():
                known = kinds.get(str(key))
                where = _key_range(parsed, (*path, key), str(key))
                if known is not None and where is not None:
                    out.add(Token(where.start[0], where.start[1], len(str(key)), *known))
                walk(value, (*path, key))

    walk(_node(parsed.data, (*scope, "forward")), (*scope, "forward"))
    return out


def _value_tokens(parsed: source.Source, scope: Path, kinds: Mapping[str, tuple[str, tuple[str, ...]]]) -> set[Token]:
    """``type:`` values (a block or a layer type) and the names in expressions, in the layers, args and vars of
    ``scope`` (a nested ``layers:`` included)."""
    out: set[Token] = set()

    def walk(node: Any, path: Path) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, (*path, key))
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, (*path, i))
        elif isinstance(node, str):
            out.update(_scalar_tokens(parsed, path, node, kinds))

    for section in ("layers", "args", "vars"):
        walk(_node(parsed.data, (*scope, section)), (*scope, section))
    return out


def _names_a_type(path: Path) -> bool:
    """Whether a string at ``path`` names a layer type or a block: ``type: X``, a layer written as its type
    (``relu: ReLU``), or an item of a layer list (``seq: [ReLU, ...]``)."""
    return path[-1] == "type" or path[-2:-1] == ("layers",) or (
        isinstance(path[-1], int) and path[-3:-2] == ("layers",))


def _scalar_tokens(parsed: source.Source, path: Path, value: str,
                   kinds: Mapping[str, tuple[str, tuple[str, ...]]]) -> set[Token]:
    span = parsed.spans.get(path)
    if span is None or span.file != parsed.file or not 0 < span.line <= len(parsed.lines):
        return set()
    line, col = span.line - 1, span.col - 1
    text = parsed.lines[line]
    if text[col:col + len(value)] != value and text[col + 1:col + 1 + len(value)] == value:
        col += 1  # a quoted scalar
    if text[col:col + len(value)] != value:
        return set()  # written over several lines or with escapes: not placed
    if _names_a_type(path):  # a layer type, a block, or a var that names one
        known = ("type", ()) if value in LAYERS else kinds.get(value)
        return {Token(line, col, len(value), *known)} if known is not None and known[0] != "function" else set()
    return _words(line, text[:col + len(value)], col, kinds, calls_only=path[-2:-1] != ("forward",))
