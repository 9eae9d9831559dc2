"""The ``netspec`` command, on click.  With :mod:`netspec.tools.launch` (the script, which runs a plain
``netspec validate FILE...`` itself and hands every other command line here), the only module that prints or
exits; both print through :mod:`netspec.tools.terminal`.

Exit status: 0 all good, 1 a spec is invalid, missing or unreadable (or an output
cannot be written), 2 usage errors (click's own), 3 an internal error, which is a
bug to report.  ``-`` as a spec reads it from stdin (``<stdin>`` in diagnostics).
Diagnostics are coloured on a terminal only; ``NO_COLOR`` turns colour off and
``FORCE_COLOR`` on (https://no-color.org).
"""

from __future__ import annotations

import dataclasses
import gc
import json
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, BinaryIO

import click

from .. import api, plugins
from ..backend import summary as summary_table
from ..errors import Diagnostic, Span, SpecError, printable
from ..frontend import expand, files, schema, shipped, source
from ..middle import shapes
from ..ops import LAYERS, OPS, fmt_shape
from . import report, terminal
from .terminal import STDIN

# The text read from stdin, so its diagnostics can show the line and caret as a file's do.
_stdin_lines: list[str] | None = None


def _lines(file: str) -> list[str] | None:
    return _stdin_lines if file == STDIN else terminal.file_lines(file)


class _ClickConsole:
    """:class:`terminal.Console` through ``click.echo``: click's test runner and its colour setting see it."""

    def out(self, text: str) -> None:
        click.echo(text)

    def err(self, text: str) -> None:
        click.echo(text, err=True)

    def diagnostic(self, text: str) -> None:
        click.echo(text, err=True, color=terminal.colour())


_CONSOLE = _ClickConsole()


def _emit(diagnostics: list[Diagnostic]) -> None:
    terminal.emit(diagnostics, _CONSOLE, _lines)


# Where the running command keeps its --set and --search-path: in its click context, not in this module.
_SETTINGS = "netspec.settings"


def _compile(spec: str) -> api.Compiled:
    """The spec named on the command line: ``-`` is stdin, else a file or a shipped spec's name."""
    settings = click.get_current_context().meta.get(_SETTINGS, {})
    options = {"overrides": settings.get("overrides") or None, "search_path": settings.get("search_path", ()),
               "config": settings.get("config")}
    if spec == "-":
        return api.compile_spec(text=_read_stdin(), filename=STDIN, **options)
    return api.compile_spec(spec, **options)


def _plugin_option(func: Callable[..., Any]) -> Callable[..., Any]:
    """``--plugin FILE.py|package.module|@entry-points`` (repeatable): the user's layer types, loaded first."""

    def wrapper(*args: Any, plugin_names: tuple[str, ...] = (), **kwargs: Any) -> Any:
        try:
            plugins.load_plugins(plugin_names)
        except plugins.PluginError as exc:  # a usage error: the command line named something unusable
            click.echo(f"netspec: error: --plugin: {printable(str(exc))}", err=True)
            sys.exit(2)
        return func(*args, **kwargs)

    wrapper.__name__ = func.__name__
    wrapper.__doc__ = func.__doc__
    return click.option("--plugin", "plugin_names", multiple=True, metavar="FILE.py|MODULE|@entry-points",
                        help="Load your own layer types (@netspec.layer) from a Python file, an importable "
                             "module, or every installed package's 'netspec.layers' entry point.")(wrapper)


def _spec_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """``--set NAME=VALUE`` (a var, the value read as YAML), ``--config FILE`` (a Hugging Face config.json read
    into the vars; --set wins), ``--search-path DIR`` and ``--plugin`` on a command."""

    @_plugin_option
    def wrapper(*args: Any, settings: tuple[str, ...] = (), search_path: tuple[str, ...] = (),
                config: str | None = None, **kwargs: Any) -> Any:
        overrides = {}
        with _reporting():  # a malformed --set is reported like a spec problem, exit 1
            for text in settings:
                name, value = expand.parse_override(text)
                overrides[name] = value
        click.get_current_context().meta[_SETTINGS] = {"overrides": overrides, "search_path": search_path,
                                                       "config": config}
        return func(*args, **kwargs)

    wrapper.__name__ = func.__name__
    wrapper.__doc__ = func.__doc__
    wrapper = click.option("--search-path", "search_path", multiple=True, metavar="DIR",
                           type=click.Path(file_okay=False),
                           help="Also let imports and extends read spec files from DIR.")(wrapper)
    wrapper = click.option("--config", "config", metavar="FILE", default=None,
                           help="Set the spec's vars from a Hugging Face config.json (fields named as the vars; "
                                "--set wins). See docs/huggingface.md.")(wrapper)
    return click.option("--set", "settings", multiple=True, metavar="NAME=VALUE",
                        help="Set one of the spec's vars, e.g. --set width=64 --set 'layers=[3, 4, 6, 3]'.")(wrapper)


