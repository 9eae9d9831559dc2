"""A checkpoint's weights into a built module: a PyTorch ``state_dict`` file (``.pt``/``.pth``, read with
``torch.load(weights_only=True)``: no code in it runs), a ``.safetensors`` file, or a sharded checkpoint's
``.index.json`` (its ``weight_map`` names each tensor's shard file, relative to the index).

    >>> netspec.load("llama.yaml", config="config.json", weights="model.safetensors.index.json")
    >>> netspec.load("my_net.yaml", weights="runs/best.pth")

A PyTorch file's keys may be renamed first (a spec's ``weights:`` entry's ``renames``,
:func:`netspec.middle.named_weights.rename`), and a BatchNorm counter an old file lacks is filled with 0,
as ``load_state_dict`` fills it.

Strict, as ``load_state_dict(strict=True)`` is, and checked before a single value is read: every
``state_dict`` key of the module must be in the checkpoint and every tensor of the checkpoint must be a
key of the module, with the same shape.  Every mismatch is one diagnostic (``missing-weight``,
``unexpected-weight``, ``weight-shape-mismatch``), all raised together as one :class:`SpecError`; only
then are the values copied, one shard at a time, by ``load_state_dict`` (``copy_``: the checkpoint's
tensors are converted to the module's dtype and device).

Tied weights: a module may share one tensor under two names (an LM head tied to the embedding); a
checkpoint may hold only one of them (Hugging Face leaves ``lm_head.weight`` out when tied), and the
other is then not missing.  Where it holds both, their values must agree (``tied-weight-mismatch``).

On ``meta`` (``load(..., device="meta")``) nothing is copied: the keys and shapes are checked, which
reads only the files' headers.

The ``safetensors`` package is the ``hf`` extra (``pip install 'netspec[hf]'``); without it,
:func:`load_weights` of a safetensors checkpoint raises SpecError ``missing-extra`` (PyTorch files need
nothing more).  Imports torch: only :mod:`netspec.api`
(when ``weights=`` is given) and the tools import this module.
"""

from __future__ import annotations

import os
import pickle
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..errors import Diagnostic, Span, SpecError, did_you_mean, printable
from ..frontend import files, hf_config
from ..middle import ir, named_weights

EXTRA_HINT = "pip install 'netspec[hf]'"
# PyTorch files: by suffix, else by their first bytes (torch.save's zip, or the legacy pickle's protocol byte)
TORCH_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt")
ZIP_MAGIC, PICKLE_MAGIC = b"PK\x03\x04", b"\x80"
BN_COUNTER = "num_batches_tracked"
# what torch.load(weights_only=True) says it refused: "Unsupported global: GLOBAL module.Class was not an allowed..."
WEIGHTS_ONLY_REASON = re.compile(r"(Unsupported global: GLOBAL [\w.]+|Unsupported operand \d+)")
# A checkpoint whose name ends so is a sharded checkpoint's index; anything else is one safetensors file.
INDEX_SUFFIX = ".json"

Shape = tuple[int, ...]


@dataclass(frozen=True)
class Shard:
    """One safetensors file of a checkpoint: its path and the tensors taken from it, by name, with shapes."""

    file: str
    shapes: Mapping[str, Shape]


def require_safetensors(file: str | None = None) -> Any:
    """The ``safetensors`` module; SpecError ``missing-extra`` naming the extra when it is not installed
    (at ``file``, the checkpoint asked for, when given)."""
    try:
        import safetensors
        import safetensors.torch  # the torch side must import too
    except ImportError:
        raise SpecError([Diagnostic(
            "missing-extra", "loading weights needs the safetensors package, which is not installed",
            Span(file, 0, 0) if file is not None else None, (),
            f"install the hf extra: {EXTRA_HINT}")]) from None
    return safetensors


