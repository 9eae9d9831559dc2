"""Named weights (a spec's ``weights:`` entry) through torch.hub's download cache.

    >>> netspec.load("zoo/resnet50", weights="IMAGENET1K_V2")

The file is ``$TORCH_HOME/hub/checkpoints/<the URL's file name>`` (``torch.hub.get_dir()``), where
torchvision's own ``weights=`` puts it: a file torchvision has downloaded is used as is, and a file placed
there by hand makes the load work offline.  A file not in the cache is downloaded (https only, the
grammar's rule), its SHA-256 checked against the entry's ``hash:`` (the whole digest, or its first 8+ hex
digits, as torchvision's file names carry them) before it is moved into the cache; a file that does not
match is deleted and refused.  A cached file is not hashed again, as torch.hub does not.

The file is then read as any checkpoint file (:func:`netspec.backend.weights.load_weights`: a PyTorch file
loaded ``weights_only``, or safetensors; the entry's key renames; the strict check).  Imports torch.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import uuid

import torch
from torch import nn

from ..errors import Diagnostic, SpecError, printable
from ..middle import ir
from . import weights as checkpoint

CHUNK = 1 << 20


def cache_dir() -> str:
    """torch.hub's checkpoint directory: ``$TORCH_HOME/hub/checkpoints`` (``~/.cache/torch`` by default)."""
    return os.path.join(torch.hub.get_dir(), "checkpoints")


def cached_path(entry: ir.NamedWeights) -> str:
    """Where the entry's file lies in the cache (whether or not it is there yet)."""
    return os.path.join(cache_dir(), entry.file)


def fetch(entry: ir.NamedWeights, progress: bool = False) -> str:
    """The entry's file in the cache, downloaded and hash-checked first if it is not there."""
    target = cached_path(entry)
    if os.path.isfile(target):
        return target
    directory = os.path.dirname(target)
    partial = os.path.join(directory, f".{entry.file}.{uuid.uuid4().hex}.partial")
    try:
        os.makedirs(directory, exist_ok=True)
        torch.hub.download_url_to_file(entry.url, partial, hash_prefix=None, progress=progress)
    except Exception as exc:  # offline, refused, interrupted: the network, not netspec
        _remove(partial)
        detail = (str(exc).strip().splitlines() or [""])[0][:200]
        raise SpecError([Diagnostic(
            "weights-download-failed", f"weights '{entry.name}' are not in torch.hub's cache, and downloading "
            f"{entry.url} failed: {type(exc).__name__}: {detail}", entry.span, entry.path,
            f"to work offline, place the published file at {printable(target)} (TORCH_HOME sets the cache)")]) from None
    digest = sha256(partial)
    if not digest.startswith(entry.hash):
        _remove(partial)
        raise SpecError([Diagnostic(
            "weights-hash-mismatch", f"the file downloaded from {entry.url} has SHA-256 {digest[:16]}..., not "
            f"the {entry.hash} weights '{entry.name}' declare", entry.span, entry.path,
            "the download was altered or the URL now serves another file; it was not kept")])
    os.replace(partial, target)
    return target


def load_named(module: nn.Module, entry: ir.NamedWeights, progress: bool = False) -> str:
    """Load the entry's weights into ``module`` strictly; the file read."""
    path = fetch(entry, progress)
    checkpoint.load_weights(module, path, entry.renames)
    return path


def sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _remove(path: str) -> None:
    with contextlib.suppress(OSError):
        os.remove(path)


__all__ = ["cache_dir", "cached_path", "fetch", "load_named", "sha256"]