def _read_stdin() -> str:
    global _stdin_lines
    # bytes, not text: the same decoding (UTF-8, BOM, NUL and size checks) as a file gets
    stream: BinaryIO = sys.stdin.buffer
    raw = stream.read(source.MAX_BYTES + 1)
    text = source.decode(raw, STDIN)
    _stdin_lines = text.splitlines()
    return text


def _complete_spec(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
    """Shell completion: the shipped specs' names, then files as the shell completes them."""
    del ctx, param
    from click.shell_completion import CompletionItem

    names = [CompletionItem(name) for name in shipped.shipped() if name.startswith(incomplete)]
    return [*names, CompletionItem(incomplete, type="file")]


# A spec argument: a file, a shipped spec's name, or ``-``.  Not dir_okay=False: click would
# exit 2 for a directory, while a missing file exits 1; both are a spec that cannot be read.
_SPEC_PATH = click.Path(allow_dash=True)


_PASS_THROUGH = (KeyboardInterrupt, click.exceptions.Exit, click.ClickException, SystemExit)


def _report(exc: Exception) -> int:
    """Print a failure compiler-style, never as a traceback; return the exit status it means."""
    return terminal.report(exc, _CONSOLE, _lines)


@contextmanager
def _reporting() -> Iterator[None]:
    try:
        yield
    except _PASS_THROUGH:
        raise
    except BrokenPipeError:  # `netspec list | head`: the reader left; stop quietly, as cat does
        terminal.silence_stdout()
        sys.exit(1)
    except Exception as exc:  # the last line of defence against tracebacks
        sys.exit(_report(exc))


def _command(func: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with _reporting():
            return func(*args, **kwargs)

    wrapper.__name__ = func.__name__
    wrapper.__doc__ = func.__doc__
    return wrapper


_MAIN_EPILOG = """\b
Examples:
  netspec list                          the specs netspec ships
  netspec summary lenet                 a shipped spec by name, from any directory
  netspec validate specs/*.yaml         your own files
  cat model.yaml | netspec validate -   a spec on stdin

\b
Shell completion (bash; zsh_source and fish_source likewise):
  eval "$(_NETSPEC_COMPLETE=bash_source netspec)"
"""


# Commands that run for long (the language server): the interpreter's usual collection and teardown.
_LONG_RUNNING = frozenset({"lsp"})
# Commands that never build a torch module: the collector is off for them.  The others (export, dump, and summary
# and graph, which build with --weights or a FILE.py:CLASS target) may make much garbage: the collector stays on,
# the import-time objects frozen.
_PURE = frozenset({"validate", "compile", "schema", "layers", "list"})


class _Netspec(click.Group):
    """The command group.  Called as a function (the ``netspec`` script, ``python -m netspec``) with no arguments
    of its own, a one-shot command spends nothing on what only a long-lived process needs: the cyclic collector
    does not scan the objects alive after imports (frozen) and, for the commands that never build a module, does
    not run at all; at the end the streams are flushed, ``atexit`` handlers run, and the process exits without the
    interpreter's teardown (freeing every module's objects one by one: ~40 ms).  ``main([...])``, click's test
    runner (which calls :meth:`main`, not this) and ``standalone_mode=False`` behave as any click group.  (The
    override is ``__call__``, not ``main``: an extra frame under every command changed where the interpreter's
    deep recursion crosses CPython 3.11's 16 KiB frame-stack chunks, which then thrashed on mmap/munmap.)"""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        command = _command_name(sys.argv[1:])
        if args or kwargs.get("args") is not None or not kwargs.get("standalone_mode", True) or \
                command in _LONG_RUNNING:
            return self.main(*args, **kwargs)
        gc.freeze()
        if command in _PURE:
            gc.disable()
        try:
            self.main(**kwargs)
            status: Any = 0
        except SystemExit as exc:
            status = exc.code
        terminal.exit_now(status)


def _command_name(argv: list[str]) -> str | None:
    """The subcommand a command line names: its first word that is not an option (the group's options take no
    value)."""
    return next((word for word in argv if not word.startswith("-")), None)


@click.group(cls=_Netspec, context_settings={"help_option_names": ["-h", "--help"]}, epilog=_MAIN_EPILOG)
@click.version_option(package_name="netspec")
def main() -> None:
    """Compile declarative YAML model specs into PyTorch nn.Module classes.

    SPEC is a file, the name of a shipped spec (see `netspec list`), or - for stdin.
    """


_max_params_option = click.option(
    "--max-params", type=click.IntRange(min=0), default=None, metavar="N",
    help="Warn past N parameters (default: the budget netspec.load enforces, 10,000,000,000).")


def _budget_warnings(compiled: api.Compiled, max_params: int | None) -> list[Diagnostic]:
    """The spec's warnings, with the parameter budget checked against ``max_params`` when given."""
    if max_params is None:
        return compiled.warnings
    kept = [w for w in compiled.warnings if w.code != "param-budget"]
    try:
        shapes.check_budget(compiled.inference, max_params)
    except SpecError as exc:  # over budget is a warning here: validate allocates nothing
        kept += [dataclasses.replace(d, severity="warning") for d in exc.diagnostics]
    return kept


@main.command(epilog="""\b
Examples:
  netspec validate specs/*.yaml
  netspec validate --format sarif specs/*.yaml > netspec.sarif   # CI code scanning
  netspec validate --format json - < model.yaml
""")
@click.argument("specs", nargs=-1, required=True, type=_SPEC_PATH, shell_complete=_complete_spec)
@click.option("-q", "--quiet", is_flag=True, help="Print only problems.")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "sarif"]), default="text", show_default=True,
              help="json and sarif (SARIF 2.1.0, for CI annotations) print one document on stdout, "
                   "invalid specs included.")
