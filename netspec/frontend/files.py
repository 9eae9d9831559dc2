"""Every file netspec reads a spec from, and every file it writes, goes through here.

Reading (:func:`read_spec`): a spec file or an import is opened without blocking
(``O_NONBLOCK``: a FIFO or a device never hangs the reader) and the *descriptor*
is checked, not the name: it must be a regular file.  A fenced read (an import,
which must stay inside the directories its spec may read) also refuses links in
the last component (``O_NOFOLLOW``) and checks where the file it opened really
lies, so swapping a path for a link to an outside file between the check and the
open reads nothing outside.

Writing (:func:`write_atomic`): a temp file beside the target, written, fsynced and
renamed over it with ``os.replace``; never the spec itself or a file the spec read
(compared by file identity, links followed), never over a FIFO, a device or a
directory.  A new file gets the mode the process's umask gives (the kernel applies
it as the temp file is created: no process-wide ``os.umask`` dance, which races
between threads), an existing one keeps its own.

Torch-free, and below :mod:`netspec.frontend.source`: it imports only :mod:`netspec.errors`.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ..errors import Diagnostic, Span, SpecError, printable

try:  # the descriptor's own path on macOS and the BSDs (Linux answers through /proc)
    import fcntl

    _F_GETPATH: int | None = getattr(fcntl, "F_GETPATH", None)
except ImportError:  # pragma: no cover - Windows
    _F_GETPATH = None

FileId = tuple[int, int]  # (st_dev, st_ino): one file however many names lead to it

_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_O_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_O_NOCTTY = getattr(os, "O_NOCTTY", 0)
_O_BINARY = getattr(os, "O_BINARY", 0)
_CHUNK = 64 * 1024


class UnsafeFile(OSError):
    """A spec path that names something netspec will not read (an ``OSError``, so ``strerror`` says why)."""


@dataclass(frozen=True)
class SpecFile:
    """What :func:`read_spec` read: the bytes (at most the limit), where the file really lies, and its identity."""

    data: bytes
    real: str | None  # the real path of the file opened; None for an unfenced read where it is not known
    ident: FileId


def kind(mode: int) -> str:
    """What a non-regular file is, in words ("a FIFO", "a directory"...)."""
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISLNK, "a symbolic link")):
        if test(mode):
            return name
    return "a special file"


def not_regular(mode: int) -> UnsafeFile:
    if stat.S_ISDIR(mode):
        return UnsafeFile(errno.EISDIR, os.strerror(errno.EISDIR))
    return UnsafeFile(errno.EINVAL, f"{kind(mode)}, not a regular file")


def inside(path: str, root: str) -> bool:
    """Whether the real path ``path`` is ``root`` or below it."""
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def read_spec(path: str | os.PathLike[str], limit: int, fence: Sequence[str] | None = None) -> SpecFile:
    """Up to ``limit`` bytes of the spec file at ``path``; an ``OSError`` (:class:`UnsafeFile` for a refusal) if not.

    Unfenced (a file the user named): links are followed.  Fenced (``fence`` the real paths
    of the allowed directories, ``path`` a real path inside one): a link at ``path`` is
    refused, and so is a file that, once opened, does not lie inside the fence.  Either way
    the file is never opened in blocking mode and the descriptor must be a regular file.
    """
    name = os.fspath(path)
    before = os.lstat(name) if fence is not None else os.stat(name)
    if not stat.S_ISREG(before.st_mode):  # refused unopened: opening some devices does things
        raise not_regular(before.st_mode)
    flags = os.O_RDONLY | _O_NONBLOCK | _O_CLOEXEC | _O_NOCTTY | _O_BINARY | (_O_NOFOLLOW if fence is not None else 0)
    try:
        fd = os.open(name, flags)
    except OSError as exc:
        if fence is not None and exc.errno in (errno.ELOOP, errno.EMLINK):  # O_NOFOLLOW met a link
            raise UnsafeFile(exc.errno, "a symbolic link, not a regular file") from None
        raise
    try:
        opened = os.fstat(fd)
        if not stat.S_ISREG(opened.st_mode):  # swapped after the stat above
            raise not_regular(opened.st_mode)
        real = None
        if fence is not None:
            real = _opened_path(fd, name, opened)
            if real is None:
                raise UnsafeFile(errno.ESTALE, "the file changed while it was opened")
            if not any(inside(real, root) for root in fence):
                raise UnsafeFile(errno.EACCES, "the file opened lies outside the directories the spec may read")
        return SpecFile(_read_upto(fd, limit), real, (opened.st_dev, opened.st_ino))
    finally:
        os.close(fd)


def _read_upto(fd: int, limit: int) -> bytes:
    """At most ``limit`` bytes, in chunks: a single ``read(limit)`` would allocate the whole limit
    for every small spec."""
    chunks: list[bytes] = []
    size = 0
    while size < limit:
        try:
            chunk = os.read(fd, min(_CHUNK, limit - size))
        except BlockingIOError:  # a regular file never blocks; this is only a last guard
            break
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _opened_path(fd: int, name: str, opened: os.stat_result) -> str | None:
    """The real path of the file open at ``fd``: the kernel's own answer where it gives one, else the
    real path of ``name`` when that is still the same file; None when the file moved while opened."""
    candidates: list[str] = []
    with contextlib.suppress(OSError):
        candidates.append(os.readlink(f"/proc/self/fd/{fd}"))  # Linux
    if _F_GETPATH is not None:
        with contextlib.suppress(OSError):
            candidates.append(os.fsdecode(fcntl.fcntl(fd, _F_GETPATH, b"\0" * 1024).rstrip(b"\0")))
    candidates.append(os.path.realpath(name))
    for candidate in candidates:
        if not os.path.isabs(candidate):
            continue
        try:
            now = os.stat(candidate)
        except OSError:
            continue
        if os.path.samestat(now, opened) and os.path.realpath(candidate) == candidate:
            return candidate
    return None


def is_regular(path: str) -> bool:
    """Whether ``path`` is a regular file (links followed), asked without opening it."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except (OSError, ValueError):
        return False


