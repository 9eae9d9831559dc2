"""What the ``netspec`` command writes to a terminal, without click: styles, coloured diagnostics, the report of
a failure, and the end of a one-shot process.

:mod:`netspec.tools.cli` writes through click; :mod:`netspec.tools.launch` runs ``netspec validate FILE...``
without importing click (a third of a second's start-up is spent on imports; click's is ~10% of it).  Both
print with the functions here, through a :class:`Console`, so the two paths cannot drift apart; the plain console
writes what ``click.echo`` writes to a real stream (tests/test_launch.py compares the two byte for byte).
"""

from __future__ import annotations

import atexit
import codecs
import os
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from contextlib import suppress
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import Diagnostic, SpecError, printable
from ..frontend import files

if TYPE_CHECKING:
    from ..api import Compiled

STDIN = "<stdin>"

# click.style's codes: one escape per attribute, then the text, then a reset.
_COLOURS = {"red": 31, "green": 32, "yellow": 33, "cyan": 36}
# What click.echo strips from a stream that is not a terminal: any CSI sequence.
_ANSI = re.compile(r"\033\[[0-?]*[ -/]*[@-~]")


class Console(Protocol):
    """Where the command's lines go: click's echo in the click command, plain writes on the fast path."""

    def out(self, text: str) -> None:
        """A line on stdout."""

    def err(self, text: str) -> None:
        """A line on stderr."""

    def diagnostic(self, text: str) -> None:
        """A painted diagnostic on stderr, coloured as NO_COLOR and FORCE_COLOR say (:func:`colour`)."""


def style(text: str, fg: str) -> str:
    """``text`` in bold ``fg``, byte for byte as ``click.style(text, fg=fg, bold=True)`` writes it."""
    return f"\033[{_COLOURS[fg]}m\033[1m{text}\033[0m"


def display(spec: str) -> str:
    """How a spec argument is named in what the command prints: ``-`` is ``<stdin>``."""
    return STDIN if spec == "-" else spec


def colour() -> bool | None:
    """False under NO_COLOR, True under FORCE_COLOR, else None: a terminal is coloured and a pipe is not."""
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR", "0") not in ("", "0"):
        return True
    return None


def paint(text: str, d: Diagnostic) -> str:
    """Colour a rendered diagnostic: severity and code, the caret, the hint label.

    Styles go on the rendered lines rather than into :meth:`Diagnostic.render`, which
    stays plain text for exceptions, logs and tests; the console strips them when
    the stream is not a terminal.
    """
    label = f"{d.severity}[{d.code}]"
    lines = text.split("\n")
    lines[0] = lines[0].replace(label, style(label, "red" if d.severity == "error" else "yellow"), 1)
    for i, line in enumerate(lines[1:], 1):
        if line.startswith("       | ") and line.rstrip().endswith("^") and not line[9:].strip(" ^"):
            lines[i] = line[:-1] + style("^", "green")
        elif line.startswith("  hint: "):
            lines[i] = "  " + style("hint:", "cyan") + line[7:]
    return "\n".join(lines)


def emit(diagnostics: Iterable[Diagnostic], console: Console, lines: Callable[[str], list[str] | None]) -> None:
    """Each diagnostic, rendered with its source line and painted; ``lines(file)`` reads a file's lines."""
    read: dict[str, list[str] | None] = {}  # read once per report, never cached across calls
    for d in diagnostics:
        if d.span and d.span.line and d.span.file not in read:  # a whole-file span shows no line: not read
            read[d.span.file] = lines(d.span.file)
        console.diagnostic(paint(d.render(read.get(d.span.file) if d.span else None), d))


def file_lines(file: str) -> list[str] | None:
    """A spec file's lines for a diagnostic, or None where it cannot be read."""
    try:  # never a blocking open: the file named in a diagnostic may be a FIFO (that is what it says)
        return files.read_spec(file, 8 * 1024 * 1024).data.decode("utf-8", "replace").splitlines()
    except (OSError, ValueError):
        return None


def report(exc: Exception, console: Console, lines: Callable[[str], list[str] | None] = file_lines) -> int:
    """Print a failure compiler-style, never as a traceback; return the exit status it means."""
    if isinstance(exc, SpecError):
        emit(exc.diagnostics, console, lines)
        n = len(exc.errors)
        console.err(f"{n} error{'s' * (n != 1)}")
        return 1
    if isinstance(exc, RecursionError):
        console.err("netspec: error: the spec is nested too deeply to process")
        return 1
    console.err(f"netspec: internal error: {type(exc).__name__}: {exc}")
    console.err("This is a bug in netspec; please report it with the spec that caused it.")
    return 3


def validate(specs: Sequence[str], quiet: bool, console: Console, compile_spec: Callable[[str], Compiled],
             warnings: Callable[[Compiled], list[Diagnostic]],
             lines: Callable[[str], list[str] | None] = file_lines) -> int:
    """``netspec validate``'s text report: each spec's warnings and its ok line, or its errors; every spec is
    checked, an invalid one does not stop the next.  Returns the exit status."""
    failed = 0
    for path in specs:
        try:
            compiled = compile_spec(path)
        except Exception as exc:  # reported like any failure; the next spec still runs
            status = report(exc, console, lines)
            if status != 1:
                return status
            failed += 1
            continue
        emit(warnings(compiled), console, lines)
        if not quiet:
            console.out(f"{printable(display(path))}: ok ({compiled.name}, {compiled.inference.total_params:,} params)")
    if failed:
        console.err(f"{failed} of {len(specs)} spec{'s' * (len(specs) != 1)} invalid")
        return 1
    return 0


class PlainConsole:
    """:class:`Console` on ``sys.stdout`` and ``sys.stderr``, writing what ``click.echo`` writes there when their
    encoding is UTF-8 (:func:`utf8_streams`; click rewraps an ASCII stream, and the fast path leaves that to it)."""

    def out(self, text: str) -> None:
        _write(sys.stdout, text, None)

    def err(self, text: str) -> None:
        _write(sys.stderr, text, None)

    def diagnostic(self, text: str) -> None:
        _write(sys.stderr, text, colour())


def utf8_streams() -> bool:
    """Whether stdout and stderr are text streams click would write to as they are."""

    def utf8(stream: Any) -> bool:
        encoding = getattr(stream, "encoding", None)
        return isinstance(encoding, str) and codecs.lookup(encoding).name == "utf-8"

    return utf8(sys.stdout) and utf8(sys.stderr)


def _write(stream: Any, text: str, color: bool | None) -> None:
    if (not _isatty(stream)) if color is None else not color:
        text = _ANSI.sub("", text)
    stream.write(text + "\n")
    stream.flush()


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except Exception:  # as click's isatty: a stream that cannot say is not a terminal
        return False


def silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush cannot raise BrokenPipeError again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # no real file descriptor (click's test runner): nothing to flush
        pass


def exit_now(status: Any) -> None:
    """End the process as ``sys.exit(status)`` would, less the interpreter's teardown."""
    if status is None:
        status = 0
    elif not isinstance(status, int):  # sys.exit("text"): the text on stderr, status 1
        print(status, file=sys.stderr)
        status = 1
    try:
        sys.stdout.flush()
    except (OSError, ValueError):  # `netspec list | head`: the reader left; quietly, as the command does
        silence_stdout()
        status = status or 1
    with suppress(OSError, ValueError):
        sys.stderr.flush()
    atexit._run_exitfuncs()
    os._exit(status)
