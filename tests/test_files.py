"""Reading specs and writing outputs safely (netspec/frontend/files.py and every path that reads or writes).

Hostile file systems: an import swapped for a FIFO, a link out of the fence or another file between
the check and the open; a FIFO named like a shipped spec; an output that is the spec itself or a file
it reads; a diamond of imports.  Nothing here may hang: every call that could block on a FIFO runs in a
daemon thread with a deadline, and a reader left waiting is released by opening the FIFO's other end.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import sys
import textwrap
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import netspec
from netspec import api
from netspec.errors import SpecError
from netspec.frontend import expand, files, shipped
from tests.conftest import SPECS_DIR

posix_only = pytest.mark.skipif(not hasattr(os, "mkfifo") or sys.platform == "win32",
                                reason="FIFOs, symlinks and O_NOFOLLOW are POSIX")
DEADLINE = 20.0  # seconds; every call here answers in well under one

HEAD = "netspec: 1\nname: M\ninputs: {x: [N, 4]}\n"
LIB = """\
netspec: 1
name: Lib
blocks:
  Mlp:
    args: {c: int, hidden: 16}
    inputs: {x: [N, c]}
    layers:
      fc1: {type: Linear, out_features: hidden}
      act: ReLU
      fc2: {type: Linear, out_features: c}
"""


def library(imports: str, block: str) -> str:
    """A spec file of one block, ``block``, that imports ``imports``."""
    return f"netspec: 1\nimports: [{imports}]\nblocks:\n  {block}: {{inputs: {{x: [N, 4]}}, layers: {{r: ReLU}}}}\n"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def no_hang(call: Callable[[], Any], fifos: tuple[Path, ...] = ()) -> Any:
    """``call()``'s result (or the exception it raised), failing the test if it has not answered in time."""
    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append(call())
        except BaseException as exc:  # handed back to the test
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(DEADLINE)
    if thread.is_alive():
        for fifo in fifos:  # release a reader blocked in open(), so the thread ends
            with contextlib.suppress(OSError):
                os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        thread.join(DEADLINE)
        pytest.fail(f"no answer in {DEADLINE}s: a FIFO was opened in blocking mode")
    return outcome[0]


def refused(result: Any, code: str) -> str:
    assert isinstance(result, SpecError), result
    assert result.errors[0].code == code, result
    return result.errors[0].message


@pytest.fixture(autouse=True)
def _fresh_cache() -> Any:
    api.cache_clear()
    yield
    api.cache_clear()


# ---------------------------------------------------------------- the compile cache's freshness check


@posix_only
def test_an_import_replaced_by_a_fifo_is_refused_not_waited_on(tmp_path: Path) -> None:
    lib = write(tmp_path / "lib.yaml", LIB)
    spec = write(tmp_path / "main.yaml", HEAD + "imports: [lib.yaml]\nlayers:\n  m: Mlp\n")
    assert netspec.summary(spec).total_params > 0  # cached, with lib.yaml's text
    lib.unlink()
    os.mkfifo(lib)
    refused(no_hang(lambda: netspec.validate(spec), (lib,)), "import-refused")


@posix_only
def test_an_import_replaced_by_a_link_out_of_the_fence_is_not_answered_from_the_cache(tmp_path: Path) -> None:
    outside = write(tmp_path / "outside" / "lib.yaml", LIB)  # the very same text
    lib = write(tmp_path / "spec" / "lib.yaml", LIB)
    spec = write(tmp_path / "spec" / "main.yaml", HEAD + "imports: [lib.yaml]\nlayers:\n  m: Mlp\n")
    netspec.validate(spec)
    lib.unlink()
    lib.symlink_to(outside)
    api.cache_clear()
    fresh = no_hang(lambda: netspec.validate(spec))
    refused(fresh, "import-refused")
    # the same again, this time with the cached result in place: the cache must say what a fresh compile says
    lib.unlink()
    write(lib, LIB)
    netspec.validate(spec)
    lib.unlink()
    lib.symlink_to(outside)
    refused(no_hang(lambda: netspec.validate(spec)), "import-refused")


@posix_only
def test_the_cache_sees_an_import_that_now_resolves_elsewhere(tmp_path: Path) -> None:
    # found in the --search-path directory first; then one appears beside the spec, which a fresh compile prefers
    write(tmp_path / "shared" / "lib.yaml", LIB)
    spec = write(tmp_path / "spec" / "main.yaml", HEAD + "imports: [lib.yaml]\nlayers:\n  m: Mlp\n")
    before = netspec.summary(spec, search_path=[tmp_path / "shared"]).total_params
    write(tmp_path / "spec" / "lib.yaml", LIB.replace("hidden: 16", "hidden: 2"))
    assert netspec.summary(spec, search_path=[tmp_path / "shared"]).total_params != before