def load_weights(module: nn.Module, path: str | os.PathLike[str], renames: tuple[ir.Rename, ...] = ()) -> None:
    """Load the checkpoint at ``path`` (a PyTorch ``state_dict`` file, ``.safetensors``, or a sharded
    checkpoint's ``.index.json``) into ``module`` strictly; SpecError with one diagnostic per mismatch, before
    anything is copied.  ``renames`` (a ``weights:`` entry's) rename a PyTorch file's keys first."""
    shown = os.fspath(path)
    if is_torch_file(shown):
        load_torch_file(module, shown, renames)
        return
    safetensors = require_safetensors(shown)
    if renames:  # the keys change before the check: every tensor is read first, then checked as a state_dict is
        tensors: dict[str, torch.Tensor] = {}
        for shard in read_shards(safetensors, shown):
            with safetensors.safe_open(shard.file, framework="pt", device="cpu") as opened:
                tensors.update({key: opened.get_tensor(key) for key in shard.shapes})
        load_state(module, tensors, shown, renames)
        return
    shards = read_shards(safetensors, shown)
    aliases = tied_names(module)
    expected = {key: tuple(tensor.shape) for key, tensor in module.state_dict(keep_vars=True).items()}
    problems = check(expected, shards, aliases, shown)
    if problems:
        raise SpecError(problems)
    if any(t.is_meta for t in module.state_dict(keep_vars=True).values()):
        return  # nothing to copy into: the check is the answer
    held = {key for shard in shards for key in shard.shapes}
    # Of a tied group held under several names, the first is loaded and the others compared with it.
    later: set[str] = set()
    for names in aliases.values():
        present = [n for n in names if n in held]
        later.update(present[1:])
    for shard in shards:
        try:
            with safetensors.safe_open(shard.file, framework="pt", device="cpu") as opened:
                values = {key: opened.get_tensor(key) for key in shard.shapes if key not in later}
            if values:
                _copy(module, values)
        except Exception as exc:  # a file damaged past its header, a dtype torch cannot convert
            detail = (str(exc).strip().splitlines() or [""])[0][:200]
            raise _error("weights-unreadable", f"loading the tensors of {printable(shard.file)} failed: "
                         f"{type(exc).__name__}: {detail}", Span(shard.file, 0, 0)) from None
        del values
    if later:
        _compare_tied(module, safetensors, shards, later, aliases)


def is_torch_file(path: str) -> bool:
    """Whether ``path`` is a PyTorch file (``torch.save``'s zip or legacy pickle) rather than safetensors: by its
    suffix, else by its first bytes (a safetensors file starts with its header's length)."""
    if path.endswith(TORCH_SUFFIXES):
        return True
    if path.endswith((".safetensors", INDEX_SUFFIX)):
        return False
    try:
        with open(path, "rb") as stream:
            start = stream.read(4)
    except OSError:
        return False
    return start.startswith((ZIP_MAGIC, PICKLE_MAGIC))


def read_torch_file(path: str) -> dict[str, torch.Tensor]:
    """The ``state_dict`` a PyTorch file holds, read with ``torch.load(weights_only=True)`` (no code runs:
    a pickle holding more than tensors and plain containers is refused), memory-mapped where the format
    allows.  SpecError ``weights-unreadable`` for a file that is not one."""
    where = Span(path, 0, 0)
    if not files.is_regular(path):
        reason = "no such file" if not os.path.lexists(path) else "not a regular file"
        raise _error("weights-unreadable", f"cannot read the weights file {printable(path)}: {reason}", where,
                     "name a .pt/.pth state_dict file, a .safetensors file, or weights the spec declares")
    try:
        with open(path, "rb") as stream:
            start = stream.read(4)
    except OSError as exc:
        raise _error("weights-unreadable", f"cannot read the weights file {printable(path)}: {exc.strerror}",
                     where) from None
    if not start.startswith((ZIP_MAGIC, PICKLE_MAGIC)):
        raise _error("weights-unreadable", f"{printable(path)} is not a readable PyTorch file: it is neither "
                     "torch.save's zip nor a pickle", where,
                     "name a .pt/.pth file torch.save wrote, or a .safetensors file")
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True, mmap=start.startswith(ZIP_MAGIC))
    except pickle.UnpicklingError as exc:
        text = str(exc)
        if "Weights only load failed" not in text:
            detail = (text.strip().splitlines() or [""])[0][:200]
            raise _error("weights-unreadable", f"{printable(path)} is not a readable PyTorch file: {detail}",
                         where) from None
        found = WEIGHTS_ONLY_REASON.search(text)
        reason = f": {found.group(1)[:200]}" if found else ""
        raise _error("weights-unreadable", f"{printable(path)} holds more than weights: torch.load(weights_only=True) "
                     f"refuses it{reason}", where,
                     "netspec never unpickles code: save the weights alone, torch.save(model.state_dict(), path), "
                     "or as .safetensors") from None
    except Exception as exc:  # a truncated zip: the file, not netspec
        detail = (str(exc).strip().splitlines() or [""])[0][:200]
        raise _error("weights-unreadable", f"{printable(path)} is not a readable PyTorch file: "
                     f"{type(exc).__name__}: {detail}", where) from None
    if not isinstance(loaded, Mapping):
        raise _error("weights-unreadable", f"{printable(path)} holds a {type(loaded).__name__}, not a state_dict "
                     "(a mapping of names to tensors)", where, "save model.state_dict(), not the model")
    wrong = [key for key, value in loaded.items() if not isinstance(key, str) or not isinstance(value, torch.Tensor)]
    if wrong:
        nested = [key for key in wrong if isinstance(loaded[key], Mapping)]
        hint = (f"the state_dict may be the entry '{nested[0]}' of a training checkpoint: save "
                f"checkpoint[{nested[0]!r}] alone" if nested else "a state_dict maps each name to one tensor")
        raise _error("weights-unreadable", f"{printable(path)} is not a state_dict: entry "
                     f"{printable(str(wrong[0]))!r} holds a {type(loaded[wrong[0]]).__name__}, not a tensor",
                     where, hint)
    return dict(loaded)