# ---------------------------------------------------------------------------------------------- writing


def identities(paths: Iterable[str | os.PathLike[str]]) -> set[FileId]:
    """The identities of the files at ``paths`` that exist (links followed)."""
    found: set[FileId] = set()
    for path in paths:
        try:
            st = os.stat(path)
        except (OSError, ValueError):
            continue
        found.add((st.st_dev, st.st_ino))
    return found


def write_atomic(target: str | os.PathLike[str], data: str | bytes, spec: str | os.PathLike[str] | None = None,
                 reads: Iterable[str | os.PathLike[str]] = (), *, refusal_note: str = "") -> None:
    """Replace ``target`` in one step with ``data`` (text as UTF-8, its ``\\n`` kept; bytes as they are).

    Refused (a SpecError, ``output-refused``) when ``target`` is the ``spec`` or one of the files it
    ``reads`` (compared by identity, links followed both ways: a symlink or a hard link to the spec
    counts) or is not a regular file (a FIFO, a device, a directory; through a link too; ``refusal_note``
    is added to that message).
    Readers see the old file or the new one, never a part; on any error or interrupt the old file
    stays as it was and the temp file is removed (``output-unwritable`` for an OSError).  A symlink at
    ``target`` is replaced by the file, never written through.
    """
    name = os.fspath(target)
    shown = printable(name)
    followed = check_target(name, spec, reads, refusal_note=refusal_note)
    directory = os.path.dirname(os.path.abspath(name))
    # a private target stays private while the temp file fills; a new one is created with 0o666,
    # which the kernel narrows by the umask (and the directory's default ACL) as any new file is
    mode = stat.S_IMODE(followed.st_mode) if followed is not None else None
    try:
        fd, temp = _create_temp(directory, 0o600 if mode is not None else 0o666)
    except OSError as exc:
        raise _write_error("output-unwritable", f"cannot write {shown}: {exc.strerror}", name) from None
    try:
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data if isinstance(data, bytes) else data.encode("utf-8"))
                out.flush()
                os.fsync(out.fileno())
            if mode is not None:
                os.chmod(temp, mode)
            os.replace(temp, name)
        except OSError as exc:
            raise _write_error("output-unwritable", f"cannot write {shown}: {exc.strerror}", name) from None
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    _sync_directory(directory)


def check_target(target: str | os.PathLike[str], spec: str | os.PathLike[str] | None = None,
                 reads: Iterable[str | os.PathLike[str]] = (), *, refusal_note: str = "") -> os.stat_result | None:
    """The guards of :func:`write_atomic` alone (a caller with slow work to do checks first): a SpecError
    if ``target`` may not be written, else its status (links followed; None when it does not exist)."""
    name = os.fspath(target)
    shown = printable(name)
    try:
        followed: os.stat_result | None = os.stat(name)
    except FileNotFoundError:
        followed = None
    except OSError as exc:
        raise _write_error("output-unwritable", f"cannot write {shown}: {exc.strerror}", name) from None
    if followed is not None:
        mine = {(followed.st_dev, followed.st_ino)}
        with contextlib.suppress(OSError):
            own = os.lstat(name)
            mine.add((own.st_dev, own.st_ino))
        if spec is not None and mine & identities([spec]):
            raise _write_error("output-refused", f"refusing to overwrite the spec itself: {shown}", name,
                               "write the output to another file")
        if mine & identities(reads):
            raise _write_error("output-refused", f"refusing to overwrite a file the spec reads: {shown}", name,
                               "write the output to another file")
        if not stat.S_ISREG(followed.st_mode):  # a rename would swap a device or FIFO for a plain file
            raise _write_error("output-refused", f"refusing to replace {shown}: it is not a regular file"
                               + refusal_note, name)
    return followed


def _create_temp(directory: str, mode: int) -> tuple[int, str]:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_NOFOLLOW | _O_CLOEXEC | _O_BINARY
    for _ in range(100):
        temp = os.path.join(directory, f".netspec-{secrets.token_hex(6)}.tmp")
        try:
            return os.open(temp, flags, mode), temp
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no free temp file name", directory)


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


def _write_error(code: str, message: str, target: str, hint: str | None = None) -> SpecError:
    return SpecError([Diagnostic(code, message, Span(target, 0, 0), hint=hint)])


__all__ = ["FileId", "SpecFile", "UnsafeFile", "check_target", "identities", "inside", "is_regular", "kind",
           "read_spec", "write_atomic"]
