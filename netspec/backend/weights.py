"""A checkpoint's weights into a built module: a ``.safetensors`` file, or a sharded checkpoint's
``.index.json`` (its ``weight_map`` names each tensor's shard file, relative to the index).

    >>> netspec.load("llama.yaml", config="config.json", weights="model.safetensors.index.json")

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
:func:`load_weights` raises SpecError ``missing-extra``.  Imports torch: only :mod:`netspec.api`
(when ``weights=`` is given) and the tools import this module.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..errors import Diagnostic, Span, SpecError, did_you_mean, printable
from ..frontend import files, hf_config

EXTRA_HINT = "pip install 'netspec[hf]'"
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


def load_weights(module: nn.Module, path: str | os.PathLike[str]) -> None:
    """Load the checkpoint at ``path`` (``.safetensors``, or a sharded checkpoint's ``.index.json``) into
    ``module`` strictly; SpecError with one diagnostic per mismatch, before anything is copied."""
    shown = os.fspath(path)
    safetensors = require_safetensors(shown)
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


__all__ = ["EXTRA_HINT", "Shard", "check", "load_weights", "read_shards", "require_safetensors", "tied_names"]
