"""A Hugging Face ``config.json`` read into a spec's vars: the overrides it means, or a refusal by name.

    >>> netspec.load("llama.yaml", config="config.json", weights="model.safetensors")

Each top-level field of the JSON object is, in this order:

1. the name of one of the root spec's ``vars``: it sets that var, exactly as ``--set`` or an
   ``overrides=`` key would (the value must fit the var's written value: an int for an int, a number
   for a float, a bool for a bool, a list for a list);
2. bookkeeping (:data:`IGNORED_FIELDS`): metadata that changes neither the parameters nor what the
   module computes in eval mode (the model's name, token ids, dropout rates, the initialiser's scale,
   the dtype it was saved in), ignored;
3. ``null`` (for a var the spec writes as an expression, such as ``n_inner: 4 * n_embd``, or as null:
   the spec's own value stays, which is what Hugging Face's null means: derive it), or a switch holding
   its off value (:data:`OFF_VALUES`: ``attention_bias: false``,
   ``mlp_bias: false``...): Hugging Face writes an option it does not use that way, and the spec
   without that var is the architecture it means, so it is accepted;
4. anything else is refused: ``unknown-config-field``, naming the field, the file and the spec's vars.
   A field such as ``rope_scaling: {...}``, ``attention_bias: true`` or ``hidden_act: gelu`` changes
   what the model computes; a spec that does not name it cannot be trusted to agree with it.

Explicit overrides (``--set``, ``overrides=``, ``load(..., NAME=VALUE)``) win over the config: a field
whose var is set explicitly is neither used nor checked, so ``--set`` mends a field that does not fit.

Also :func:`read_json_object`, the one JSON reader of this kind, which the safetensors index
(:mod:`netspec.backend.weights`) goes through too: a regular file, UTF-8, an object at the top,
every top-level key with its line and column.  Pure Python; never imports torch.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import Diagnostic, Span, SpecError, did_you_mean, printable, short_repr
from . import expand, files, source
from .expr import ExprError, check_value

# A config.json is a few KiB; an index of a sharded checkpoint a few hundred KiB.
MAX_JSON_BYTES = 16 * 1024 * 1024

# Fields that never change the architecture: the parameters and what the module computes in eval mode.
# A field here that also names a var of the spec sets the var (rule 1 comes first).
IGNORED_FIELDS: Mapping[str, str] = {
    **dict.fromkeys(("architectures", "model_type", "_name_or_path", "transformers_version", "_commit_hash",
                     "_attn_implementation", "_attn_implementation_autoset", "tokenizer_class"),
                    "names the model, its class or the library that wrote it"),
    **dict.fromkeys(("torch_dtype", "dtype"), "the dtype it was saved in: load's dtype= says what to build in"),
    **dict.fromkeys(("bos_token_id", "eos_token_id", "pad_token_id", "sep_token_id", "decoder_start_token_id"),
                    "a token id, for the tokenizer and generation"),
    **dict.fromkeys(("use_cache", "output_attentions", "output_hidden_states", "return_dict", "torchscript",
                     "gradient_checkpointing", "task_specific_params"),
                    "how transformers runs or generates, not what the model is"),
    **dict.fromkeys(("initializer_range", "initializer_factor"),
                    "the scale of the initial weights, which the checkpoint replaces"),
    "n_ctx": "GPT-2's old name of its context length, which transformers no longer reads (n_positions is it)",
    **dict.fromkeys(("summary_type", "summary_use_proj", "summary_activation", "summary_proj_to_labels"),
                    "the sequence-summary head of GPT-2's double-heads and classification classes, which the base "
                    "and LM-head models do not build"),
    **dict.fromkeys(("attention_dropout", "hidden_dropout", "hidden_dropout_prob", "attention_probs_dropout_prob",
                     "resid_pdrop", "embd_pdrop", "attn_pdrop", "dropout", "activation_dropout",
                     "classifier_dropout", "summary_first_dropout"),
                    "a dropout rate: training only, no parameters, no effect in eval mode"),
}

# Switches that are accepted without a var when they hold the value that leaves them off: the plain
# architecture, which a spec that does not mention them is.  Any other value is refused (rule 4).
OFF_VALUES: Mapping[str, Any] = {
    "attention_bias": False,
    "mlp_bias": False,
    "add_cross_attention": False,
    "is_encoder_decoder": False,
    "scale_attn_by_inverse_layer_idx": False,
    "reorder_and_upcast_attn": False,
    "pretraining_tp": 1,
    "scale_attn_weights": True,  # GPT-2's 1/sqrt(head_dim): on is the plain architecture
    "is_decoder": False,  # BERT and GPT-NeoX's configs say it: no cross-attention, no cache
    "rope_type": "default",  # transformers 5's rope_parameters: the plain rotary frequencies
}
# transformers 5 nests the rotary settings in one object, {"rope_theta": ..., "rope_type": "default", ...}: its fields
# are read as top-level ones (a var rope_theta takes rope_parameters.rope_theta), unless the spec has this var itself.
NESTED_FIELDS = ("rope_parameters",)


@dataclass(frozen=True)
class JsonObject:
    """A JSON file whose top level is an object: its fields, and where each top-level key was written."""

    file: str  # as the user named it: diagnostics carry it
    data: dict[str, Any]
    spans: dict[str, Span] = field(default_factory=dict)

    def span(self, key: str) -> Span:
        return self.spans.get(key, Span(self.file, 0, 0))


def read_json_object(path: str | os.PathLike[str], what: str, code: str | None = None) -> JsonObject:
    """The JSON object in the file at ``path``; SpecError ``config-unreadable`` (missing, not a regular file,
    too large, not UTF-8) or ``bad-config`` (not JSON, not an object at the top, a key written twice)
    otherwise, at the file's line and column, or ``code`` for either when given.  ``what`` names the file
    in messages ("config", "index")."""
    try:
        return _read_json_object(os.fspath(path), what)
    except SpecError as exc:
        if code is None:
            raise
        raise SpecError([dataclasses.replace(d, code=code) for d in exc.diagnostics]) from None


def _read_json_object(name: str, what: str) -> JsonObject:
    try:
        raw = files.read_spec(name, MAX_JSON_BYTES + 1).data
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise _error("config-unreadable", f"cannot read the {what} file {printable(name)}: {reason}", Span(name, 0, 0),
                     "name a JSON file that exists") from None
    if len(raw) > MAX_JSON_BYTES:
        raise _error("config-unreadable", f"the {what} file is larger than {MAX_JSON_BYTES // (1024 * 1024)} MiB",
                     Span(name, 0, 0))
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _error("config-unreadable", f"the {what} file is not UTF-8 text (byte {exc.start})",
                     Span(name, 0, 0)) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _error("bad-config", f"the {what} file is not valid JSON: {exc.msg}", Span(name, exc.lineno, exc.colno),
                     f"a {what} file holds one JSON object: {{\"name\": value, ...}}") from None
    except RecursionError:
        raise _error("bad-config", f"the {what} file is nested too deeply", Span(name, 0, 0)) from None
    if not isinstance(data, dict):
        found = "an array" if isinstance(data, list) else f"{_json_kind(data)}"
        raise _error("bad-config", f"the {what} file holds {found}, not a JSON object", Span(name, 1, 1),
                     f"a {what} file holds one JSON object: {{\"name\": value, ...}}")
    spans, twice = _key_spans(text, name)
    if twice:
        key, span = twice
        raise _error("bad-config", f"the {what} file writes the field {short_repr(key)} twice", span,
                     "JSON readers keep one of them silently; remove the other")
    return JsonObject(name, data, spans)


def config_overrides(path: str | os.PathLike[str], variables: Mapping[str, Any],
                     replaced: Collection[str] = ()) -> dict[str, Any]:
    """The overrides a Hugging Face ``config.json`` at ``path`` means for a spec whose root ``vars`` are
    ``variables`` (name -> the value written in the spec); SpecError naming every field it refuses.
    A var in ``replaced`` is set explicitly: its field is neither used nor checked."""
    config = read_json_object(path, "config")
    overrides: dict[str, Any] = {}
    problems: list[Diagnostic] = []
    for key, value, where, shown in _fields(config, variables):
        if key in variables and key in replaced:
            continue
        if key in variables and value is None and (variables[key] is None or isinstance(variables[key], str)):
            continue  # "derive it", as the spec's expression (n_inner: 4 * n_embd, head_dim: ...) does
        if key in variables:
            problem = _misfit(key, value, variables[key])
            if problem is not None:
                hint = f"the spec writes {key}: {_json_text(variables[key])}" + (
                    f"; null in a config means 'the default', which the spec fixes: --set {key}=VALUE to say it"
                    if value is None else "")
                problems.append(Diagnostic("bad-config-value", problem, where, ("vars", key), hint))
                continue
            try:
                check_value(value)
            except ExprError as exc:
                problems.append(Diagnostic("bad-config-value", f"cannot set '{key}': {exc.message}", where,
                                           ("vars", key)))
                continue
            overrides[key] = value
        elif key in IGNORED_FIELDS or value is None or (key in OFF_VALUES and _same(value, OFF_VALUES[key])):
            continue
        else:
            problems.append(Diagnostic(
                "unknown-config-field",
                f"config field {short_repr(shown)} ({_json_text(value)}) names no var of the spec, and netspec "
                f"cannot tell that it leaves the architecture unchanged", where, (), _unknown_hint(key, variables)))
    if problems:
        raise SpecError(problems)
    return overrides


def _fields(config: JsonObject, variables: Mapping[str, Any]) -> list[tuple[str, Any, Span, str]]:
    """The config's fields with transformers 5's nested rotary object opened: each (name, value, where, the name
    as the file writes it: rope_parameters.rope_type)."""
    out: list[tuple[str, Any, Span, str]] = []
    for key, value in config.data.items():
        if key in NESTED_FIELDS and isinstance(value, dict) and key not in variables:
            out += [(inner, item, config.span(key), f"{key}.{inner}") for inner, item in value.items()
                    if not (inner in config.data and config.data[inner] == item)]  # said at the top level too
            continue
        out.append((key, value, config.span(key), key))
    return out


def spec_overrides(config: str | os.PathLike[str], text: str, file: str,
                   search_path: Sequence[str | os.PathLike[str]] = (),
                   overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The overrides for the spec ``text`` (named ``file``) that ``config`` means, ``overrides`` laid over
    them.  The spec is read and expanded (its ``extends`` too) to learn its root ``vars``; a spec that
    cannot be read raises the SpecError its compile would."""
    src = expand.expand(source.load_text(text, file), expand.reader_for(file, [os.fspath(p) for p in search_path]))
    found = src.data.get("vars") if isinstance(src.data, dict) else None
    return merge(config_overrides(config, found if isinstance(found, dict) else {}, set(overrides or ())),
                 overrides)


