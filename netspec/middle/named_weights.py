"""The spec's ``weights:`` section resolved: published checkpoints by name, as plain data.

    weights:
      IMAGENET1K_V1:
        url: https://download.pytorch.org/models/densenet121-a639ec97.pth
        hash: a639ec97
        vars: {num_classes: 1000}
        renames: {"features.{b}.{l}.norm.{n}.{p}": "features.{b}.{l}.norm{n}.{p}"}
        meta: {num_params: 7978856, categories: imagenet1k}
      DEFAULT: IMAGENET1K_V1

Each entry becomes an :class:`ir.NamedWeights`; an alias maps to its target's entry.  Checked here,
torch-free: the file name the URL ends in (the name in torch.hub's cache) is a plain file name, a hash
torchvision's file name carries agrees with ``hash:``, ``vars:`` names root vars, a rename's target uses
only the placeholders its pattern binds, ``categories`` is a list of names or a shipped list's name
(:mod:`netspec.frontend.categories`), an alias names an entry.  A rename is plain data matched segment by
segment (no regular expression): linear in the key, whatever the pattern.

:func:`rename` applies the renames to a checkpoint's key; :func:`check_vars` compares an entry's vars with
the model's.  Loading is :mod:`netspec.backend.pretrained`'s.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from ..errors import Collector, Diagnostic, Path, Span, did_you_mean, short_repr
from ..frontend.categories import LISTS
from ..frontend.source import Source
from . import ir

FILE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._+-]{0,254}$")
# torchvision's (and torch.hub's) convention: the first hex digits of the SHA-256 after the last '-'
HASH_IN_NAME = re.compile(r"-([a-f0-9]{8,64})\.")
SEGMENT = re.compile(r"^([A-Za-z0-9_]*)(?:\{([A-Za-z][A-Za-z0-9_]*)\})?([A-Za-z0-9_]*)$")
HASH = re.compile(r"^[0-9a-f]{8,64}$")
URL_TEXT = re.compile(r"^[!-~]+$")  # printable ASCII, no space
META_KEY = re.compile(r"^[A-Za-z][A-Za-z0-9_@.\-]{0,63}$")


def resolve_weights(weights: Mapping[str, Any], source: Source, var_values: Mapping[str, Any],
                    diag: Collector) -> dict[str, ir.NamedWeights]:
    """The ``weights:`` section's entries by name (aliases included), problems added to ``diag``."""
    entries: dict[str, ir.NamedWeights] = {}
    aliases: dict[str, str] = {}
    for name, value in weights.items():
        path: Path = ("weights", name)
        if isinstance(value, str):
            aliases[name] = value
        else:
            entry = _entry(name, value, path, source, var_values, diag)
            if entry is not None:
                entries[name] = entry
    declared = [name for name, value in weights.items() if not isinstance(value, str)]
    for name, target in aliases.items():
        path = ("weights", name)
        if target in entries:
            entries[name] = entries[target]
        elif target not in declared:  # a declared entry with problems has been reported already
            what = "another alias" if target in aliases else "no entry"
            diag.add(Diagnostic("unknown-weights", f"'{name}' names weights '{target}', which is {what}",
                                source.span(path), path,
                                did_you_mean(target, declared) or f"name one of: {', '.join(declared) or '(none)'}"))
    return entries


def _entry(name: str, value: Any, path: Path, source: Source, var_values: Mapping[str, Any],
           diag: Collector) -> ir.NamedWeights | None:
    def error(code: str, message: str, where: Path, hint: str | None = None) -> None:
        diag.add(Diagnostic(code, message, source.span(where), where, hint))

    before = len(diag.diagnostics)
    url: str = value.url
    file = ""
    try:
        parts = urlsplit(url)
        host, scheme = parts.hostname, parts.scheme
    except ValueError:
        host = scheme = None
    if scheme != "https" or not host or not URL_TEXT.match(url):
        error("bad-weights", f"expected an https:// URL, found {short_repr(url)}", (*path, "url"),
              "netspec downloads weights over https only; a file on disk is loaded with weights=PATH")
    else:
        file = parts.path.rsplit("/", 1)[-1]
        if not FILE_NAME.match(file) or file.strip(".") == "":
            error("bad-weights", f"the URL's path does not end in a plain file name: {short_repr(url)}",
                  (*path, "url"), "the URL must end in the checkpoint's file name: .../resnet50-11ad3fa6.pth")
    if not HASH.match(value.hash):
        error("bad-weights", f"expected the SHA-256 in lowercase hex, or its first 8 or more digits, found "
              f"{short_repr(value.hash)}", (*path, "hash"), "`sha256sum FILE` prints it; torchvision's file names "
              "carry its first digits: resnet50-11ad3fa6.pth")
    named = HASH_IN_NAME.search(file)
    if named and HASH.match(value.hash) and not (named.group(1).startswith(value.hash)
                                                 or value.hash.startswith(named.group(1))):
        error("bad-weights", f"the file name carries the hash prefix '{named.group(1)}', but hash: is "
              f"'{value.hash}'", (*path, "hash"), "copy the SHA-256 (or its first digits) the file name carries")
    for var in value.vars:
        if var not in var_values:
            error("unknown-var", f"weights '{name}' set var '{var}', which the spec does not have",
                  (*path, "vars", var), did_you_mean(var, var_values))
    renames = []
    for pattern, target in value.renames.items():
        rename = _rename(pattern, target, (*path, "renames", pattern), error)
        if rename is not None:
            renames.append(rename)
    odd = [key for key in _meta_keys(value.meta) if not META_KEY.match(key)]
    if odd:
        error("bad-weights", f"meta's keys are short names (letters, digits, _ @ . -), found {short_repr(odd[0])}",
              (*path, "meta"))
    categories = value.meta.get("categories")
    chosen: tuple[str, ...] | None = None
    if isinstance(categories, str):
        if categories in LISTS:
            chosen = LISTS[categories]
        else:
            error("bad-weights", f"categories: names no shipped list: {short_repr(categories)}",
                  (*path, "meta", "categories"), did_you_mean(categories, LISTS) or
                  f"write the names as a list, or name one of: {', '.join(LISTS)}")
    elif isinstance(categories, list):
        if all(isinstance(c, str) for c in categories):
            chosen = tuple(categories)
        else:
            error("bad-weights", "categories: is a list of class names (strings)", (*path, "meta", "categories"))
    elif categories is not None:
        error("bad-weights", f"categories: is a list of names or a shipped list's name, found "
              f"{short_repr(categories)}", (*path, "meta", "categories"))
    if len(diag.diagnostics) > before:
        return None
    meta = {key: item for key, item in value.meta.items() if key != "categories"}
    return ir.NamedWeights(name, url, file, value.hash, dict(value.vars), tuple(renames), meta, chosen, path,
                           source.span(path))


