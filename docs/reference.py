"""Regenerate the generated parts of docs/spec.md.

    python docs/reference.py           # rewrite docs/spec.md in place
    python docs/reference.py --check   # exit 1 when docs/spec.md is out of date

These blocks are generated; everything else in the page is prose and
is left alone:

``<!-- BEGIN REFERENCE -->`` ... ``<!-- END REFERENCE -->``
    every layer type and functional op of the registry: arguments, types,
    defaults, which are inferred, and the one-line summary.
``<!-- BEGIN LIMITS -->``, ``<!-- BEGIN NAMES -->``
    the size limits and the forbidden names, read from the constants that
    enforce them.
``<!-- BEGIN CODES -->``
    every diagnostic code by stage, from the table in ``netspec/codes.py``.
``<!-- BEGIN FILE specs/x.yaml -->`` ... ``<!-- END FILE -->``
    a shipped spec's text, so the page shows the file as it is.
``<!-- BEGIN RUN netspec ARGS -->`` ... ``<!-- END RUN -->``
    what the real ``netspec`` command prints for ARGS (run in-process with
    click's runner, stdout and stderr as a terminal shows them).
``<!-- spec file=NAME [expect=CODE] -->`` before a ```yaml fence
    is not generated but declares an inline example: it is written as NAME
    beside a copy of specs/, so RUN blocks can name it, and
    tests/test_docs.py checks it validates (or fails with error CODE).

Outputs come from the installed code, never from hand-copied text, so the page
cannot drift from what netspec does: tests/test_docs.py fails until this script
is rerun.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from netspec.frontend.models import pydantic_type

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "spec.md"

BLOCK = re.compile(r"(<!-- BEGIN (?P<kind>[A-Z]+)(?P<arg>[^>]*?) -->\n)(?P<body>.*?)(<!-- END (?P=kind) -->)", re.S)
INLINE = re.compile(r"<!-- spec (?P<attrs>[^>]*?) -->\n```yaml\n(?P<text>.*?)```", re.S)
ATTR = re.compile(r"(\w+)=(\S+)")
INT64_MAX = 2**63 - 1


# ---------------------------------------------------------------- inline examples


@dataclass(frozen=True)
class Example:
    """A ```yaml block of the page marked ``<!-- spec file=NAME expect=CODE -->``."""

    file: str
    expect: str  # "ok" or the error code the spec must fail with
    text: str
    line: int  # where the block starts in the page, for messages


def inline_examples(page: str) -> list[Example]:
    examples: list[Example] = []
    for match in INLINE.finditer(page):
        attrs = dict(ATTR.findall(match["attrs"]))
        if "file" not in attrs:
            raise ValueError(f"docs/spec.md:{_line(page, match.start())}: a spec block needs file=NAME")
        examples.append(Example(attrs["file"], attrs.get("expect", "ok"), match["text"],
                                _line(page, match.start())))
    names = [e.file for e in examples]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"docs/spec.md: inline spec names used twice: {', '.join(duplicates)}")
    return examples


def _line(page: str, offset: int) -> int:
    return page.count("\n", 0, offset) + 1


# ---------------------------------------------------------------- argument types


def type_text(annotation: Any) -> str:
    """A short reading of an argument's type, drawn from the same JSON Schema editors see."""
    return _schema_text(TypeAdapter(pydantic_type(annotation)).json_schema())


def _schema_text(schema: dict[str, Any]) -> str:
    if "anyOf" in schema:
        return " | ".join(_schema_text(s) for s in schema["anyOf"])
    if "enum" in schema:
        return " | ".join(json.dumps(v) for v in schema["enum"])
    if "const" in schema:
        return json.dumps(schema["const"])
    kind = schema.get("type")
    if kind == "array":
        return _array_text(schema)
    names = {"integer": "int", "number": "float", "boolean": "bool", "null": "null", "string": "str"}
    return names.get(str(kind), str(kind)) + _bounds(schema)


def _array_text(schema: dict[str, Any]) -> str:
    if "prefixItems" in schema:
        return "[" + ", ".join(_schema_text(s) for s in schema["prefixItems"]) + "]"
    item = _schema_text(schema.get("items", {}))
    item = f"({item})" if " | " in item else item
    low, high = schema.get("minItems"), schema.get("maxItems")
    if low and high:
        count = f" ({low} to {high} items)"
    elif low:
        count = f" (at least {low})"
    elif high:
        count = f" (at most {high})"
    else:
        count = ""
    return f"list of {item}{count}"


def _bounds(schema: dict[str, Any]) -> str:
    parts = []
    low, high = schema.get("minimum"), schema.get("maximum")
    if low is not None and high is not None and high != INT64_MAX and low != -INT64_MAX:
        return f" in {low}..{high}"
    if low is not None and low != -INT64_MAX:
        parts.append(f" >= {low}")
    if "exclusiveMinimum" in schema:
        parts.append(f" > {schema['exclusiveMinimum']}")
    if high is not None and high != INT64_MAX:
        parts.append(f" <= {high}")
    return "".join(parts)


def yaml_value(value: Any) -> str:
    """A default as it would be written in a spec."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# ---------------------------------------------------------------- the registry


def _arg_line(arg: Any, required: Any) -> str:
    if arg.inferred:
        default = "*inferred* from the input; checked when written"
    elif arg.default is required:
        default = "**required**"
    else:
        default = f"default `{yaml_value(arg.default)}`"
    return f"  - `{arg.name}`: {type_text(arg.annotation)} — {default}"


def layer_entry(layer: Any, required: Any) -> list[str]:
    facts = [f"family `{layer.family}`"]
    facts.append("may be written bare" if layer.bare_ok else "needs arguments")
    if layer.n_inputs > 1:
        facts.append(f"called with {layer.n_inputs} tensors")
    if layer.factory:
        facts.append("takes `device`/`dtype`")
    lines = [f"- **`{layer.name}`** — {layer.summary}. ({'; '.join(facts)})"]
    lines += [_arg_line(arg, required) for arg in layer.args] or ["  - no arguments"]
    return lines


def op_signature(op: Any, required: Any) -> str:
    parts = [t.lstrip("*") + ("=[...]" if t.startswith("*") else "") for t in op.tensors]
    for arg in op.args:
        parts.append(arg.name if arg.default is required else f"{arg.name}={yaml_value(arg.default)}")
    return f"{op.name}({', '.join(parts)})"


def op_entry(op: Any, required: Any, step_ops: tuple[str, ...]) -> list[str]:
    facts = [f"family `{op.family}`", f"generated as `{op.spelling}`"]
    if op.method:
        facts.append(f"also `x.{op.name}(...)`")
    if op.name in step_ops:
        shorthand = f", shorthand value = `{op.args[0].name}`" if op.args else ""
        facts.append(f"one-key step{shorthand}")
    else:
        facts.append("expression only")
    facts += [f"always passes `{k}={v}`" for k, v in op.extra]
    lines = [f"- **`{op_signature(op, required)}`** — {op.summary}. ({'; '.join(facts)})"]
    lines += [f"  - `{t.lstrip('*')}`: {'a list of tensors' if t.startswith('*') else 'a tensor'}" for t in op.tensors]
    lines += [_arg_line(arg, required) for arg in op.args]
    return lines


def reference_block() -> str:
    from netspec.frontend.schema import STEP_OPS
    from netspec.ops import LAYERS, OPS, REQUIRED

    out = [f"### Layer types ({len(LAYERS)}, plus `Sequential`)", ""]
    for family in sorted({layer.family for layer in LAYERS.values()}):
        out += [f"#### {family}", ""]
        for name in sorted(n for n, layer in LAYERS.items() if layer.family == family):
            out += layer_entry(LAYERS[name], REQUIRED)
        out.append("")
    out += [f"### Forward ops ({len(OPS)})", ""]
    for family in sorted({op.family for op in OPS.values()}):
        out += [f"#### {family}", ""]
        for name in sorted(n for n, op in OPS.items() if op.family == family):
            out += op_entry(OPS[name], REQUIRED, STEP_OPS)
        out.append("")
    return "\n".join(out)


# ---------------------------------------------------------------- limits and names


def _schema_of(annotation: Any) -> dict[str, Any]:
    return TypeAdapter(pydantic_type(annotation)).json_schema()


def limits_block() -> str:
    """Every size limit netspec enforces, read from the constants and models that enforce it."""
    from netspec.frontend import expand, expr, models, source, validate
    from netspec.middle import elaborate, resolve, shapes
    from netspec.ops import _core

    name = _schema_of(models.Identifier)
    shape = models.InputSpec.model_json_schema()["properties"]["shape"]
    description = models.Spec.model_json_schema()["properties"]["description"]["anyOf"][0]
    repeat = models.ListItem.model_json_schema()["properties"]["repeat"]
    count = next(c for c in models.RepeatSpec.model_json_schema()["properties"]["count"]["anyOf"]
                 if c.get("type") == "integer")
    rows = [
        ("spec file size", f"{source.MAX_BYTES // 2**20} MiB", "`file-too-large`"),
        ("YAML nesting depth", f"{source.MAX_DEPTH} levels", "`too-deep`"),
        ("YAML nodes (keys, values, items)", f"{source.MAX_NODES:,}", "`too-large`"),
        ("integer literal", f"{source.MAX_INT_DIGITS} characters", "`int-too-large`"),
        ("mapping key", f"{source.MAX_KEY_CHARS} characters, printable", "`bad-key`"),
        ("a name (class, input, layer, parameter, value...)", f"{name['maxLength']} characters", "`bad-name`"),
        ("dims in a shape", f"{shape['maxItems']}", "`bad-value`"),
        ("`description`", f"{description['maxLength']:,} characters", "`bad-value`"),
        ("`repeat` in a ParameterList", f"{repeat['minimum']} to {repeat['maximum']:,}", "`bad-value`"),
        ("`repeat` count of a layer entry, written as a number", f"{count['minimum']} to {count['maximum']:,}",
         "`bad-value`"),
        ("a forward step's text", f"{resolve.MAX_STEP_CHARS:,} characters", "`too-large`"),
        ("syntax nodes in one step", f"{resolve.MAX_EXPR_NODES:,}", "`too-large`"),
        ("nesting of one step's expression", f"{resolve.MAX_EXPR_DEPTH} levels", "`too-deep`"),
        ("parameter tensors declared", f"{resolve.MAX_PARAM_TENSORS:,}", "`too-large`"),
        ("syntax nodes in all of forward", f"{resolve.MAX_FORWARD_NODES:,}", "`too-large`"),
        ("spec files one spec reads (`extends`, `imports`, itself)", f"{expand.MAX_FILES}", "`too-large`"),
        ("bytes of all those files", f"{expand.MAX_TOTAL_BYTES // 2**20} MiB", "`too-large`"),
        ("a build-time expression's text", f"{expr.MAX_EXPR_CHARS:,} characters", "`too-large`"),
        ("syntax nodes in one build-time expression", f"{expr.MAX_EXPR_NODES:,}", "`too-large`"),
        ("items of a list value (var, expression result)", f"{expr.MAX_LIST:,}", "`too-large`"),
        ("items of one value, nested lists included", f"{expr.MAX_ITEMS:,}", "`too-large`"),
        ("nesting of lists in one value", f"{expr.MAX_LIST_DEPTH} levels", "`too-deep`"),
        ("a string value computed by an expression", f"{expr.MAX_STR} characters", "`too-large`"),
        ("items in all of a list that is compared (`==`, `<`, `min`, `max`)", f"{expr.MAX_COMPARED:,}",
         "`too-large`"),
        ("characters of all the root's var values written out (`NETSPEC_VARS`, the summary)",
         f"{expr.MAX_WRITTEN:,}", "`too-large`"),
        ("children built (layers, over all instances and repeats)", f"{elaborate.MAX_CHILDREN:,}", "`too-large`"),
        ("block instances built", f"{elaborate.MAX_INSTANCES:,}", "`too-large`"),
        ("blocks nested inside blocks", f"{elaborate.MAX_NESTING} levels", "`too-deep`"),
        ("statements shape inference executes (all loops, instances and forward-argument combinations)",
         f"{shapes.MAX_EXECUTED:,}", "`too-large`"),
        ("expressions and layers shape inference evaluates (likewise)", f"{shapes.MAX_WORK:,}", "`too-large`"),
        ("rows, events and entries copied for block instances identical to an earlier one (inferred once)",
         f"{shapes.MAX_COPIED:,}", "none: further identical instances are inferred (and counted) again"),
        ("errors reported per spec by the grammar check", f"{validate.MAX_DIAGNOSTICS}",
         "`too-many-errors` (a note: the rest follow once these are fixed)"),
        ("sizes and constants", f"64-bit: at most {_core.INT64_MAX:,}", "`bad-value`, `too-large`"),
        ("elements of one output (symbols count as 1)", f"{shapes.MAX_ACTIVATION:,}", "`activation-size` (warning)"),
        ("parameters, by default", f"{shapes.DEFAULT_MAX_PARAMS:,}",
         "`param-budget` (warning; an error in `netspec.load()`)"),
        ("choice combinations inferred", f"{shapes.MAX_WORLDS}", "none: further combinations are not inferred"),
        ("text of a symbolic dim", f"{_core.MAX_DIM_TEXT} characters",
         "none: a longer expression becomes an opaque symbol `s_<hash>`"),
    ]
    out = ["| limit | value | past it |", "|---|---|---|"]
    out += [f"| {what} | {value} | {code} |" for what, value, code in rows]
    return "\n".join(out)


def names_block() -> str:
    """The names a spec may not use, from the sets resolve checks against."""
    from netspec.middle import resolve

    def words(names: Any) -> str:
        return ", ".join(f"`{n}`" for n in sorted(names, key=str.lower))

    out = [f"- reserved by the generated code: {words(resolve.RESERVED)};",
           f"- `nn.Module` attributes (no layer, parameter, Sequential child or ParameterDict key): "
           f"{words(resolve.MODULE_ATTRIBUTES)};"]
    for container, names in sorted(resolve.CONTAINER_ATTRIBUTES.items()):
        where = "ParameterDict key" if container == "ParameterDict" else f"{container} child name"
        out.append(f"- `nn.{container}` attributes (no {where}): {words(names)};")
    return "\n".join(out)[:-1] + "."


# ---------------------------------------------------------------- files and runs


def file_block(path: str) -> str:
    text = (ROOT / path).read_text(encoding="utf-8")
    return f"```yaml\n{text}{'' if text.endswith(chr(10)) else chr(10)}```\n"


@contextmanager
def workspace(examples: list[Example]) -> Iterator[Path]:
    """A temporary directory holding a copy of specs/ and the page's inline specs, made current."""
    previous = os.getcwd()
    with tempfile.TemporaryDirectory(prefix="netspec-docs-") as tmp:
        shutil.copytree(ROOT / "specs", Path(tmp) / "specs")
        for example in examples:
            (Path(tmp) / example.file).write_text(example.text, encoding="utf-8")
        os.chdir(tmp)
        try:
            yield Path(tmp)
        finally:
            os.chdir(previous)


def run_block(command: str) -> str:
    """The text ``netspec ARGS`` prints, run in the current directory."""
    from click.testing import CliRunner

    from netspec.tools import cli

    argv = shlex.split(command)
    if not argv or argv[0] != "netspec":
        raise ValueError(f"a RUN block runs netspec, found {command!r}")
    clear = getattr(cli._lines, "cache_clear", None)  # the CLI caches source lines by file name
    if clear is not None:
        clear()
    result = CliRunner().invoke(cli.main, argv[1:], prog_name="netspec", catch_exceptions=False)
    lines = [line.rstrip() for line in result.output.splitlines()]
    if result.exit_code:
        lines.append(f"[exit status {result.exit_code}]")
    return "```text\n$ " + command + "\n" + "\n".join(lines) + "\n```\n"


def render(page: str) -> str:
    """The page with every generated block brought up to date."""
    examples = inline_examples(page)

    def replace(match: re.Match[str]) -> str:
        kind, arg = match["kind"], match["arg"].strip()
        if kind == "REFERENCE":
            body = reference_block() + "\n"
        elif kind == "LIMITS":
            body = limits_block() + "\n"
        elif kind == "NAMES":
            body = names_block() + "\n"
        elif kind == "CODES":
            from netspec import codes

            body = codes.markdown() + "\n"
        elif kind == "FILE":
            body = file_block(arg)
        elif kind == "RUN":
            body = run_block(arg)
        else:
            raise ValueError(f"docs/spec.md:{_line(page, match.start())}: unknown block kind {kind}")
        return match.group(1) + body + match.group(5)

    with workspace(examples):
        return BLOCK.sub(replace, page)


def main(argv: list[str]) -> int:
    page = DOC.read_text(encoding="utf-8")
    fresh = render(page)
    if "--check" in argv:
        if fresh != page:
            print("docs/spec.md is out of date: run python docs/reference.py", file=sys.stderr)
            return 1
        return 0
    if fresh != page:
        DOC.write_text(fresh, encoding="utf-8")
        print("rewrote docs/spec.md")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