def load_torch_file(module: nn.Module, path: str, renames: tuple[ir.Rename, ...] = ()) -> None:
    """A PyTorch ``state_dict`` file into ``module``: its keys renamed, then checked strictly as a safetensors
    checkpoint's are (one diagnostic per missing, unexpected or misshapen key), then copied."""
    load_state(module, read_torch_file(path), path, renames)


def load_state(module: nn.Module, held: dict[str, torch.Tensor], path: str,
               renames: tuple[ir.Rename, ...] = ()) -> None:
    """The tensors ``held`` (read from ``path``) into ``module``: renamed, checked strictly, copied."""
    if renames:
        renamed: dict[str, torch.Tensor] = {}
        origin: dict[str, str] = {}
        for key, value in held.items():
            new = named_weights.rename(key, renames)
            if new in renamed:
                raise _error("bad-weights", f"the renames give two tensors of {printable(path)} one name '{new}': "
                             f"'{origin[new]}' and '{key}'", Span(path, 0, 0),
                             "make each rename's pattern match only the keys it is meant for")
            renamed[new], origin[new] = value, key
        held = renamed
    aliases = tied_names(module)
    current = module.state_dict(keep_vars=True)
    for key in current:  # a checkpoint older than BatchNorm's counter (PyTorch 0.4.1): torch fills it with 0
        stem = key[: -len(BN_COUNTER)]
        if key.endswith("." + BN_COUNTER) and key not in held and stem + "running_mean" in held:
            held[key] = torch.zeros((), dtype=torch.long)
    expected = {key: tuple(tensor.shape) for key, tensor in current.items()}
    shard = Shard(path, {key: tuple(value.shape) for key, value in held.items()})
    problems = check(expected, [shard], aliases, path)
    if problems:
        raise SpecError(problems)
    if any(t.is_meta for t in current.values()):
        return  # nothing to copy into: the check is the answer
    first = {name: names[0] for names in aliases.values() for name in names}
    later = set()
    for names in aliases.values():
        present = [n for n in names if n in held]
        later.update(present[1:])
    try:
        _copy(module, {key: value for key, value in held.items() if key not in later})
    except Exception as exc:  # a dtype torch cannot convert
        detail = (str(exc).strip().splitlines() or [""])[0][:200]
        raise _error("weights-unreadable", f"loading the tensors of {printable(path)} failed: "
                     f"{type(exc).__name__}: {detail}", Span(path, 0, 0)) from None
    loaded = module.state_dict(keep_vars=True)
    differ = [key for key in later if not torch.equal(
        loaded[key].detach(), held[key].to(dtype=loaded[key].dtype, device=loaded[key].device))]
    if differ:
        raise SpecError([Diagnostic(
            "tied-weight-mismatch", f"'{key}' shares its tensor with '{first[key]}' in the module, but the "
            "checkpoint holds different values for the two", Span(path, 0, 0), (),
            "the checkpoint was trained with the weights untied: build the spec without tying them")
            for key in sorted(differ)])


