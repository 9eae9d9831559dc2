"""Every diagnostic code netspec reports, in one table (as mypy's ``errorcodes.py``).

Codes are stable: tools match on them.  Each has the stage that reports it and one sentence of
what it means; docs/spec.md's "Error codes" section is generated from this table
(``python docs/reference.py``), and tests/test_docs.py checks that every code the package writes
is here and every code here is written somewhere.  Adding a diagnostic means adding its line here.
Pure data: no imports beyond the standard library.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Stage:
    """A pipeline stage and the codes it reports, in the order the docs list them."""

    title: str  # "Reading the file (`netspec/frontend/source.py`)"
    codes: tuple[tuple[str, str], ...]  # (code, what it means); a warning's text starts "(warning)"


STAGES: tuple[Stage, ...] = (
    Stage("Reading the file (`netspec/frontend/source.py`)", (
        ("file-unreadable",
         "the spec file cannot be opened or read (missing, a directory, no permission), and it is not the "
         "name of a shipped spec; the hint lists the shipped names. Something that is not a regular file "
         "(a FIFO, a device) is refused, never opened or waited on, even where its name is a shipped spec's."),
        ("file-too-large", "the file is larger than the size limit (see [limits](#limits))."),
        ("encoding", "the file is not UTF-8 text, or holds a NUL byte."),
        ("empty-spec", "the file holds no YAML document at all."),
        ("yaml-syntax",
         "malformed YAML: an unclosed bracket (the message names the line and column it opened at; the "
         "error points where the parser noticed, often the next line), a tab (named with its column), a "
         "bad indent."),
        ("yaml-alias", "a YAML anchor (`&a`) or alias (`*a`); write the value out instead."),
        ("yaml-tag", "an explicit YAML tag such as `!!python/object`; specs hold plain values only."),
        ("yaml-ambiguous",
         "a scalar that YAML 1.1 and 1.2 read differently: `yes`/`no`/`on`/`off`, `017`, `0b101`, `3:30`; "
         "write `true`/`false` or quote it."),
        ("yaml-key", "a mapping or a list used as a mapping key."),
        ("bad-key", "a key that is too long or holds control or invisible characters."),
        ("duplicate-key", "the same key twice in one mapping (most YAML parsers silently keep the last)."),
        ("multiple-documents", "a second YAML document (`---`) in the file."),
        ("int-too-large", "an integer literal too long to be any size."),
        ("too-deep", "YAML nesting, or one forward step's expression, deeper than the limit."),
        ("too-large",
         "too many YAML nodes; also a forward step too long or of too many syntax nodes, an integer "
         "constant or constant arithmetic outside 64 bits, an output or a parameter total too large for "
         "64-bit sizes; a build-time expression, string or list past its limit; a spec that reads too "
         "many files or bytes through `extends`/`imports`, or builds too many children or block "
         "instances."),
    )),
    Stage("Reading other files and applying overrides (`netspec/frontend/expand.py`)", (
        ("import-missing",
         "an `extends` or `imports` path names no file (the path is relative to the spec that names it)."),
        ("import-refused",
         "an `extends` or `imports` path netspec will not read: not a relative path to a `.yaml`/`.yml` "
         "file, not a regular file, or resolving (symlinks followed) outside the spec's directory and the "
         "`--search-path` directories; the file is never opened."),
        ("import-cycle", "spec files that extend or import each other in a cycle; the message gives the chain."),
        ("import-empty", "an imported file that defines no `blocks`."),
        ("unknown-var",
         "`--set NAME=...`, a keyword of `netspec.load()` or an `overrides` key that is not one of the "
         "root's vars; the hint is a did-you-mean or the list of vars."),
        ("bad-override", "a `--set` that is not `NAME=VALUE`."),
    )),
    Stage("Checking the grammar (`netspec/frontend/schema.py`)", (
        ("not-a-mapping", "the top of the file is not a mapping."),
        ("bad-version", "`netspec:` is not `1`."),
        ("missing-key",
         "a required key is absent (`netspec`, `name`, `inputs`, a layer's `type` or required argument, "
         "`constant`'s `value`, a block's required argument that its inputs do not bind), or a type that "
         "needs arguments is written bare."),
        ("unknown-key",
         "a key the grammar does not have, with the closest known key as a hint; in forward, a "
         "`ParameterDict` key that does not exist, or an arg whose default is not a key of the dict it "
         "indexes."),
        ("unknown-layer",
         "a layer `type` (or bare type name) that is neither a layer type nor a block of the spec or its "
         "imports."),
        ("unknown-op", "a one-key step whose key is not an op (an unquoted step containing `: ` lands here)."),
        ("bad-step",
         "a step that is neither a string nor a one-key mapping, or a one-key step for an op that takes "
         "several tensors."),
        ("bad-type", "a value of the wrong kind: a string where a number goes, a list where a mapping goes."),
        ("bad-value",
         "a value of the right kind outside its range or not one of the allowed words (`out_features: 0`, "
         "`padding_mode: mirror`); also `uniform` with `a > b`, and a wrong op argument in a forward "
         "expression."),
        ("bad-name",
         "a name that is not an ASCII identifier starting with a letter, a Python keyword, an `nn.Module` "
         "attribute, or a name the generated code reserves."),
        ("too-many-errors",
         "a note after the first 100 grammar errors of a spec: the rest are not shown until fewer remain."),
    )),
    Stage("Resolving names and forward (`netspec/middle/resolve.py`)", (
        ("duplicate-name",
         "one name for a layer and a parameter, for an input or arg and a layer or parameter, or for an "
         "input and an arg; two children of one parent with the same name (give a repeat a `name` "
         "pattern); a block defined in the spec and in an import, or in two imports."),
        ("bad-expression",
         "a build-time expression outside the expression language (`**`, an unknown function, attribute "
         "access) or one that cannot be evaluated (division by zero, an index out of range, `'M' * 2`), "
         "at its column."),
        ("block-cycle", "blocks that contain each other, directly or through others; the message gives the chain."),
        ("unused-block", "(warning) a block that neither the root nor any used block uses."),
        ("bad-block", "a block whose `layers` is a list (a Sequential) but which also has a `forward` or `params`."),
        ("bad-init", "an `init:` mapping that names more than one initialiser."),
        ("needs-forward", "several inputs and no `forward` to say how they are used."),
        ("empty-forward", "neither layers nor a forward."),
        ("unknown-name", "a bare step or a call naming neither a layer of the spec nor an op."),
        ("undefined-name",
         "a forward step reads a name that no earlier step assigned; a build-time expression names "
         "something that is not a var, block argument or repeat index in scope; a parameter shape names "
         "an undefined var; with a did-you-mean. Also a value the `if` steps before it assign only in branches "
         "an instance does not take (an activation name no branch knows), reported where it is read."),
        ("syntax", "a step that is not one valid Python statement."),
        ("unsupported",
         "valid Python outside the forward language; the message names the construct. Also a size read in "
         "forward (`n = x.size(0)` on an `(N, ...)` input) given where a number must be known before forward "
         "runs (a dim, `narrow`'s length, a chunk count), such as `x.narrow(1, 0, n)`; the message names `n`."),
        ("unreachable", "a step after `return`."),
        ("missing-return", "forward assigns named values but never returns one."),
        ("unused-layer", "(warning) a layer the given forward never uses."),
        ("unused-param", "(warning) a parameter the given forward never uses."),
    )),
    Stage("Inferring shapes (`netspec/middle/shapes.py`, rules in `netspec/ops/`)", (
        ("shape-mismatch",
         "sizes disagree: a written inferable argument and the input, an inferable argument a layer's "
         "earlier call inferred and the input of a later call (one module, one size), operands that do "
         "not broadcast, "
         "inner sizes of `mm`/`@`, tensors to `cat`, a `reshape` of another element count, pooling "
         "padding over half the kernel."),
        ("rank-mismatch", "a tensor with the wrong number of dims for a layer or op (`Conv2d` given a 2-D tensor)."),
        ("dtype-mismatch", "a floating-point-only layer or op given integers, or `Embedding` given floats."),
        ("symbolic-dim", "an argument would have to be inferred from a symbolic dim."),
        ("output-too-small", "a kernel larger than the padded input: an output size below 1."),
        ("bad-groups", "channels not divisible by `groups` (or `num_groups`)."),
        ("cannot-infer",
         "a layer forward never reaches leaves an inferable argument unwritten; or, in a block, instances "
         "infer different values for an argument and no expression of the block's arguments gives them "
         "all (bind the dim to an argument, or write it)."),
        ("bad-call",
         "a layer absent in this instance (its `if` is false) called without a test; a layer or op called "
         "wrongly: keywords to a layer, the wrong number of tensors, an unknown or repeated keyword, too "
         "many arguments, a non-tensor where a tensor goes."),
        ("bad-operand",
         "arithmetic on something that is neither a tensor nor a number, `@` with a number, a constant "
         "division by zero; `/` on a size read at run time (sizes divide with `//`); `.shape`, `.device` or "
         "`.dtype` of something that is not a tensor; indexing something that is neither a tensor nor a "
         "tuple."),
        ("bad-index",
         "a `ParameterList` index that is not an integer or is out of range; a tensor index out of range, "
         "with more items than dims, two `...`, a step that is not a positive integer, or a tensor as an "
         "index."),
        ("bad-tie",
         "a tie (`ties:`) names something that is not a parameter netspec knows the shape of, ties a "
         "parameter to itself or twice, or ties two parameters of different shapes or dtypes."),
        ("missing-device",
         "an op that makes a tensor from nothing (`arange`, `ones`, `zeros`, `full`) without `device=`: the "
         "tensor would be made on the CPU wherever the module runs; pass `device=x.device`."),
        ("bad-return", "forward returns something other than a tensor."),
        ("ambiguous-inference",
         "(warning) an argument inside a block was left to be inferred, and two different expressions of "
         "the block's arguments give its value in every instance of the spec, or the one that does gives "
         "another value where the block builds a layer no instance builds: netspec writes the first "
         "into the class, which may be wrong when the class is built with other arguments; write the "
         "argument out."),
        ("bad-unpack",
         "`a, b = ...` on a value that is not a tuple of that many items, or a name given to an item that "
         "is `None` (MultiheadAttention's weights with `need_weights=False`)."),
        ("output-mismatch",
         "the shape forward gives differs from the declared `outputs` (of the spec, or of a block for one "
         "of its instances); reported at the declaration."),
        ("bad-inplace",
         "a layer or op with `inplace=True` applied to a parameter that requires grad, which torch "
         "refuses to change in place."),
        ("train-mode",
         "(warning) a BatchNorm given one value per channel (batch 1 and spatial size 1): fine in eval "
         "mode, refused by torch in training mode, the mode a built module starts in."),
        ("activation-size",
         "(warning) one output holds more elements than the limit: running forward would need that much "
         "memory per call."),
        ("param-budget",
         "more parameters than the budget (see [limits](#limits)): a warning from `validate`, `summary` "
         "and `compile` (`--max-params N` sets the budget `validate` and `summary` warn at), an error "
         'from `netspec.load()` unless `max_params=` is raised or `device="meta"`.'),
    )),
    Stage("Building the module (`netspec.load()`, `netspec.build_class()`, `netspec/api.py`)", (
        ("device-unavailable",
         '`netspec.load(..., device=...)` names a device torch cannot use on this machine (`"cuda"` '
         'without CUDA, `"cuda:7"` with one GPU, `"mps"` off a Mac); the message gives torch\'s own reason '
         '("Torch not compiled with CUDA enabled"). Checked before any layer is built; the spec is not at '
         "fault."),
        ("build-failed",
         "PyTorch raised while constructing the generated module; the diagnostic names the layer or "
         "parameter. On the CPU netspec's checks should have caught it first, so it is a bug worth "
         "reporting with the spec; on another device it may be that device's limit (a dtype it lacks), "
         "which the hint says."),
    )),
    Stage("Loading Hugging Face files (`config=`, `weights=`, `--config`, `--weights`; "
          "`netspec/frontend/hf_config.py`, `netspec/backend/weights.py`; see docs/huggingface.md)", (
        ("config-unreadable",
         "the `config.json` file cannot be read: missing, not a regular file, too large, or not UTF-8."),
        ("bad-config",
         "the config file is not valid JSON (at the line and column the parser stopped), holds something "
         "other than one JSON object, or writes a field twice."),
        ("unknown-config-field",
         "a config field that names none of the root spec's vars and is not bookkeeping netspec ignores "
         "(`rope_scaling: {...}`, `attention_bias: true`, `hidden_act`); the hint lists the spec's vars."),
        ("bad-config-value",
         "a config field that names a var holds a value that does not fit it (a string or a float for an "
         "integer var, an object), or one past the limits of a var's value."),
        ("missing-extra",
         "a `.safetensors` checkpoint (`weights=`) needs the `safetensors` package, which is not installed: "
         "`pip install 'netspec[hf]'`."),
        ("weights-unreadable",
         "a checkpoint file (a PyTorch `.pt`/`.pth` state_dict, a `.safetensors` file, or a sharded "
         "checkpoint's `.index.json` and the shards it names) cannot be read or is not what it says: missing, "
         "not a regular file, a corrupt header, a pickle holding more than weights (refused by "
         "`torch.load(weights_only=True)`, never run), something other than a state_dict, an index without a "
         "`weight_map`, a shard outside the index's directory, a tensor the index places in a shard that does "
         "not hold it."),
        ("missing-weight",
         "a `state_dict` key of the module that the checkpoint does not hold (a key tied to one the "
         "checkpoint holds is not missing: the tensor is shared)."),
        ("unexpected-weight", "a tensor in the checkpoint that the module has no `state_dict` key for."),
        ("weight-shape-mismatch", "a checkpoint tensor whose shape differs from the module's (expected vs found)."),
        ("tied-weight-mismatch",
         "the checkpoint holds both names of a tensor the module shares (tied weights), with different values: "
         "the checkpoint was not trained tied."),
    )),
    Stage("Named weights (a spec's `weights:` section, `weights=NAME`, `--weights NAME`; "
          "`netspec/middle/named_weights.py`, `netspec/backend/pretrained.py`; see docs/spec.md, \"Weights\")", (
        ("unknown-weights",
         "`weights=` names weights the spec does not declare, or an alias in `weights:` names no entry; the hint "
         "offers the closest name."),
        ("bad-weights",
         "a `weights:` entry that cannot be used as written: a URL not ending in a plain file name, a hash that "
         "disagrees with the one the file name carries, a rename whose target uses a {name} its pattern does not "
         "bind, `categories:` naming no shipped list."),
        ("weights-vars-mismatch",
         "the named weights were trained with a var value (`num_classes: 1000`) the model being built differs "
         "from: an override changed it."),
        ("weights-download-failed",
         "the named weights are not in torch.hub's cache and downloading them failed (offline, refused, "
         "interrupted); the hint names the file to place in the cache."),
        ("weights-hash-mismatch",
         "the downloaded file's SHA-256 does not start with the `hash:` the spec declares: the file is not the "
         "one published (it is not kept)."),
    )),
    Stage("Summarising a Python module (`netspec.summary(module, inputs=...)`, `netspec summary FILE.py:CLASS`; "
          "`netspec/backend/module_summary.py`)", (
        ("module-unloadable",
         "`FILE.py:CLASS` names no file, a file whose import raised, no such class in it, or something that "
         "is not an `nn.Module` class."),
        ("module-constructor-failed",
         "`CLASS()` raised: the class needs constructor arguments (the message names them), or its "
         "constructor failed."),
        ("bad-module-input",
         "an input shape that is not a list of positive sizes and names, a name nothing binds (`N` is bound by "
         "the batch, others by `dims=`), or `--batch`/`batch=` with no input naming the batch dim `N`."),
        ("module-forward-failed",
         "the module's forward raised at the input shapes given (for real, after the meta device refused "
         "it); the diagnostic points at the user's line that raised."),
        ("module-ran-for-real",
         "(warning) forward could not run on the meta device (it reads values: `if x.sum() > 0`, or an op "
         "without a meta kernel), so it ran once for real with random inputs on its own device; the figures "
         "hold for the branches those inputs took."),
    )),
    Stage("Writing an output (`-o` of `netspec compile`, `graph`, `dump`; `netspec export`; "
          "`netspec.export_onnx()`; `netspec/frontend/files.py`)", (
        ("output-refused",
         "the output would replace the spec itself or a file it reads (by file identity: a symlink, a hard "
         "link or a shipped spec's name count), or something that is not a regular file (a FIFO, a device, "
         "a directory); nothing is written. The command line says `refusing to ...` and exits 1."),
        ("output-unwritable",
         "the output could not be written (no such directory, no permission, a full disk); the old file, if "
         "any, is left as it was. The command line says `cannot write ...` and exits 1."),
    )),
)

# code -> its stage's title and its sentence
CODES: dict[str, tuple[str, str]] = {code: (stage.title, text) for stage in STAGES for code, text in stage.codes}


def markdown() -> str:
    """The docs' list: each stage's title, then one bullet per code."""
    blocks = []
    for stage in STAGES:
        bullets = "\n".join(f"- `{code}` — {text}" for code, text in stage.codes)
        blocks.append(f"{stage.title}:\n\n{bullets}")
    return "\n\n".join(blocks)
