"""The ``netspec`` script and ``python -m netspec``: the common ``netspec validate FILE...`` without click, every
other command line through click (:mod:`netspec.tools.cli`).

An editor or a pre-commit hook runs ``netspec validate`` on every save, where start-up is most of the time; click's
import is ~10% of it.  A command line of ``validate``, spec files or names and ``-q``/``--quiet`` only, with UTF-8
streams and no shell completion asked for, is checked here, printed through :mod:`netspec.tools.terminal` as the
click command prints it (the same functions, and tests/test_launch.py compares the two byte for byte).  Anything
else (another command, any other option, ``-`` for stdin, ``--help``) goes to click unchanged.
"""

from __future__ import annotations

import gc
import os
import sys


def main(prog_name: str | None = None) -> None:
    """Run the command line in ``sys.argv``."""
    request = plain_validate(sys.argv[1:])
    if request is None:
        from .cli import main as command

        command(prog_name=prog_name)
        return
    quiet, specs = request
    from . import terminal

    status = _validate(specs, quiet)
    terminal.exit_now(status)


def plain_validate(argv: list[str]) -> tuple[bool, list[str]] | None:
    """``(quiet, specs)`` for a command line the fast path runs as click would, else None."""
    if not argv or argv[0] != "validate" or _completing():
        return None
    quiet, specs = False, []
    for word in argv[1:]:
        if word in ("-q", "--quiet"):
            quiet = True
        elif not word or word.startswith("-"):  # an option, `-` (stdin), `--`, or an empty word: click's to parse
            return None
        else:
            specs.append(word)
    from .terminal import utf8_streams

    return (quiet, specs) if specs and utf8_streams() else None


def _completing() -> bool:
    """Whether the shell asks click for completions (``_NETSPEC_COMPLETE=...``, named after the program)."""
    return any(name.startswith("_") and name.endswith("_COMPLETE") for name in os.environ)


def _validate(specs: list[str], quiet: bool) -> int:
    """What ``netspec validate [-q] SPECS`` does in click's command: one-shot, the collector off once the imports are
    done (their objects frozen), failures reported, never a traceback; returns the exit status."""
    from .. import api
    from . import terminal

    gc.freeze()
    gc.disable()
    console = terminal.PlainConsole()
    try:
        return terminal.validate(specs, quiet, console, api.compile_spec, lambda compiled: compiled.warnings)
    except BrokenPipeError:  # `netspec validate specs/*.yaml | head`: the reader left; stop quietly, as cat does
        terminal.silence_stdout()
        return 1
    except KeyboardInterrupt:  # as click's main: a new line, then "Aborted!"
        sys.stderr.write("\nAborted!\n")
        return 1
    except Exception as exc:  # the last line of defence against tracebacks
        return terminal.report(exc, console)