@click.option("--json", "as_json", is_flag=True, help="Same as --format json.")
@_max_params_option
@_spec_options
@_command
def validate(specs: tuple[str, ...], quiet: bool, fmt: str, as_json: bool, max_params: int | None) -> None:
    """Check SPECS: grammar, names and every shape. Exit 1 if any is invalid."""
    if as_json or fmt != "text":
        _validate_for_tools(specs, "json" if as_json else fmt, max_params)
        return
    status = terminal.validate(specs, quiet, _CONSOLE, _compile,
                               lambda compiled: _budget_warnings(compiled, max_params), _lines)
    if status:
        sys.exit(status)


def _validate_for_tools(specs: tuple[str, ...], fmt: str, max_params: int | None) -> None:
    """One JSON or SARIF document on stdout, valid and invalid specs alike; exit 1 if any is invalid."""
    reports = [_check(spec, max_params) for spec in specs]
    document = report.sarif(reports) if fmt == "sarif" else report.reports_json(reports)
    click.echo(json.dumps(document, indent=2))
    if not all(r.valid for r in reports):
        sys.exit(1)


def _check(spec: str, max_params: int | None) -> report.SpecReport:
    """A spec's diagnostics as data; anything but a spec problem still goes to :func:`_report`."""
    file = terminal.display(spec)
    try:
        compiled = _compile(spec)
    except SpecError as exc:
        return report.SpecReport(file, list(exc.diagnostics))
    except RecursionError:
        return report.SpecReport(file, [Diagnostic("too-deep", "the spec is nested too deeply to process",
                                                   Span(file, 0, 0))])
    return report.SpecReport(file, _budget_warnings(compiled, max_params), compiled.name,
                             compiled.inference.total_params)


@main.command(name="compile", epilog="""\b
Examples:
  netspec compile specs/alexnet.yaml -o alexnet.py
  netspec compile lenet                 # a shipped spec, by name
""")
@click.argument("spec", type=_SPEC_PATH, shell_complete=_complete_spec)
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write here (atomically) instead of stdout.")
@_spec_options
@_command
def compile_(spec: str, output: str | None) -> None:
    """Print the standalone PyTorch source of SPEC's module."""
    compiled = _compile(spec)  # one read of the file: the warnings and the code come from it
    _emit(compiled.warnings)
    if output is None:
        click.echo(compiled.source_code, nl=False)
        return
    write_atomic(output, compiled.source_code, spec, compiled.files)
    click.echo(f"wrote {printable(output)}", err=True)


def write_atomic(target: str, text: str | bytes, spec: str, reads: Iterable[str] = ()) -> None:
    """Replace ``target`` in one step (:func:`netspec.frontend.files.write_atomic`): never the spec (the file
    ``spec`` names or resolves to, a shipped spec's name included) or a file it ``reads``, never a
    FIFO or a device; a refusal or a failed write is a usage error (exit 1), not a traceback."""
    try:
        files.write_atomic(target, text, _spec_file(spec), reads,
                           refusal_note=" (omit -o to print to stdout)" if isinstance(text, str) else "")
    except SpecError as exc:
        raise click.ClickException(exc.diagnostics[0].message) from None