def merge(from_config: Mapping[str, Any], overrides: Mapping[str, Any] | None) -> dict[str, Any]:
    """The config's values with the explicit overrides laid over them: ``--set`` and ``overrides=`` win."""
    return {**from_config, **(overrides or {})}


def _misfit(key: str, value: Any, written: Any) -> str | None:
    """Why ``value`` cannot replace the var written as ``written``; None when it can.  A string var may be
    an expression of any type, and a null one says nothing: both take any plain value."""
    if isinstance(value, dict):
        return f"cannot set '{key}' to a JSON object: vars hold numbers, booleans, strings and lists"
    if isinstance(written, bool):
        fits = isinstance(value, bool)
    elif isinstance(written, int):
        fits = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(written, float):
        fits = isinstance(value, (int, float)) and not isinstance(value, bool)
    elif isinstance(written, list):
        fits = isinstance(value, list)
    else:
        return None
    if fits:
        return None
    expected = {bool: "a boolean", int: "an integer", float: "a number", list: "a list"}[type(written)]
    return f"cannot set '{key}' to {_json_kind(value)} ({_json_text(value)}): the spec's var is {expected}"


def _same(value: Any, off: Any) -> bool:
    return type(value) is type(off) and value == off


def _unknown_hint(key: str, variables: Mapping[str, Any]) -> str:
    close = did_you_mean(key, variables)
    listed = f"the spec's vars are {', '.join(variables)}" if variables else "the spec declares no vars"
    return (f"{close + '; ' if close else ''}{listed}. Give the spec a var named {key!r} if it can express "
            f"this field; see docs/huggingface.md for the fields netspec ignores")