@posix_only
def test_a_fifo_import_in_the_language_servers_path_is_refused(tmp_path: Path) -> None:
    from netspec.tools import lsp_features

    lib = write(tmp_path / "lib.yaml", LIB)
    text = HEAD + "imports: [lib.yaml]\nlayers:\n  m: Mlp\n"
    doc = lsp_features.Document(str(tmp_path / "main.yaml"))
    assert doc.update(text) == []
    lib.unlink()
    os.mkfifo(lib)
    problems = no_hang(lambda: doc.update(text), (lib,))
    assert [p.code for p in problems] == ["import-refused"], problems
    assert no_hang(lambda: lsp_features.imported_blocks(doc), (lib,)) == {}


# ---------------------------------------------------------------- the file opened is the file checked


@posix_only
def test_an_import_swapped_for_a_link_after_its_check_is_refused(tmp_path: Path, monkeypatch: Any) -> None:
    outside = write(tmp_path / "outside" / "lib.yaml", LIB.replace("Mlp", "Secret"))
    write(tmp_path / "spec" / "lib.yaml", LIB)
    spec = write(tmp_path / "spec" / "main.yaml", HEAD + "imports: [lib.yaml]\nlayers:\n  m: Mlp\n")
    locate = expand.Reader.locate

    def swap_after_check(self: expand.Reader, *args: Any) -> str:
        real = locate(self, *args)
        os.unlink(real)
        os.symlink(outside, real)  # between the fence check and the open
        return real

    monkeypatch.setattr(expand.Reader, "locate", swap_after_check)
    message = refused(no_hang(lambda: netspec.validate(spec)), "import-refused")
    assert "Secret" not in message


@posix_only
def test_an_import_whose_directory_is_swapped_for_a_link_after_its_check_is_refused(
        tmp_path: Path, monkeypatch: Any) -> None:
    write(tmp_path / "outside" / "parts" / "lib.yaml", LIB)  # same name and text: only where it lies differs
    write(tmp_path / "spec" / "parts" / "lib.yaml", LIB)
    spec = write(tmp_path / "spec" / "main.yaml", HEAD + "imports: [parts/lib.yaml]\nlayers:\n  m: Mlp\n")
    locate = expand.Reader.locate

    def swap_after_check(self: expand.Reader, *args: Any) -> str:
        real = locate(self, *args)
        shutil.rmtree(tmp_path / "spec" / "parts")
        os.symlink(tmp_path / "outside" / "parts", tmp_path / "spec" / "parts")
        return real

    monkeypatch.setattr(expand.Reader, "locate", swap_after_check)
    message = refused(no_hang(lambda: netspec.validate(spec)), "import-refused")
    assert "outside the directories" in message