def _rename(pattern: str, target: str, path: Path, error: Any) -> ir.Rename | None:
    source_segments = _segments(pattern)
    target_segments = _segments(target)
    if source_segments is None or target_segments is None:
        bad = pattern if source_segments is None else target
        error("bad-weights", f"expected a key pattern (dotted names, at most one {{name}} in each), found "
              f"{short_repr(bad)}", path, "plain data, not a regular expression: "
              "'features.{block}.{layer}.norm.{n}.{p}': 'features.{block}.{layer}.norm{n}.{p}'")
        return None
    bound = [s.placeholder for s in source_segments if s.placeholder]
    if len(bound) != len(set(bound)):
        error("bad-weights", f"the rename pattern {short_repr(pattern)} binds a {{name}} twice", path,
              "give each {name} of a pattern its own name")
        return None
    unbound = [s.placeholder for s in target_segments if s.placeholder and s.placeholder not in bound]
    if unbound:
        error("bad-weights", f"the rename's target uses {{{unbound[0]}}}, which its pattern {short_repr(pattern)} "
              "does not bind", path, f"bind it in the pattern: one of {', '.join(bound) or '(none)'}")
        return None
    return ir.Rename(source_segments, target_segments, f"{pattern} -> {target}")


def _meta_keys(meta: Mapping[str, Any]) -> list[str]:
    keys = []
    for key, value in meta.items():
        keys.append(key)
        if isinstance(value, Mapping):
            keys += _meta_keys(value)
    return keys


def _segments(text: str) -> tuple[ir.RenameSegment, ...] | None:
    segments = []
    for part in text.split("."):
        found = SEGMENT.match(part)
        if found is None or part == "":
            return None
        segments.append(ir.RenameSegment(found.group(1), found.group(2), found.group(3)))
    return tuple(segments)


def rename(key: str, renames: tuple[ir.Rename, ...]) -> str:
    """``key`` under the first rename whose pattern it matches (unchanged if none does): one pass per
    rename over the key's segments."""
    parts = key.split(".")
    for rule in renames:
        if len(rule.source) != len(parts):
            continue
        bound: dict[str, str] = {}
        for segment, part in zip(rule.source, parts, strict=True):
            if segment.placeholder is None:
                if part != segment.prefix:
                    break
                continue
            middle = len(part) - len(segment.prefix) - len(segment.suffix)
            if middle < 1 or not part.startswith(segment.prefix) or not part.endswith(segment.suffix):
                break
            bound[segment.placeholder] = part[len(segment.prefix):len(part) - len(segment.suffix)]
        else:
            return ".".join(s.prefix + (bound[s.placeholder] if s.placeholder else "") + s.suffix
                            for s in rule.target)
    return key


def check_vars(entry: ir.NamedWeights, var_values: Mapping[str, Any], span: Span | None) -> list[Diagnostic]:
    """One diagnostic per var the checkpoint was trained with that the model sets otherwise."""
    return [Diagnostic(
        "weights-vars-mismatch", f"weights '{entry.name}' were trained with {var}={short_repr(wanted)}, "
        f"this model has {var}={short_repr(var_values.get(var))}", span or entry.span, entry.path,
        f"drop the override of '{var}' to load them; to fine-tune with other vars, load them first and replace "
        "the layers that differ")
        for var, wanted in entry.vars.items() if var_values.get(var) != wanted]


def unknown_name(name: str, weights: Mapping[str, ir.NamedWeights], model: str, span: Span | None) -> Diagnostic:
    """A weights name the spec does not declare."""
    known = list(weights)
    hint = did_you_mean(name, known) or (f"this spec declares: {', '.join(known)}" if known else
                                          "this spec has no `weights:` section; name a .pt, .pth or "
                                          ".safetensors file instead")
    return Diagnostic("unknown-weights", f"model {model} has no weights named '{name}'", span, (), hint)


__all__ = ["check_vars", "rename", "resolve_weights", "unknown_name"]