def read_shards(safetensors: Any, path: str) -> list[Shard]:
    """The safetensors files of the checkpoint at ``path`` and the tensors each holds (headers only)."""
    if not path.endswith(INDEX_SUFFIX):
        return [Shard(path, _header(safetensors, path, path))]
    index = hf_config.read_json_object(path, "index", code="weights-unreadable")
    weight_map = index.data.get("weight_map")
    if not isinstance(weight_map, dict) or not all(isinstance(v, str) for v in weight_map.values()):
        raise _error("weights-unreadable", "the index has no \"weight_map\" object of tensor name -> shard file",
                     index.span("weight_map"), "a sharded checkpoint's model.safetensors.index.json holds "
                     "{\"weight_map\": {\"NAME\": \"model-00001-of-00002.safetensors\", ...}}")
    directory = os.path.dirname(path)
    by_shard: dict[str, list[str]] = {}
    for key, name in weight_map.items():
        file = os.path.join(directory, name)
        # by the name alone, not where links lead: a Hugging Face cache's snapshot links its files to blobs
        if not name or os.path.isabs(name) or os.path.normpath(name).split(os.sep)[0] == os.pardir:
            raise _error("weights-unreadable", f"the index places '{key}' in {printable(name)!r}, outside the "
                         "index's directory", index.span("weight_map"),
                         "a shard is named relative to the index, in its directory")
        by_shard.setdefault(file, []).append(key)
    shards, problems = [], []
    for file, keys in by_shard.items():
        shapes = _header(safetensors, file, path)
        absent = [key for key in keys if key not in shapes]
        problems += [Diagnostic("weights-unreadable", f"the index places '{key}' in {printable(file)}, which "
                                "does not hold it", Span(path, 0, 0), (),
                                "the index and its shards are from different checkpoints, or a shard is damaged")
                     for key in absent]
        shards.append(Shard(file, {key: shapes[key] for key in keys if key in shapes}))
    if problems:
        raise SpecError(problems)
    return shards


def tied_names(module: nn.Module) -> dict[Any, list[str]]:
    """The ``state_dict`` keys of ``module`` that name one shared tensor, grouped (groups of two or more):
    the same Parameter or buffer registered under several names, or tensors over the same memory with the
    same shape, strides and dtype."""
    keys = set(module.state_dict(keep_vars=True))
    groups: dict[Any, list[str]] = {}
    named = [*module.named_parameters(remove_duplicate=False), *module.named_buffers(remove_duplicate=False)]
    for name, tensor in named:
        if name in keys and tensor is not None:
            groups.setdefault(_identity(tensor), []).append(name)
    return {ident: names for ident, names in groups.items() if len(names) > 1}


def check(expected: Mapping[str, Shape], shards: Iterable[Shard], aliases: Mapping[Any, list[str]],
          file: str) -> list[Diagnostic]:
    """One diagnostic per key the checkpoint lacks, holds beyond the module's, or holds in another shape."""
    found: dict[str, tuple[Shape, str]] = {}
    for shard in shards:
        for key, shape in shard.shapes.items():
            found[key] = (shape, shard.file)
    partners = {name: names for names in aliases.values() for name in names}
    missing = [key for key in expected
               if key not in found and not any(other in found for other in partners.get(key, ()))]
    unexpected = [key for key in found if key not in expected]
    problems = [Diagnostic("missing-weight", f"the checkpoint holds no tensor '{key}' (the module's is "
                           f"{_shape(expected[key])})", Span(file, 0, 0), (), _missing_hint(key, unexpected))
                for key in missing]
    problems += [Diagnostic("unexpected-weight", f"the checkpoint's tensor '{key}' {_shape(found[key][0])} is not "
                            "in the module's state_dict", Span(found[key][1], 0, 0), (),
                            _unexpected_hint(key, missing))
                 for key in unexpected]
    problems += [Diagnostic("weight-shape-mismatch", f"'{key}': the module expects shape {_shape(shape)}, the "
                            f"checkpoint holds {_shape(found[key][0])}", Span(found[key][1], 0, 0), (),
                            "the spec's vars differ from the checkpoint's (a config.json sets them: config=)")
                 for key, shape in expected.items() if key in found and found[key][0] != shape]
    return problems


