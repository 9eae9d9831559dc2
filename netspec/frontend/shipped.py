"""The specs netspec ships, and how a name on the command line or in ``load()`` finds one.

The rule, in order:

1. A file that exists on disk always wins: ``specs/lenet.yaml`` in a clone is
   that file, even where netspec is installed with its own copy.  Something there
   that is not a regular file (a FIFO, a device) is refused, never opened.
2. Otherwise a name resolves to a shipped spec.  The name may carry ``.yaml``
   and a ``specs/`` or ``specs/zoo/`` prefix, so the spellings a README shows
   (``specs/alexnet.yaml``, ``lenet.yaml``, ``resnet50``) work from any directory.
3. Otherwise it is an error (``file-unreadable``) that lists the shipped specs
   with a did-you-mean.

In a wheel the specs and the schema live in ``netspec/_data/`` (pyproject.toml
maps the repository's ``specs/`` and ``schemas/`` there); in a clone or an
editable install they are read from the repository root, so nothing is copied.
Torch-free, like everything before ``build``.
"""

from __future__ import annotations

import errno
import functools
import os
import stat
from pathlib import Path

from ..errors import Diagnostic, Span, SpecError, did_you_mean
from . import files

SUFFIX = ".yaml"
_PACKAGE = Path(__file__).resolve().parent.parent  # netspec/, above frontend/


def data_dir() -> Path:
    """The folder holding ``specs/`` and ``schemas/``: the wheel's copy, else the clone's root."""
    installed = _PACKAGE / "_data"
    if (installed / "specs").is_dir():
        return installed
    return _PACKAGE.parent


def specs_dir() -> Path:
    return data_dir() / "specs"


def schema_file() -> Path:
    """The JSON Schema of the spec format, as shipped (``netspec schema`` prints the same text)."""
    return data_dir() / "schemas" / "netspec.schema.json"


@functools.lru_cache(maxsize=1)
def shipped() -> dict[str, Path]:
    """Every shipped spec by name (its file name without ``.yaml``), sorted by name.

    ``specs/`` is searched recursively so ``specs/zoo/`` joins without a code change;
    a top-level spec wins over a deeper one of the same name.
    """
    root = specs_dir()
    if not root.is_dir():
        return {}
    found: dict[str, Path] = {}
    for path in sorted(root.rglob(f"*{SUFFIX}"), key=lambda p: (len(p.relative_to(root).parts), str(p))):
        found.setdefault(path.relative_to(root).with_suffix("").as_posix(), path)  # "lenet", "zoo/resnet18"
    return dict(sorted(found.items()))


def shipped_name(spec: str) -> str | None:
    """The shipped name ``spec`` spells (``specs/zoo/resnet18.yaml`` -> ``resnet18``), or None.

    Only bare names and the ``specs/`` prefixes count: ``/tmp/lenet.yaml`` or
    ``models/lenet.yaml`` name a file the user has, never a shipped spec.
    """
    name = spec.replace(os.sep, "/").removeprefix("./").removeprefix("specs/").removesuffix(SUFFIX)
    bare = name.removeprefix("zoo/")
    if not bare or "/" in bare or bare.startswith("."):
        return None
    return name


def resolve(spec: str | os.PathLike[str]) -> Path:
    """The file ``spec`` means under the rule above; raises SpecError when there is none."""
    path = Path(spec)
    try:
        mode = os.stat(path).st_mode  # asked without opening: a FIFO named `lenet` must not block
    except (FileNotFoundError, NotADirectoryError, ValueError):
        mode = None
    except OSError as exc:
        if exc.errno != errno.ELOOP:
            return path  # there, but unreadable: reading it says why
        mode = None
    if mode is not None:
        if stat.S_ISREG(mode) or stat.S_ISDIR(mode):  # a directory: reading it says "Is a directory"
            return path
        raise SpecError([Diagnostic("file-unreadable", f"cannot read the spec: it is {files.kind(mode)}, not a "
                                    "regular file", Span(os.fspath(spec), 0, 0),
                                    hint="a spec is read from a regular file; on the command line, `-` reads "
                                    "one piped to stdin")])
    name = shipped_name(os.fspath(spec))
    known = shipped()
    if name is not None:
        # a bare name is a top-level spec first, then a zoo spec: "alexnet" is the seed's, "zoo/alexnet" torchvision's
        for candidate in (name, f"zoo/{name}"):
            if candidate in known:
                return known[candidate]
    raise _not_found(os.fspath(spec), name, known)


def _not_found(spec: str, name: str | None, known: dict[str, Path]) -> SpecError:
    if name is None:  # a path of the user's own: say only that it is missing
        message = "cannot read the spec: No such file or directory"
        hint = None
    else:
        message = f"cannot read the spec: no such file, and no shipped spec named {name!r}"
        listing = ", ".join(known) or "none"
        close = did_you_mean(name, [*known, *(k.removeprefix("zoo/") for k in known)])
        hint = f"{close} shipped specs: {listing}" if close else f"shipped specs: {listing}"
    return SpecError([Diagnostic("file-unreadable", message, Span(spec, 0, 0), hint=hint)])


__all__ = ["data_dir", "resolve", "schema_file", "shipped", "shipped_name", "specs_dir"]