def _spec_file(spec: str) -> str | None:
    """The file a spec argument reads: ``lenet`` in a clone's root is ``specs/lenet.yaml``."""
    if spec == "-":
        return None
    try:
        return os.fspath(shipped.resolve(spec))
    except SpecError:
        return spec


@main.command(epilog="""\b
Examples:
  netspec summary vgg16                 # a shipped spec, by name
  netspec summary --json specs/lenet.yaml | jq .total_params
  netspec summary lenet --batch 32      # shapes, MACs and memory figures at a batch of 32
  netspec summary resnet18 --dtype bf16 # memory figures for the module built in bfloat16
  netspec summary resnet18 --depth 0    # the top-level layers (torchinfo's depth=1)
  netspec summary lenet --columns input_size,output_size,mult_adds
  netspec summary models.py:Net --input x=N,3,224,224   # any nn.Module class
""")
@click.argument("spec", type=_SPEC_PATH, shell_complete=_complete_spec)
@click.option("--json", "as_json", is_flag=True,
              help="Print machine-readable JSON (for an invalid spec, its diagnostics).")
@click.option("--depth", type=click.IntRange(min=0), default=None, metavar="N",
              help="Fold what nests deeper than N: 0 the top-level layers and blocks (each with its totals), 1 "
                   "what they hold too (as graph --depth counts; torchinfo's depth=N+1 shows the same rows).")
@click.option("--batch", type=click.IntRange(min=1), default=1, metavar="B",
              help="Bind the batch dim N to B: shapes, MACs and memory figures at that batch (default 1; "
                   "the MACs per sample line stays).")
@click.option("--dtype", type=click.Choice(sorted(api.DTYPE_NAMES), case_sensitive=False), default=None,
              metavar="DTYPE", help="Memory figures for the module built in DTYPE, as load(..., dtype=) builds "
              "it (bf16, fp16, float64...): floating parameters, buffers, inputs and activations.")
@click.option("--columns", default=",".join(api.DEFAULT_COLUMNS), metavar="COLS",
              help="Comma-separated table columns after Layer and Type: " + ", ".join(api.COLUMNS)
              + f" (default {','.join(api.DEFAULT_COLUMNS)}).")
@click.option("--input", "input_specs", multiple=True, metavar="[NAME=]D1,D2,...[:DTYPE]",
              help="For FILE.py:CLASS: an input shape (repeatable, one per forward input), N the batch; "
                   "DTYPE such as int64 for token ids (default: the module's).")
@click.option("--weights", "weights", metavar="NAME|FILE", default=None,
              help="Check these weights against the module (every key and shape, on the meta device: nothing "
                   "allocated) and say where they were loaded from: a name the spec's weights: section declares, "
                   "a .pt/.pth state_dict or a .safetensors file. Imports torch; without it summary never does.")
@_max_params_option
@_spec_options
@_command
def summary(spec: str, as_json: bool, max_params: int | None, depth: int | None, batch: int, columns: str,
            input_specs: tuple[str, ...] = (), dtype: str | None = None, weights: str | None = None) -> None:
    """Show every layer's output shape, parameter count and MACs, with totals and memory figures.

    SPEC may also be FILE.py:CLASS, any nn.Module class (built with no arguments, run once on the meta
    device with hooks): give its input shapes with --input.
    """
    chosen = [c.strip() for c in columns.split(",") if c.strip()]
    unknown = [c for c in chosen if c not in api.COLUMNS]
    if unknown or not chosen:
        raise click.BadParameter(summary_table.column_error(unknown[0]) if unknown else
                                 f"no column named; the columns are {', '.join(api.COLUMNS)}",
                                 param_hint="'--columns'")
    if _is_module_target(spec) and weights is not None:
        raise click.UsageError("--weights is for a spec; load a module's weights in its own code")
    if _is_module_target(spec):
        module_result = _module_summary(spec, input_specs, batch, as_json, dtype=dtype)
        _emit(module_result.warnings)
        click.echo(json.dumps(module_result.to_json(), indent=2) if as_json else module_result.render(depth, chosen))
        return
    if input_specs:
        raise click.UsageError("--input is for FILE.py:CLASS; a spec declares its own inputs")
    try:
        compiled = _compile(spec)
    except SpecError as exc:
        if as_json:  # tools get data on stdout even for a refused spec; people get the text on stderr
            click.echo(json.dumps(report.reports_json([report.SpecReport(terminal.display(spec), exc.diagnostics)]),
                                  indent=2))
        raise
    result = api.summarise(compiled, batch=batch, dtype=dtype)
    _emit(_budget_warnings(compiled, max_params) if max_params is not None else result.warnings)
    loaded = None if weights is None else api.check_weights(compiled, weights, progress=True)
    if as_json:
        data = result.to_json()
        if loaded is not None:
            data["weights"] = {"weights": weights, "loaded_from": loaded}
        click.echo(json.dumps(data, indent=2))
    else:
        click.echo(result.render(depth, chosen))
        if loaded is not None:
            named = "" if loaded == weights else f" ({weights})"
            click.echo(f"Weights: loaded from {printable(loaded)}{named}; every key and shape matches")


