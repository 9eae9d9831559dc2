"""Diagnostics: where a spec is wrong, what was expected, what was found.

Every stage reports through :class:`Diagnostic`; a stage that cannot go on
raises one :class:`SpecError` carrying all it collected.  Nothing here prints:
rendering returns text and the CLI decides where it goes.
"""

from __future__ import annotations

import heapq
import itertools
import operator
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

Severity = Literal["error", "warning"]
PathPart = str | int
Path = tuple[PathPart, ...]


@dataclass(frozen=True)
class Span:
    """A place in a file: 1-based line and column, as editors count them."""

    file: str
    line: int
    col: int

    def __str__(self) -> str:
        # line 0 stands for the file as a whole (it could not be read)
        file = printable(self.file)
        return f"{file}:{self.line}:{self.col}" if self.line else file


def printable(text: str) -> str:
    """``text`` itself when every character prints, else its ``ascii()`` form.

    File names are user text that reaches a terminal: an ESC or BEL in one would
    be a terminal escape sequence, and bidi or zero-width characters would make
    the printed name differ from the real one.  The quoted, escaped form shows
    exactly which bytes are there.
    """
    return text if text.isprintable() else ascii(text)


def escaped(text: str) -> str:
    """``text`` with each character that does not print (ESC, BEL, bidi controls...) written as its
    escape, the rest kept: the last guard of a message on its way to a terminal."""
    return text if text.isprintable() else "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text)


@dataclass(frozen=True)
class Diagnostic:
    code: str
    message: str
    span: Span | None = None
    path: Path = ()
    hint: str | None = None
    severity: Severity = "error"

    @property
    def dotted_path(self) -> str:
        return format_path(self.path)

    def render(self, source_lines: Sequence[str] | None = None) -> str:
        """Compiler-style text: one headline, then the source line and hint."""
        where = str(self.span) if self.span else "<spec>"
        subject = f" {escaped(self.dotted_path)}:" if self.path else ""
        lines = [f"{where}: {self.severity}[{self.code}]{subject} {escaped(self.message)}"]
        if source_lines and self.span and 0 < self.span.line <= len(source_lines):
            text = source_lines[self.span.line - 1].rstrip("\r\n").expandtabs(1)
            if len(text) <= 200 and text.isprintable():  # never echo escape sequences to a terminal
                lines.append(f"  {self.span.line:>4} | {text}")
                lines.append(f"       | {' ' * max(self.span.col - 1, 0)}^")
        if self.hint:
            lines.append(f"  hint: {escaped(self.hint)}")
        return "\n".join(lines)


@dataclass(eq=False)  # exceptions compare and hash by identity
class SpecError(Exception):
    """The one exception netspec raises for anything wrong with a spec."""

    diagnostics: list[Diagnostic] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__(self.__str__())

    def __reduce__(self) -> tuple[type[SpecError], tuple[list[Diagnostic]]]:
        # pickle (multiprocessing, pytest-xdist) rebuilds from the diagnostics, not the rendered text
        return (SpecError, (self.diagnostics,))

    def __str__(self) -> str:
        return "\n".join(d.render() for d in self.diagnostics)

    def __repr__(self) -> str:
        # What a traceback prints (``SpecError: file:line:col: error[code] ...``), not a dump of the dataclass:
        # tools that show an exception by its repr (Hydra's "Error in call to target") read like the CLI.
        text = str(self)
        return f"SpecError: {text}" if text else "SpecError()"

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "error"]


def format_path(path: Path) -> str:
    """``("layers", "conv", 0, "kernel_size")`` -> ``layers.conv.0.kernel_size``."""
    return ".".join(str(p) for p in path)


# A hint is computed once per unknown name against every name the spec defines, and both grow
# with the spec: each call's work is bounded instead (1,000 unknown steps against 1,000 layers
# took 42 s with plain difflib).  Specs of normal size get exactly difflib's answer.
MAX_HINT_CHOICES = 1_000  # candidates looked at, in the caller's order
MAX_HINT_COMPARED = 20  # candidates scored by difflib's ratio, which is quadratic in the word's length
MAX_HINT_CHARS = 100  # no name is longer (keys are at most 256 characters): no fuzzy hint past it


def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    """A hint naming the closest known word, or None when nothing is close."""
    pool = list(itertools.islice(choices, MAX_HINT_CHOICES))
    import difflib  # here: only a misspelling needs it

    close = difflib.get_close_matches(word, _shortlist(word, pool), n=1, cutoff=0.6)
    if not close:
        lowered = {c.lower(): c for c in pool}
        if word.lower() in lowered:
            close = [lowered[word.lower()]]
    return f"did you mean '{close[0]}'?" if close else None


def _shortlist(word: str, pool: list[str]) -> list[str]:
    """The few candidates worth difflib's full comparison, found in time linear in the pool."""
    if len(word) > MAX_HINT_CHARS:
        return []
    # difflib's ratio 2*M/(a+b) can reach its 0.6 cutoff only between these lengths
    fits = [c for c in pool if 3 * len(word) <= 7 * len(c) and 3 * len(c) <= 7 * len(word)]
    if len(fits) <= MAX_HINT_COMPARED:
        return fits
    # A cheap likeness, computed in C: letters in common, plus letters in the same place counted from
    # either end (a typo in 'layer_0500' keeps the rest aligned).
    letters, backwards = set(word), word[::-1]

    def likeness(c: str) -> int:
        same: int = sum(map(operator.eq, word, c)) + sum(map(operator.eq, backwards, reversed(c)))
        return len(letters.intersection(c)) + same

    return heapq.nlargest(MAX_HINT_COMPARED, fits, key=likeness)  # stable: ties keep the pool's order


def short_repr(value: object, limit: int = 60) -> str:
    """The user's token, quoted and cut to a readable length."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class Collector:
    """Gathers diagnostics so one run reports several problems, not just the first."""

    def __init__(self) -> None:
        self.diagnostics: list[Diagnostic] = []

    def add(self, diagnostic: Diagnostic) -> None:
        self.diagnostics.append(diagnostic)

    @property
    def has_errors(self) -> bool:
        return any(d.severity == "error" for d in self.diagnostics)

    def raise_if_errors(self) -> None:
        if self.has_errors:
            raise SpecError(list(self.diagnostics))