def _json_text(value: Any, limit: int = 60) -> str:
    """``value`` as JSON writes it (``true``, ``null``), cut short past ``limit`` characters."""
    text = json.dumps(value, ensure_ascii=True)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _key_spans(text: str, file: str) -> tuple[dict[str, Span], tuple[str, Span] | None]:
    """Where each top-level key of the object ``text`` holds is written (1-based line and column), and the
    first key written twice, if any.  ``text`` is known to be a valid JSON object."""
    decoder = json.JSONDecoder()
    spans: dict[str, Span] = {}
    i = _skip(text, text.index("{") + 1)
    while i < len(text) and text[i] == '"':
        start = i
        key, i = decoder.raw_decode(text, i)
        line = text.count("\n", 0, start) + 1
        span = Span(file, line, start - (text.rfind("\n", 0, start) + 1) + 1)
        if key in spans:
            return spans, (key, span)
        spans[key] = span
        i = _skip(text, _skip(text, i) + 1)  # past the colon
        _, i = decoder.raw_decode(text, i)
        i = _skip(text, i)
        if i < len(text) and text[i] == ",":
            i = _skip(text, i + 1)
    return spans, None


def _skip(text: str, i: int) -> int:
    while i < len(text) and text[i] in " \t\r\n":
        i += 1
    return i


def _error(code: str, message: str, span: Span, hint: str | None = None) -> SpecError:
    return SpecError([Diagnostic(code, message, span, (), hint)])


__all__ = ["IGNORED_FIELDS", "MAX_JSON_BYTES", "OFF_VALUES", "JsonObject", "config_overrides", "merge",
           "read_json_object", "spec_overrides"]