@main.command(name="schema", epilog="""\b
Example:
  netspec schema > netspec.schema.json  # for an editor's YAML language server
""")
@_plugin_option
def schema_() -> None:
    """Print the JSON Schema of the spec format."""
    click.echo(schema.json_schema_text(), nl=False)


@main.command(epilog="""\b
Examples:
  netspec layers | grep Conv
  netspec layers --json
""")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
@_plugin_option
@_command
def layers(as_json: bool) -> None:
    """List the layer types and forward ops netspec knows."""
    if as_json:
        click.echo(json.dumps(_layers_json(), indent=2))
        return
    click.echo("Layer types (layers: {type: NAME, ...}):")
    for name, layer in sorted(LAYERS.items()):
        args = ", ".join(a.name + ("?" if a.inferred else "") for a in layer.args)
        click.echo(f"  {name}({args})  {layer.summary}")
    click.echo("  Sequential(layers)  layers applied in order")
    click.echo("Forward ops:")
    for name, op in sorted(OPS.items()):
        click.echo(f"  {name}({', '.join(op.params)})  {op.summary}")


def _layers_json() -> dict[str, Any]:
    layer_types = [{"name": name, "family": layer.family, "summary": layer.summary,
                    "args": [{"name": a.name, "required": a.required, "inferred": a.inferred} for a in layer.args]}
                   for name, layer in sorted(LAYERS.items())]
    layer_types.append({"name": "Sequential", "family": "container", "summary": "layers applied in order",
                        "args": [{"name": "layers", "required": True, "inferred": False}]})
    ops = [{"name": name, "family": op.family, "summary": op.summary, "params": list(op.params)}
           for name, op in sorted(OPS.items())]
    return {"layers": layer_types, "ops": ops}


@main.command(name="list", epilog="""\b
Examples:
  netspec list
  netspec list --json
  netspec summary alexnet               # any listed name works where a SPEC goes
""")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
@_command
def list_(as_json: bool) -> None:
    """List the specs netspec ships: name, model, parameters, input and output shape."""
    rows, failed = [], 0
    for name, path in shipped.shipped().items():
        try:
            result = api.summary(path)
        except SpecError as exc:  # a broken shipped spec is a bug, but the others still list
            _emit(exc.diagnostics)
            failed += 1
            continue
        rows.append({"name": name, "model": result.name, "total_params": result.total_params,
                     "inputs": {k: list(v) for k, v in result.inputs.items()},
                     "output_shape": list(result.output_shape)})
    if as_json:
        click.echo(json.dumps(rows, indent=2))
    else:
        _print_table(rows)
    if failed:
        sys.exit(1)


def _print_table(rows: list[dict[str, Any]]) -> None:
    header = ("NAME", "MODEL", "PARAMS", "INPUT", "OUTPUT")
    body = [(r["name"], r["model"], f"{r['total_params']:,}",
             ", ".join(f"{k} {fmt_shape(tuple(v))}" for k, v in r["inputs"].items()),
             fmt_shape(tuple(r["output_shape"]))) for r in rows]
    widths = [max(len(row[i]) for row in [header, *body]) for i in range(len(header))]
    for row in [header, *body]:
        cells = [cell.rjust(width) if i == 2 else cell.ljust(width)  # the count right-aligned
                 for i, (cell, width) in enumerate(zip(row, widths, strict=True))]
        click.echo("  ".join(cells).rstrip())


# -o's extension -> the picture's format
_GRAPH_FORMATS = {".dot": "dot", ".gv": "dot", ".svg": "svg", ".mmd": "mmd", ".mermaid": "mmd", ".html": "html",
                  ".htm": "html"}


def _render_picture(picture: Any, fmt: str, depth: int | None = None) -> str:
    """The picture in ``fmt`` (one of graph.FORMATS), folded at ``depth``: the HTML page gets the whole graph
    and starts folded there (default 1), as it folds and unfolds itself; graph.py stays below graph_html.py."""
    from ..backend import graph as graphs

    if fmt == "html":
        from ..backend.graph_html import to_html

        return to_html(picture, depth=1 if depth is None else depth)
    writers = {"dot": graphs.to_dot, "svg": graphs.to_svg, "mmd": graphs.to_mermaid}
    return writers[fmt](picture if depth is None else graphs.collapse(picture, depth))