def _copy(module: nn.Module, values: dict[str, torch.Tensor]) -> None:
    """``load_state_dict`` of one shard's tensors: ``copy_`` into the module's own, in its dtype and device."""
    result = module.load_state_dict(values, strict=False)
    assert not result.unexpected_keys, result.unexpected_keys  # check() has seen every key


def _compare_tied(module: nn.Module, safetensors: Any, shards: list[Shard], later: set[str],
                  aliases: Mapping[Any, list[str]]) -> None:
    """The second name of a tied tensor that the checkpoint also holds must hold the value loaded."""
    current = module.state_dict(keep_vars=True)
    first = {name: names[0] for names in aliases.values() for name in names}
    problems = []
    for shard in shards:
        wanted = [key for key in shard.shapes if key in later]
        if not wanted:
            continue
        with safetensors.safe_open(shard.file, framework="pt", device="cpu") as opened:
            for key in wanted:
                target = current[key]
                value = opened.get_tensor(key).to(dtype=target.dtype, device=target.device)
                if not torch.equal(target.detach(), value):
                    problems.append(Diagnostic(
                        "tied-weight-mismatch", f"'{key}' shares its tensor with '{first[key]}' in the module, "
                        "but the checkpoint holds different values for the two", Span(shard.file, 0, 0), (),
                        "the checkpoint was trained with the weights untied: build the spec without tying them"))
    if problems:
        raise SpecError(problems)


def _header(safetensors: Any, file: str, named: str) -> dict[str, Shape]:
    """Each tensor's shape in the safetensors file ``file``, read from its header alone."""
    where = Span(file, 0, 0)
    try:
        regular = files.is_regular(file)
        if not regular:
            reason = "no such file" if not os.path.lexists(file) else "not a regular file"
            raise _error("weights-unreadable", f"cannot read the weights file {printable(file)}: {reason}", where,
                         "name a .safetensors file, or a sharded checkpoint's .index.json" if file == named else
                         f"the index {printable(named)} names it; the shards lie beside the index")
        with safetensors.safe_open(file, framework="pt", device="cpu") as opened:
            return {key: tuple(opened.get_slice(key).get_shape()) for key in opened.keys()}  # noqa: SIM118
    except SpecError:
        raise
    except Exception as exc:  # SafetensorError (a bad header), OSError: the file, not netspec
        detail = (str(exc).strip().splitlines() or [""])[0][:200]
        raise _error("weights-unreadable", f"{printable(file)} is not a readable safetensors file: "
                     f"{type(exc).__name__}: {detail}", where) from None


def _identity(tensor: torch.Tensor) -> Any:
    if tensor.is_meta or tensor.data_ptr() == 0:
        return ("object", id(tensor))
    return ("memory", tensor.device, tensor.data_ptr(), tuple(tensor.shape), tensor.stride(), tensor.dtype)


def _missing_hint(key: str, unexpected: list[str]) -> str | None:
    for other in unexpected:
        if other.endswith("." + key):
            return f"the checkpoint has '{other}': its names carry a prefix '{other[: -len(key)]}' the module's lack"
        if key.endswith("." + other):
            return f"the checkpoint has '{other}': the module's names carry a prefix '{key[: -len(other)]}'"
    return did_you_mean(key, unexpected)


def _unexpected_hint(key: str, missing: list[str]) -> str | None:
    for other in missing:
        if key.endswith("." + other):
            return f"the module has '{other}': the checkpoint's names carry a prefix '{key[: -len(other)]}'"
        if other.endswith("." + key):
            return f"the module has '{other}': its names carry a prefix '{other[: -len(key)]}' the checkpoint's lack"
    return did_you_mean(key, missing)


def _shape(shape: Shape) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ")"


def _error(code: str, message: str, span: Span, hint: str | None = None) -> SpecError:
    return SpecError([Diagnostic(code, message, span, (), hint)])


__all__ = ["EXTRA_HINT", "Shard", "check", "is_torch_file", "load_state", "load_torch_file", "load_weights",
           "read_shards", "read_torch_file", "require_safetensors", "tied_names"]