@posix_only
def test_read_spec_checks_the_descriptor(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    for fence in (None, [str(tmp_path)]):
        with pytest.raises(files.UnsafeFile, match="FIFO"):
            _raise(no_hang(lambda f=fence: files.read_spec(fifo, 100, f), (fifo,)))
    real = write(tmp_path / "outside" / "a.yaml", "x: 1\n")
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.yaml").symlink_to(real)
    assert files.read_spec(tmp_path / "in" / "a.yaml", 100).data == b"x: 1\n"  # a file the user named: followed
    with pytest.raises(files.UnsafeFile, match="link"):  # fenced: never through a link
        files.read_spec(str(tmp_path / "in" / "a.yaml"), 100, [str(tmp_path / "in")])
    with pytest.raises(files.UnsafeFile, match="outside"):
        files.read_spec(str(real), 100, [str(tmp_path / "in")])
    got = files.read_spec(str(real), 3, [str(tmp_path)])
    assert (got.data, got.real) == (b"x: ", str(real))


def _raise(value: Any) -> Any:
    if isinstance(value, BaseException):
        raise value
    return value


# ---------------------------------------------------------------- one file reached twice is one definition


def test_an_import_diamond_is_one_definition(tmp_path: Path) -> None:
    write(tmp_path / "d.yaml", LIB)
    write(tmp_path / "b.yaml", library("d.yaml", "B"))
    write(tmp_path / "c.yaml", library("d.yaml", "C"))
    spec = write(tmp_path / "a.yaml", HEAD + "imports: [b.yaml, c.yaml]\nlayers:\n  m: Mlp\n  b: B\n  c: C\n")
    assert netspec.summary(spec).total_params == 4 * 16 + 16 + 16 * 4 + 4
    # extends one side, imports the other
    spec = write(tmp_path / "e.yaml", HEAD + "extends: b.yaml\nimports: [c.yaml, d.yaml]\nlayers:\n  m: Mlp\n")
    assert netspec.summary(spec).total_params == 4 * 16 + 16 + 16 * 4 + 4


@posix_only
def test_an_import_diamond_through_a_hard_link_is_one_definition(tmp_path: Path) -> None:
    write(tmp_path / "d.yaml", LIB)
    os.link(tmp_path / "d.yaml", tmp_path / "d2.yaml")
    write(tmp_path / "b.yaml", library("d.yaml", "B"))
    write(tmp_path / "c.yaml", library("d2.yaml", "C"))
    spec = write(tmp_path / "a.yaml", HEAD + "imports: [b.yaml, c.yaml]\nlayers:\n  m: Mlp\n")
    assert netspec.summary(spec).total_params == 4 * 16 + 16 + 16 * 4 + 4


def test_two_files_defining_one_name_are_still_a_duplicate(tmp_path: Path) -> None:
    write(tmp_path / "d.yaml", LIB)
    write(tmp_path / "d2.yaml", LIB)  # a copy: another file, another definition
    write(tmp_path / "b.yaml", library("d.yaml", "B"))
    spec = write(tmp_path / "a.yaml", HEAD + "imports: [b.yaml, d2.yaml]\nlayers:\n  m: Mlp\n")
    with pytest.raises(SpecError) as info:
        netspec.validate(spec)
    assert info.value.errors[0].code == "duplicate-name"


# ---------------------------------------------------------------- a FIFO named like a shipped spec


@posix_only
@pytest.mark.parametrize("name", ["lenet", "lenet.yaml", "specs/alexnet.yaml"])
def test_a_fifo_named_like_a_shipped_spec_is_refused(tmp_path: Path, monkeypatch: Any, name: str, cli) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "specs").mkdir()
    os.mkfifo(name)
    fifo = (tmp_path / name,)
    message = refused(no_hang(lambda: netspec.validate(name), fifo), "file-unreadable")
    assert "not a regular file" in message
    result = no_hang(lambda: cli("summary", name), fifo)
    assert result.exit_code == 1 and "error[file-unreadable]" in result.stderr
    assert "not a regular file" in result.stderr and "Traceback" not in result.output


# ---------------------------------------------------------------- writers


@pytest.fixture
def clone(tmp_path: Path, monkeypatch: Any) -> Path:
    """A clone's root as the working directory, its specs/ a copy (the repository's own stay untouched)."""
    (tmp_path / "specs").mkdir()
    shutil.copyfile(SPECS_DIR / "lenet.yaml", tmp_path / "specs" / "lenet.yaml")
    monkeypatch.setattr(shipped, "data_dir", lambda: tmp_path)
    shipped.shipped.cache_clear()
    monkeypatch.chdir(tmp_path)
    yield tmp_path
    shipped.shipped.cache_clear()


def test_compile_by_name_refuses_the_shipped_spec_it_resolved_to(clone: Path, cli) -> None:
    before = (clone / "specs" / "lenet.yaml").read_bytes()
    for command in (["compile", "lenet", "-o", "specs/lenet.yaml"], ["graph", "lenet", "-o", "specs/lenet.yaml",
                                                                      "--format", "dot"]):
        result = cli(*command)
        assert result.exit_code == 1, result.output
        assert "refusing to overwrite the spec itself" in result.stderr
    assert (clone / "specs" / "lenet.yaml").read_bytes() == before


def test_compile_refuses_a_file_the_spec_imports(tmp_path: Path, cli) -> None:
    lib = write(tmp_path / "lib.yaml", LIB)
    spec = write(tmp_path / "main.yaml", HEAD + "imports: [lib.yaml]\nlayers:\n  m: Mlp\n")
    result = cli("compile", str(spec), "-o", str(lib))
    assert result.exit_code == 1 and "refusing to overwrite a file the spec reads" in result.stderr
    assert lib.read_text() == LIB