@main.command(name="graph", epilog="""\b
Examples:
  netspec graph lenet -o lenet.svg                    # Graphviz's dot lays it out
  netspec graph resnet18 -o resnet18.html             # fold blocks, hover nodes
  netspec graph resnet18 --only layer2 -o layer2.svg  # one block or Sequential
  netspec graph resnet50 --depth 1 -o overview.svg    # each block one node
  netspec graph mlp --format mmd                      # Mermaid, for Markdown
  netspec graph models.py:Net --input x=N,3,32,32 -o net.html   # any nn.Module class
""")
@click.argument("spec", type=_SPEC_PATH, shell_complete=_complete_spec)
@click.option("-o", "--output", type=click.Path(dir_okay=False),
              help="Write here (atomically) instead of stdout; the extension picks the format: "
                   ".svg, .dot, .mmd or .html.")
@click.option("--format", "fmt", type=click.Choice(["dot", "svg", "mmd", "html"]), default=None,
              help="The format, overriding the extension (default: from -o, else dot).")
@click.option("--only", metavar="PATH", default=None,
              help="Draw only the block or Sequential at this module path (e.g. layer2.0).")
@click.option("--depth", type=click.IntRange(min=0), default=None, metavar="N",
              help="Fold each block and Sequential nested at depth N into one node with its totals, as "
                   "summary --depth counts (0: the top-level ones); .html starts folded there (default 1).")
@click.option("--input", "input_specs", multiple=True, metavar="[NAME=]D1,D2,...[:DTYPE]",
              help="For FILE.py:CLASS: an input shape, as summary takes it (repeatable).")
@_spec_options
@_command
def graph_(spec: str, output: str | None, fmt: str | None, only: str | None, depth: int | None,
           input_specs: tuple[str, ...] = ()) -> None:
    """Draw SPEC's data flow: layers and ops, blocks as clusters, the tensor shape on every edge.

    SPEC may also be FILE.py:CLASS with --input, as for summary: the module runs once on the meta device.

    .svg needs Graphviz's `dot` program; .dot, .mmd (Mermaid) and .html (laid out in the page) do not.
    """
    from ..backend import graph as graphs

    if fmt is None:
        ext = os.path.splitext(output or "")[1].lower()
        if output is not None and ext not in _GRAPH_FORMATS:
            raise click.UsageError(f"cannot tell the format from {printable(output)!r}: use an extension "
                                   f"({', '.join(sorted(_GRAPH_FORMATS))}) or --format")
        fmt = _GRAPH_FORMATS.get(ext, "dot")
    reads: Iterable[str] = ()
    if _is_module_target(spec):
        picture = _module_graph(spec, input_specs)
    else:
        if input_specs:
            raise click.UsageError("--input is for FILE.py:CLASS; a spec declares its own inputs")
        compiled = _compile(spec)
        _emit(compiled.warnings)
        picture, reads = graphs.build(compiled.inference), compiled.files
    try:
        if only is not None:
            picture = graphs.only(picture, only)
        text = _render_picture(picture, fmt, depth)
    except graphs.GraphError as exc:
        click.echo(f"netspec: error: {exc}", err=True)
        sys.exit(1)
    if output is None:
        click.echo(text, nl=False)
        return
    write_atomic(output, text, spec.rpartition(":")[0] if _is_module_target(spec) else spec, reads)
    click.echo(f"wrote {printable(output)}", err=True)


@main.command(name="export", epilog="""\b
Examples:
  netspec export lenet --onnx lenet.onnx                    # x: [N, 1, 32, 32], N dynamic
  netspec export resnet18 --onnx r18.onnx --set num_classes=10 --batch 1
  netspec export zoo/resnet50 --onnx r50.onnx --weights IMAGENET1K_V2   # torchvision's weights
\b
Needs the onnx extra: pip install "netspec[onnx]".
""")
@click.argument("spec", type=_SPEC_PATH, shell_complete=_complete_spec)
@click.option("--onnx", "onnx_path", required=True, type=click.Path(dir_okay=False), metavar="FILE",
              help="Write the ONNX model here (atomically).")
@click.option("--opset", type=click.IntRange(min=1), default=None, metavar="N",
              help="The ONNX opset (default: torch.onnx's).")
@click.option("--batch", type=click.IntRange(min=1), default=None, metavar="N",
              help="Fix the batch dim N to this size (default: dynamic, as every symbolic input dim is).")
