"""``netspec compile -o``: the output file is replaced atomically or not at all.

The promise: a temp file in the target's directory and ``os.replace``; the
target keeps its mode; the spec itself (by name, through a symlink or a hard
link) is never overwritten; on any error or interruption the old output is left
byte for byte as it was and no temp file remains.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
from pathlib import Path
from typing import Any

import pytest

import netspec
from netspec.tools import cli
from tests.conftest import SPECS_DIR, run_cli

OLD = b"# the previous output, which must survive\n"


@pytest.fixture
def work(tmp_path: Path) -> Path:
    shutil.copyfile(SPECS_DIR / "lenet.yaml", tmp_path / "lenet.yaml")
    return tmp_path


def compile_to(spec: Path, output: Path | str) -> Any:
    return run_cli("compile", str(spec), "-o", str(output))


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.startswith(".netspec-"))


def test_writes_exactly_what_compile_prints(work: Path) -> None:
    result = compile_to(work / "lenet.yaml", work / "lenet.py")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    expected = netspec.compile_source(work / "lenet.yaml")
    assert (work / "lenet.py").read_text(encoding="utf-8") == expected
    assert compile(expected, "lenet.py", "exec")
    assert leftovers(work) == []


def test_new_file_gets_the_umask_mode(work: Path) -> None:
    old = os.umask(0o027)
    try:
        assert compile_to(work / "lenet.yaml", work / "lenet.py").exit_code == 0
    finally:
        os.umask(old)
    assert stat.S_IMODE((work / "lenet.py").stat().st_mode) == 0o640


@pytest.mark.parametrize("mode", [0o600, 0o640, 0o755])
def test_replacing_keeps_the_targets_mode(work: Path, mode: int) -> None:
    target = work / "lenet.py"
    target.write_bytes(OLD)
    target.chmod(mode)
    inode = target.stat().st_ino
    assert compile_to(work / "lenet.yaml", target).exit_code == 0
    assert stat.S_IMODE(target.stat().st_mode) == mode
    assert target.read_bytes() != OLD
    assert target.stat().st_ino != inode  # a new file was renamed into place, not the old one rewritten


def test_refuses_to_overwrite_the_spec(work: Path) -> None:
    spec = work / "lenet.yaml"
    before = spec.read_bytes()
    for target in (spec, work / "." / "lenet.yaml"):
        result = compile_to(spec, target)
        assert result.exit_code == 1
        assert "refusing to overwrite the spec itself" in result.stderr
        assert "Traceback" not in result.output
    assert spec.read_bytes() == before
    assert leftovers(work) == []


def test_refuses_the_spec_through_a_symlink(work: Path) -> None:
    spec = work / "lenet.yaml"
    before = spec.read_bytes()
    link = work / "out.py"
    link.symlink_to(spec)
    result = compile_to(spec, link)
    assert result.exit_code == 1 and "refusing" in result.stderr
    assert link.is_symlink() and spec.read_bytes() == before


def test_refuses_when_the_spec_is_the_symlink(work: Path) -> None:
    real = work / "lenet.yaml"
    before = real.read_bytes()
    link = work / "alias.yaml"
    link.symlink_to(real)
    result = compile_to(link, real)
    assert result.exit_code == 1 and "refusing" in result.stderr
    assert real.read_bytes() == before


def test_refuses_the_spec_through_a_hard_link(work: Path) -> None:
    spec = work / "lenet.yaml"
    before = spec.read_bytes()
    os.link(spec, work / "out.py")
    result = compile_to(spec, work / "out.py")
    assert result.exit_code == 1 and "refusing" in result.stderr
    assert spec.read_bytes() == before


def test_a_symlinked_target_is_replaced_not_written_through(work: Path) -> None:
    elsewhere = work / "elsewhere.txt"
    elsewhere.write_bytes(OLD)
    link = work / "out.py"
    link.symlink_to(elsewhere)
    assert compile_to(work / "lenet.yaml", link).exit_code == 0
    assert not link.is_symlink()
    assert elsewhere.read_bytes() == OLD


def test_invalid_spec_leaves_the_old_output(work: Path) -> None:
    spec = work / "lenet.yaml"
    spec.write_text(spec.read_text().replace("out_features: 120", "out_features: 0"))
    target = work / "lenet.py"
    target.write_bytes(OLD)
    result = compile_to(spec, target)
    assert result.exit_code == 1
    assert "error[bad-value]" in result.stderr
    assert target.read_bytes() == OLD
    assert leftovers(work) == []


def test_hostile_spec_leaves_the_old_output(work: Path) -> None:
    spec = work / "evil.yaml"
    spec.write_text("netspec: 1\nname: !!python/object/apply:os.system ['echo > lenet.py']\n")
    target = work / "lenet.py"
    target.write_bytes(OLD)
    result = compile_to(spec, target)
    assert result.exit_code == 1 and "error[yaml-tag]" in result.stderr
    assert target.read_bytes() == OLD


def _fail_with(exc: BaseException) -> Any:
    """A stand-in for an ``os`` function that raises ``exc``."""

    def fail(*args: object, **kwargs: object) -> None:
        raise exc

    return fail


@pytest.mark.parametrize("step", ["fsync", "chmod", "replace"])
def test_failure_mid_write_leaves_the_old_output(work: Path, monkeypatch: pytest.MonkeyPatch, step: str) -> None:
    target = work / "lenet.py"
    target.write_bytes(OLD)
    monkeypatch.setattr(os, step, _fail_with(OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))))
    result = compile_to(work / "lenet.yaml", target)
    monkeypatch.undo()
    assert result.exit_code == 1
    assert f"cannot write {target}: {os.strerror(errno.ENOSPC)}" in result.stderr
    assert "Traceback" not in result.output
    assert target.read_bytes() == OLD
    assert leftovers(work) == []


def test_partial_write_leaves_the_old_output(work: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The disk fills half-way through the text: the half-written temp file never replaces the target."""
    target = work / "lenet.py"
    target.write_bytes(OLD)
    real_fdopen = os.fdopen
    written: list[int] = []

    class HalfFull:
        def __init__(self, handle: Any) -> None:
            self.handle = handle

        def __enter__(self) -> HalfFull:
            return self

        def __exit__(self, *exc: object) -> None:
            self.handle.close()

        def write(self, text: str) -> int:
            self.handle.write(text[: len(text) // 2])
            self.handle.flush()
            written.append(len(text) // 2)
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fdopen", lambda *a, **k: HalfFull(real_fdopen(*a, **k)))
    result = compile_to(work / "lenet.yaml", target)
    monkeypatch.undo()
    assert written and written[0] > 0
    assert result.exit_code == 1
    assert target.read_bytes() == OLD
    assert leftovers(work) == []


def test_interrupt_mid_write_leaves_the_old_output(work: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = work / "lenet.py"
    target.write_bytes(OLD)
    monkeypatch.setattr(os, "fsync", _fail_with(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        cli.write_atomic(str(target), netspec.compile_source(work / "lenet.yaml"), str(work / "lenet.yaml"))
    monkeypatch.undo()
    assert target.read_bytes() == OLD
    assert leftovers(work) == []


def test_missing_directory_is_an_error_not_a_traceback(work: Path) -> None:
    result = compile_to(work / "lenet.yaml", work / "no" / "such" / "dir" / "lenet.py")
    assert result.exit_code == 1
    assert "cannot write" in result.stderr and "Traceback" not in result.output


def test_directory_as_output_is_a_usage_error(work: Path) -> None:
    result = compile_to(work / "lenet.yaml", work)
    assert result.exit_code == 2
    assert leftovers(work) == []


def test_refuses_to_replace_what_is_not_a_regular_file(work: Path) -> None:
    # os.replace onto -o /dev/null would swap the device for a plain file; a FIFO shows it safely
    fifo = work / "out.py"
    os.mkfifo(fifo)
    link = work / "link.py"
    link.symlink_to(fifo)
    for target in (fifo, link):
        result = compile_to(work / "lenet.yaml", target)
        assert result.exit_code == 1
        assert "it is not a regular file" in result.stderr
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    assert leftovers(work) == []