def _fake_export(monkeypatch: Any) -> None:
    """export_onnx without torch.onnx or the onnx extra: only where the bytes go is under test."""
    from netspec.tools import export

    def fake_bytes(compiled: api.Compiled, **_: Any) -> tuple[bytes, export.OnnxExport]:
        return b"ONNX", export.OnnxExport(Path(), compiled.name, {}, ["output"], 18, 0)

    monkeypatch.setattr(export, "check_extra", lambda: None)
    monkeypatch.setattr(export, "compiled_bytes", fake_bytes)


@posix_only
def test_export_onnx_refuses_the_spec_and_what_it_reads(tmp_path: Path, clone: Path, monkeypatch: Any) -> None:
    _fake_export(monkeypatch)
    lib = write(tmp_path / "lib.yaml", LIB)
    spec = write(tmp_path / "main.yaml", HEAD + "imports: [lib.yaml]\nlayers:\n  m: Mlp\n")
    alias = tmp_path / "alias.onnx"
    alias.symlink_to(spec)
    for target in (spec, lib, alias):
        with pytest.raises(SpecError) as info:
            netspec.export_onnx(spec, target)
        assert info.value.errors[0].code == "output-refused"
    with pytest.raises(SpecError):
        netspec.export_onnx("lenet", "specs/lenet.yaml")  # a shipped name, resolved
    with pytest.raises(SpecError):
        netspec.export_onnx(None, spec, text=spec.read_text(), filename=str(spec))
    assert spec.read_text().startswith("netspec: 1") and lib.read_text() == LIB
    assert (clone / "specs" / "lenet.yaml").read_bytes() == (SPECS_DIR / "lenet.yaml").read_bytes()
    done = netspec.export_onnx(spec, tmp_path / "out.onnx")
    assert (tmp_path / "out.onnx").read_bytes() == b"ONNX" and done.size == 4


@posix_only
def test_export_onnx_refuses_a_fifo_or_a_device(tmp_path: Path, monkeypatch: Any) -> None:
    _fake_export(monkeypatch)
    spec = write(tmp_path / "main.yaml", HEAD + "layers:\n  fc: ReLU\n")
    fifo = tmp_path / "out.onnx"
    os.mkfifo(fifo)
    for target in (fifo, Path(os.devnull), tmp_path):
        with pytest.raises(SpecError) as info:
            _raise(no_hang(lambda t=target: netspec.export_onnx(spec, t), (fifo,)))
        assert info.value.errors[0].code == "output-refused"
    assert stat.S_ISFIFO(os.stat(fifo).st_mode) and stat.S_ISCHR(os.stat(os.devnull).st_mode)


@posix_only
def test_writers_never_touch_the_process_umask(tmp_path: Path, monkeypatch: Any, cli) -> None:
    """``os.umask`` sets the mask of every thread while it reads it: writers must never call it."""
    _fake_export(monkeypatch)
    spec = write(tmp_path / "main.yaml", HEAD + "layers:\n  fc: ReLU\n")
    old = os.umask(0o027)
    try:
        def forbidden(*_: Any) -> int:
            raise AssertionError("os.umask called")

        monkeypatch.setattr(os, "umask", forbidden)
        result = cli("compile", str(spec), "-o", str(tmp_path / "m.py"))
        assert result.exit_code == 0, result.output
        netspec.export_onnx(spec, tmp_path / "m.onnx")
        files.write_atomic(tmp_path / "plain.txt", "text")
    finally:
        monkeypatch.undo()
        os.umask(old)
    for name in ("m.py", "m.onnx", "plain.txt"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o640, name


def test_write_atomic_keeps_a_private_targets_mode(tmp_path: Path) -> None:
    target = tmp_path / "out.py"
    target.write_text("old")
    target.chmod(0o600)
    files.write_atomic(target, b"new")
    assert target.read_bytes() == b"new" and stat.S_IMODE(target.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["out.py"]


# ---------------------------------------------------------------- control characters in file names


@posix_only
def test_an_imported_file_names_control_characters_never_reach_the_terminal(tmp_path: Path, cli) -> None:
    write(tmp_path / "a\ab.yaml", "netspec: 1\nname: Lib\n")  # lacks `blocks:`, which an import needs
    spec = write(tmp_path / "main.yaml", HEAD + 'imports: ["a\\ab.yaml"]\nlayers:\n  fc: ReLU\n')
    with pytest.raises(SpecError) as info:
        netspec.validate(spec)
    assert info.value.errors[0].code == "import-empty"
    assert "\a" not in info.value.errors[0].render()
    result = cli("validate", str(spec))
    assert result.exit_code == 1 and "error[import-empty]" in result.stderr
    assert "\a" not in result.output and "a\\x07b.yaml" in result.stderr
