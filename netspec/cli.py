"""The ``netspec`` command.  The only module that prints or exits.

Exit status: 0 all good, 1 a spec is invalid (or an output cannot be written),
2 usage errors (click's own), 3 an internal error, which is a bug to report.
"""

from __future__ import annotations

import dataclasses
import json
import os
import stat
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import click

from . import api, schema, shapes
from .errors import Diagnostic, SpecError
from .ops import LAYERS, OPS


def _lines(file: str) -> list[str] | None:
    try:
        with open(file, encoding="utf-8", errors="replace") as handle:
            return handle.read(8 * 1024 * 1024).splitlines()
    except OSError:
        return None


def _emit(diagnostics: list[Diagnostic]) -> None:
    files: dict[str, list[str] | None] = {}  # read once per report, never cached across calls
    for d in diagnostics:
        if d.span and d.span.file not in files:
            files[d.span.file] = _lines(d.span.file)
        click.echo(d.render(files[d.span.file] if d.span else None), err=True)


_PASS_THROUGH = (KeyboardInterrupt, click.exceptions.Exit, click.ClickException, SystemExit)


def _report(exc: Exception) -> int:
    """Print a failure compiler-style, never as a traceback; return the exit status it means."""
    if isinstance(exc, SpecError):
        _emit(exc.diagnostics)
        n = len(exc.errors)
        click.echo(f"{n} error{'s' * (n != 1)}", err=True)
        return 1
    if isinstance(exc, RecursionError):
        click.echo("netspec: error: the spec is nested too deeply to process", err=True)
        return 1
    click.echo(f"netspec: internal error: {type(exc).__name__}: {exc}", err=True)
    click.echo("This is a bug in netspec; please report it with the spec that caused it.", err=True)
    return 3


@contextmanager
def _reporting() -> Iterator[None]:
    try:
        yield
    except _PASS_THROUGH:
        raise
    except Exception as exc:  # the last line of defence against tracebacks
        sys.exit(_report(exc))


def _command(func: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with _reporting():
            return func(*args, **kwargs)

    wrapper.__name__ = func.__name__
    wrapper.__doc__ = func.__doc__
    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="netspec")
def main() -> None:
    """Compile declarative YAML model specs into PyTorch nn.Module classes."""


_max_params_option = click.option(
    "--max-params", type=click.IntRange(min=0), default=None, metavar="N",
    help="Warn past N parameters (default: the budget netspec.load enforces, 1,000,000,000).")


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


@main.command()
@click.argument("specs", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("-q", "--quiet", is_flag=True, help="Print only problems.")
@_max_params_option
def validate(specs: tuple[str, ...], quiet: bool, max_params: int | None) -> None:
    """Check SPECS: grammar, names and every shape. Exit 1 if any is invalid."""
    failed = 0
    for path in specs:
        try:
            compiled = api.compile_spec(path)
        except _PASS_THROUGH:
            raise
        except Exception as exc:  # reported like any failure; the next spec still runs
            status = _report(exc)
            if status != 1:
                sys.exit(status)
            failed += 1
            continue
        _emit(_budget_warnings(compiled, max_params))
        if not quiet:
            click.echo(f"{path}: ok ({compiled.name}, {compiled.inference.total_params:,} params)")
    if failed:
        click.echo(f"{failed} of {len(specs)} spec{'s' * (len(specs) != 1)} invalid", err=True)
        sys.exit(1)


@main.command(name="compile")
@click.argument("spec", type=click.Path(dir_okay=False))
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write here (atomically) instead of stdout.")
@_command
def compile_(spec: str, output: str | None) -> None:
    """Print the standalone PyTorch source of SPEC's module."""
    compiled = api.compile_spec(spec)  # one read of the file: the warnings and the code come from it
    _emit(compiled.warnings)
    if output is None:
        click.echo(compiled.source_code, nl=False)
        return
    write_atomic(output, compiled.source_code, spec)
    click.echo(f"wrote {output}", err=True)


def write_atomic(target: str, text: str, spec: str) -> None:
    """Replace ``target`` in one step: a temp file beside it, then os.replace.

    Readers see the old file or the new one, never a part; on any error or
    interrupt the old file stays as it was and the temp file is removed.  The
    target keeps its permission bits.  A symlink at ``target`` is replaced by
    the file, never written through, so the output cannot land elsewhere.
    """
    # samefile follows links both ways: -o spec.yaml, -o link-to-spec, a hard link
    if os.path.exists(target) and os.path.exists(spec) and os.path.samefile(target, spec):
        raise click.ClickException(f"refusing to overwrite the spec itself: {target}")
    # a rename would replace a device, FIFO or socket (-o /dev/null) with a plain file
    if os.path.exists(target) and not stat.S_ISREG(os.stat(target).st_mode):
        raise click.ClickException(f"refusing to replace {target}: it is not a regular file "
                                   "(omit -o to print to stdout)")
    directory = os.path.dirname(os.path.abspath(target))
    mode = os.stat(target).st_mode & 0o7777 if os.path.exists(target) else _default_mode()
    try:
        handle, temp = tempfile.mkstemp(prefix=".netspec-", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise click.ClickException(f"cannot write {target}: {exc.strerror}") from None
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temp, mode)
        os.replace(temp, target)
        _sync_directory(directory)
    except BaseException as exc:
        if os.path.exists(temp):
            os.unlink(temp)
        if isinstance(exc, OSError):
            raise click.ClickException(f"cannot write {target}: {exc.strerror}") from None
        raise


def _sync_directory(directory: str) -> None:
    """Make the rename itself durable; some systems cannot open a directory, which is fine."""
    try:
        handle = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(handle)
    except OSError:
        pass
    finally:
        os.close(handle)


def _default_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


@main.command()
@click.argument("spec", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
@_max_params_option
@_command
def summary(spec: str, as_json: bool, max_params: int | None) -> None:
    """Show every layer's output shape and parameter count, with totals."""
    compiled = api.compile_spec(spec)
    result = api.summarise(compiled)
    _emit(_budget_warnings(compiled, max_params) if max_params is not None else result.warnings)
    if as_json:
        click.echo(json.dumps(result.to_json(), indent=2))
    else:
        click.echo(result.render())


@main.command(name="schema")
def schema_() -> None:
    """Print the JSON Schema of the spec format."""
    click.echo(schema.json_schema_text(), nl=False)


@main.command()
def layers() -> None:
    """List the layer types and forward ops netspec knows."""
    click.echo("Layer types (layers: {type: NAME, ...}):")
    for name, layer in sorted(LAYERS.items()):
        args = ", ".join(a.name + ("?" if a.inferred else "") for a in layer.args)
        click.echo(f"  {name}({args})  {layer.summary}")
    click.echo("  Sequential(layers)  layers applied in order")
    click.echo("Forward ops:")
    for name, op in sorted(OPS.items()):
        click.echo(f"  {name}({', '.join(op.params)})  {op.summary}")


if __name__ == "__main__":  # pragma: no cover
    main()