@click.option("--seed", type=int, default=0, show_default=True,
              help="torch.manual_seed before the weights are initialised.")
@click.option("--weights", "weights", metavar="NAME|FILE", default=None,
              help="Load these weights first, checked strictly: a name the spec's weights: section declares "
                   "(IMAGENET1K_V1, from torch.hub's cache, downloaded if absent), a .pt/.pth state_dict, or a "
                   ".safetensors file or sharded checkpoint's .index.json (the hf extra). See docs/spec.md, "
                   "\"Weights\".")
@_spec_options
@_command
def export_(spec: str, onnx_path: str, opset: int | None, batch: int | None, seed: int,
            weights: str | None) -> None:
    """Export SPEC's module to ONNX through torch.onnx, eval mode, its symbolic input dims dynamic.

    The weights are the constructor's initialisation (see --seed), or those --weights names.
    """
    from . import export as exporting

    try:
        exporting.check_extra()  # before the spec is read: the likeliest failure, and the cheapest to find
    except exporting.MissingExtraError as exc:
        click.echo(f"netspec: error: {exc}", err=True)
        sys.exit(1)
    if weights is not None and api.weights_name(weights) is None:  # a file: the hf extra, as early
        from ..backend.weights import is_torch_file, require_safetensors

        if not is_torch_file(weights):
            require_safetensors(weights)
    compiled = _compile(spec)
    _emit(compiled.warnings)
    try:
        data, info = exporting.compiled_bytes(compiled, opset=opset, batch=batch, seed=seed, weights=weights,
                                              progress=True)
    except exporting.ExportError as exc:
        click.echo(f"netspec: error: {exc}", err=True)
        sys.exit(1)
    write_atomic(onnx_path, data, spec, compiled.files)
    inputs = ", ".join(f"{name} {fmt_shape(shape)}" for name, shape in info.inputs.items())
    click.echo(f"wrote {printable(onnx_path)} ({info.model}, opset {info.opset}, {inputs}, "
               f"{len(data):,} bytes)", err=True)


def _parse_input(text: str) -> tuple[str | None, list[int | str]]:
    """``x=N,3,224,224`` (or ``N,3,224,224`` for a one-input forward) -> ("x", ["N", 3, 224, 224])."""
    name, sep, dims = text.partition("=")
    if not sep:
        name, dims = "", text
    shape: list[int | str] = []
    for part in (d.strip() for d in dims.split(",") if d.strip()):
        if part.isdigit() and int(part) > 0:
            shape.append(int(part))
        elif part.isidentifier():
            shape.append(part)
        else:
            raise click.BadParameter(f"{part!r} is not a size: give positive integers or names (N)",
                                     param_hint="--input")
    return (name.strip() or None), shape


def _load_user_class(target: str) -> Any:
    """``module.py:ClassName`` -> the class, importing the user's own file (their code, their command line)."""
    import importlib.util

    path, sep, class_name = target.rpartition(":")
    if not sep or not path or not class_name.isidentifier():
        raise click.BadParameter("expected FILE.py:ClassName", param_hint="TARGET")
    if not os.path.isfile(path):
        raise click.BadParameter(f"no such file: {printable(path)}", param_hint="TARGET")
    directory = os.path.dirname(os.path.abspath(path))
    module_name = "_netspec_dump_" + os.path.splitext(os.path.basename(path))[0].replace("-", "_")
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise click.BadParameter(f"cannot import {printable(path)}", param_hint="TARGET")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    sys.path.insert(0, directory)  # so the file's own sibling imports work
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # the user's file failed: their error, not netspec's
        raise click.ClickException(f"importing {printable(path)} failed: {type(exc).__name__}: {exc}") from None
    finally:
        sys.path.remove(directory)
    cls = getattr(module, class_name, None)
    if cls is None:
        raise click.ClickException(f"{printable(path)} defines no {class_name!r}")
    return cls


def _is_module_target(spec: str) -> bool:
    """``FILE.py:CLASS`` (and no file of that very name): a Python module class, not a spec."""
    path, sep, name = spec.rpartition(":")
    return bool(sep) and path.endswith(".py") and name.isidentifier() and not os.path.exists(spec)


def _module_graph(target: str, input_specs: tuple[str, ...]) -> Any:
    """The picture of ``FILE.py:CLASS`` (netspec/backend/module_summary.py's adapter to graph.py's form)."""
    from ..backend import module_summary

    picture, result = _module_summary(target, input_specs, 1, False, module_summary.graph_module)
    _emit(result.warnings)
    return picture


def _module_summary(target: str, input_specs: tuple[str, ...], batch: int, as_json: bool,
                    make: Callable[..., Any] | None = None, dtype: str | None = None) -> Any:
    """The summary of ``FILE.py:CLASS`` built with no arguments (netspec/backend/module_summary.py), or
    what ``make`` draws of it."""
    from ..backend import module_summary

    if not input_specs:
        raise click.UsageError("give the input shape of FILE.py:CLASS: --input x=N,3,224,224")
    file = target.rpartition(":")[0]
    try:
        inputs: dict[str, Any] = {}
        for text in input_specs:
            shape_text, colon, kind = text.rpartition(":") if ":" in text else (text, "", "")
            name, shape = _parse_input(shape_text)
            if name is None and len(input_specs) > 1:
                raise click.BadParameter("with several inputs, name each: --input x=... --input y=...",
                                         param_hint="--input")
            inputs[name or ""] = {"shape": shape, "dtype": kind} if colon else shape
        try:
            cls = _load_user_class(target)
        except click.ClickException as exc:
            if isinstance(exc, click.BadParameter) and "FILE.py" in exc.message:
                raise
            raise module_summary.unloadable(exc.message, file) from None
        module, rebuild = module_summary.build(cls, target, file)
        if make is not None:
            return make(module, inputs, rebuild=rebuild, file=file)
        return module_summary.summarise_module(module, inputs, batch=batch, rebuild=rebuild, file=file,
                                               dtype=dtype)
    except SpecError as exc:
        if as_json:  # as for a refused spec: the diagnostics as data on stdout too
            click.echo(json.dumps(report.reports_json([report.SpecReport(target, exc.diagnostics)]), indent=2))
        raise


@main.command(name="dump", epilog="""\b
Examples:
  netspec dump models.py:LeNet --input x=N,1,32,32
  netspec dump models.py:ResNet --input N,3,224,224 -o resnet.yaml
  netspec dump models.py:ResNet --input N,3,224,224 --args '{"num_classes": 10}'
""")
@click.argument("target", metavar="FILE.py:CLASS")
@click.option("--input", "input_specs", multiple=True, metavar="[NAME=]D1,D2,...",
              help="An input shape (repeatable, one per forward input); names are symbolic dims.")
@click.option("--name", "class_name", default=None, help="The spec's class name (default: CLASS).")
@click.option("--args", "args_json", default=None, metavar="JSON",
              help='Keyword arguments for CLASS(...), a JSON object: --args \'{"num_classes": 10}\'.')
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write here (atomically) instead of stdout.")
@_command
def dump_(target: str, input_specs: tuple[str, ...], class_name: str | None, output: str | None,
          args_json: str | None = None) -> None:
    """Write the spec of a module class: imports FILE.py (your own code) and builds CLASS(), with the keyword
    arguments of --args if given.

    A spec never names Python code; this command runs the file you name, as
    `python FILE.py` would, to read the module it builds.
    """
    from .dump import DumpError, dump, parse_args

    try:
        kwargs = parse_args(args_json) if args_json is not None else {}
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="'--args'") from None
    if not input_specs:
        raise click.UsageError("give the input shape: --input x=N,3,224,224")
    parsed = [_parse_input(text) for text in input_specs]
    if len(parsed) == 1 and parsed[0][0] is None:
        inputs: Any = parsed[0][1]
    elif any(name is None for name, _ in parsed):
        raise click.BadParameter("with several inputs, name each: --input x=... --input y=...",
                                 param_hint="--input")
    else:
        inputs = {name: shape for name, shape in parsed}
    cls = _load_user_class(target)
    try:
        module = cls(**kwargs)
    except Exception as exc:
        call = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
        raise click.ClickException(f"{class_name or target}({call}) failed: {type(exc).__name__}: {exc}") from None
    try:
        text = dump(module, name=class_name, inputs=inputs)
    except DumpError as exc:
        click.echo(f"netspec: error: {exc}", err=True)
        sys.exit(1)
    if output:
        write_atomic(output, text, target.rpartition(":")[0])
    else:
        click.echo(text, nl=False)


@main.command(name="lsp", epilog="""\b
Example:
  netspec lsp   # started by your editor, speaking LSP over stdin/stdout (see docs/editors.md)
  netspec lsp --plugin my_layers.py
""")
@_plugin_option
def lsp_() -> None:
    """Run the language server (LSP over stdio): diagnostics, shapes on hover and inline, completion.

    Needs the optional extra: pip install 'netspec[lsp]'.
    """
    try:
        from .lsp import serve
    except ImportError as exc:
        raise click.ClickException(str(exc)) from None
    serve()


if __name__ == "__main__":  # pragma: no cover
    main()
