"""The language server's answers on invalid specs, in blocks, and its editor features (issue 18).

Driven through netspec.tools.lsp_features (plain positions in, plain answers out); the same answers over
JSON-RPC are in test_lsp.py and at the end of this file.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml

from netspec.tools import lsp_features as f

ROOT = Path(__file__).resolve().parent.parent
LENET = (ROOT / "specs" / "lenet.yaml").read_text()
RESNET18 = ROOT / "specs" / "zoo" / "resnet18.yaml"
RESNET50 = ROOT / "specs" / "zoo" / "resnet50.yaml"
FC3 = "fc3: {type: Linear, out_features: 10}"


def _at(text: str, needle: str, offset: int = 0, nth: int = 0) -> tuple[int, int]:
    hits = [(i, line.index(needle) + offset) for i, line in enumerate(text.splitlines()) if needle in line]
    return hits[nth]


def _doc(text: str, path: Path | None = None) -> tuple[f.Document, list[f.Problem]]:
    doc = f.Document(str(path) if path else None)
    return doc, doc.update(text)


def _hints(doc: f.Document, text: str) -> dict[int, str]:
    first = text.splitlines().index("forward:")
    return {line - first - 1: label for (line, _), label in f.inlay_hints(doc) if line > first}


LENET_HINTS = {0: "-> (N, 6, 28, 28)", 1: "-> (N, 6, 28, 28)", 2: "-> (N, 6, 14, 14)", 3: "-> (N, 16, 10, 10)",
               4: "-> (N, 16, 10, 10)", 5: "-> (N, 16, 5, 5)", 6: "-> (N, 400)", 7: "-> (N, 120)", 8: "-> (N, 120)",
               9: "-> (N, 84)", 10: "-> (N, 84)", 11: "-> (N, 10)"}


# ---------------------------------------------------------------- partial results


@pytest.mark.parametrize("broken", [
    FC3.replace("out_features: 10", "out_features: 10, in_features: 80"),  # a shape error in the last layer
    FC3.replace("out_features", "out_featurs"),  # a grammar error in the last layer
    FC3.replace("Linear", "Linearr"),  # an unknown type in the last layer
    FC3.replace("out_features: 10", "out_features: ten"),  # a bad value in the last layer
])
def test_an_error_in_lenets_last_layer_leaves_every_shape_before_it(broken: str) -> None:
    text = LENET.replace(FC3, broken)
    doc, problems = _doc(text)
    assert [p.severity for p in problems] == ["error"] and problems[0].range.start[0] == _at(text, "fc3:")[0]
    hover = f.hover(doc, _at(text, "conv1:", 1))
    assert hover is not None and "`(N, 6, 28, 28)`" in hover and "partial" in hover
    hints = _hints(doc, text)
    assert {k: v for k, v in hints.items() if k < 11} == {k: v for k, v in LENET_HINTS.items() if k < 11}


def test_a_broken_layer_stands_in_and_nothing_after_it_is_shown() -> None:
    # conv2 cannot be repaired (a bad value of a needed argument): steps before it keep their shapes, steps
    # from it on show none (a guess is never shown as a shape), and no error after it is made up
    text = LENET.replace("out_channels: 16", "out_channels: sixteen")
    doc, problems = _doc(text)
    assert [p.code for p in problems] == ["bad-type"]
    assert _hints(doc, text) == {k: LENET_HINTS[k] for k in (0, 1, 2)}
    assert f.hover(doc, _at(text, "- fc1", 3)) is None


def test_two_mistakes_in_two_layers_are_two_diagnostics() -> None:
    text = LENET.replace("kernel_size: 5}", "kernel_sise: 5}", 1).replace(
        FC3, FC3.replace("out_features: 10", "in_features: 80, out_features: 10"))
    doc, problems = _doc(text)
    assert [(p.code, p.range.start[0]) for p in problems] == [("unknown-key", _at(text, "conv1:")[0]),
                                                             ("shape-mismatch", _at(text, "fc3:")[0])]
    assert _hints(doc, text) == LENET_HINTS  # the typo repaired as its hint says; fc3's wrong in_features inferred
    # two shape mistakes in two layers, and a grammar mistake with an unknown step elsewhere
    text = LENET.replace("out_features: 120}", "in_features: 7, out_features: 120}").replace(
        FC3, FC3.replace("out_features: 10", "in_features: 80, out_features: 10"))
    assert [p.code for p in _doc(text)[1]] == ["shape-mismatch", "shape-mismatch"]
    text = LENET.replace("kernel_size: 5}", "kernel_size: 5, strid: 1}", 1).replace("  - fc2", "  - fc9")
    doc, problems = _doc(text)
    assert [p.code for p in problems] == ["unknown-key", "unknown-name"]
    assert _hints(doc, text) == {k: LENET_HINTS[k] for k in range(9)}  # up to the unknown step


def test_a_grammar_error_does_not_hide_a_shape_error_in_a_block() -> None:
    text = RESNET18.read_text().replace("avgpool: {type: AdaptiveAvgPool2d", "avgpool: {type: AdaptiveAvgPool2d, x: 1")
    text = text.replace("bn1: BatchNorm2d\n      relu", "bn1: {type: BatchNorm2d, num_features: 3}\n      relu")
    doc, problems = _doc(text, RESNET18)
    assert sorted(p.code for p in problems) == ["shape-mismatch", "unknown-key"]
    hover = f.hover(doc, _at(text, "conv1: {type: Conv2d, out_channels: 64", 1))
    assert hover is not None and "`(N, 64, 112, 112)`" in hover


def test_text_that_does_not_parse_keeps_the_last_shapes() -> None:
    doc, problems = _doc(LENET)
    assert problems == []
    broken = LENET.replace("  conv2: {type: Conv2d", "  conv2: {type: [Conv2d")
    problems = doc.update(broken)
    assert [p.code for p in problems] == ["yaml-syntax"]
    hover = f.hover(doc, _at(broken, "conv1:", 1))
    assert hover is not None and "`(N, 6, 28, 28)`" in hover and "last text that had shapes" in hover
    assert _hints(doc, broken) == LENET_HINTS
    # a document opened broken has no shapes to show, and says only its error
    fresh, problems = _doc(broken)
    assert [p.code for p in problems] == ["yaml-syntax"] and f.inlay_hints(fresh) == []


def test_repairs_are_bounded() -> None:
    # forty unknown steps: each round repairs one set of mistakes; the rounds stop at MAX_REPAIRS
    steps = "".join(f"  - nope{i}\n" for i in range(40))
    text = LENET.replace("  - fc3\n", "  - fc3\n" + steps)
    _, problems = _doc(text)
    assert problems and all(p.code == "unknown-name" for p in problems)


# ---------------------------------------------------------------- blocks


def test_resnet18s_block_forward_gets_hints_and_hovers_per_instance() -> None:
    text = RESNET18.read_text()
    doc, problems = _doc(text, RESNET18)
    assert problems == []
    hints = {line: label for (line, _), label in f.inlay_hints(doc)}
    block = {i: hints.get(_at(text, step)[0]) for i, step in enumerate(
        ["- out = relu(bn1", "- out = bn2(conv2", "- identity = downsample", "- return relu(out"])}
    # eight instances at four widths: the shape in the block's own names, which fit every instance exactly
    # (`out += identity` records no event in the trace, so it has no hint: a known gap)
    assert block == {i: "-> (N, planes, H/stride, W/stride)" for i in range(4)}
    hover = f.hover(doc, _at(text, "- out = bn2(conv2", 12))  # conv2 inside the block's forward
    assert hover is not None and hover.startswith("**BasicBlock.conv2**: `Conv2d`")
    assert "in 8 instance(s):" in hover and "- `layer2.0`: `(N, 128, 28, 28)`" in hover
    assert "- `layer2.1`: `(N, 128, 28, 28)`" in hover and "- `layer4.1`: `(N, 512, 7, 7)`" in hover
    step = f.hover(doc, _at(text, "- return relu(out", 3))
    assert step is not None and "BasicBlock forward step 4" in step and "- `layer3.0`: `(N, 256, 14, 14)`" in step
    # the root's flow-style forward: one hint per step
    root = text.splitlines().index("forward: [conv1, bn1, relu, maxpool, layer1, layer2, layer3, layer4, avgpool, "
                                   "flatten, fc]")
    assert [label for (line, _), label in f.inlay_hints(doc) if line == root][-2:] == ["-> (N, 512)",
                                                                                       "-> (N, 1000)"]


def test_resnet50s_bottleneck_gets_hints_and_its_inherited_forward_none() -> None:
    text = RESNET50.read_text()
    doc, problems = _doc(text, RESNET50)
    assert problems == []
    hints = {line: label for (line, _), label in f.inlay_hints(doc)}
    assert hints[_at(text, "- out = relu(bn1(conv1(x)))")[0]] == "-> (N, planes, H, W)"
    assert hints[_at(text, "- out = bn3(conv3(out))")[0]] == "-> (N, expansion * planes, H/stride, W/stride)"
    assert set(hints) == {_at(text, step)[0] for step in ("- out = relu(bn1", "- out = relu(bn2", "- out = bn3",
                                                          "- identity = downsample", "- out += identity",
                                                          "- return relu(out")}
    assert hints[_at(text, "- out += identity")[0]] == "-> (N, expansion * planes, H/stride, W/stride)"


def test_a_step_ending_in_arithmetic_shows_the_result_not_its_last_call() -> None:
    """``x + fc(z)`` broadcasts: its shape is the sum's, not fc's. Steps of arithmetic alone, a negation and a step
    written over several lines get theirs."""
    text = ("netspec: 1\nname: M\ninputs: {x: [N, 4, 8], z: [4, 8]}\nlayers:\n  fc: {type: Linear, out_features: 8}\n"
            "forward:\n  - y = x + fc(z)\n  - w = y * y\n  - w = -w\n  - |\n    v = relu(\n      w)\n  - return v\n")
    doc, problems = _doc(text)
    assert problems == []
    assert f.inlay_hints(doc) == [((6, 17), "-> (N, 4, 8)"), ((7, 13), "-> (N, 4, 8)"), ((8, 10), "-> (N, 4, 8)"),
                                  ((9, 5), "-> (N, 4, 8)"), ((12, 12), "-> (N, 4, 8)")]
    assert f.hover(doc, _at(text, "- y = x", 2)) == "**forward step 0**: `+`\n\n- output shape: `(N, 4, 8)`"
    assert f.hover(doc, _at(text, "fc(z)", 1)) == ("**fc**: `Linear`\n\n- output shape: `(4, 8)`\n- parameters: 72\n"
                                                   "- MACs per sample: 256")
    relu = f.hover(doc, _at(text, "- |", 2))
    assert relu is not None and relu.startswith("**forward step 3**: `relu`\n\n- output shape: `(N, 4, 8)`")


def test_block_hints_where_no_name_fits_show_the_first_instance_and_how_many_others() -> None:
    text = LENET.replace("layers:\n", "blocks:\n  Widen:\n    args: {w: int}\n    inputs: {x: [N, C, H, W]}\n"
                         "    layers:\n      c: {type: Conv2d, out_channels: 6, kernel_size: w}\n"
                         "    forward: [c]\nlayers:\n  a: {type: Widen, w: 2}\n  b: {type: Widen, w: 4}\n"
                         "  d: {type: Widen, w: 4}\n", 1)
    text = text.replace("  - conv1\n", "  - conv1\n  - a\n  - b\n  - d\n")
    doc, problems = _doc(text)
    assert problems == []
    line = _at(text, "    forward: [c]")[0]
    assert [label for (at, _), label in f.inlay_hints(doc) if at == line] == ["-> (N, 6, 27, 27) (+2 more)"]


def test_vars_and_block_arguments_have_their_own_hovers() -> None:
    text = RESNET18.read_text()
    doc, _ = _doc(text, RESNET18)
    var = f.hover(doc, _at(text, "out_features: num_classes", len("out_features: ") + 2))
    assert var == "**num_classes**: var\n\n- value: `1000`"
    arg = f.hover(doc, _at(text, "out_channels: planes, kernel_size: 3, stride: stride", len("out_channels: ") + 1))
    assert arg is not None and arg.startswith("**planes**: argument of BasicBlock (int)")
    assert "- `layer1.0`: `64`" in arg and "- `layer4.1`: `512`" in arg
    expansion = f.hover(doc, _at(text, "vars: {expansion: 1}", 8))
    assert expansion == "**expansion**: var of BasicBlock\n\n- value: `1` in all 8 instance(s)"


# ---------------------------------------------------------------- outline, rename, quick fixes


def test_document_symbols_outline_vars_blocks_and_layers() -> None:
    text = RESNET18.read_text()
    doc, _ = _doc(text, RESNET18)
    outline = f.symbols(doc)
    data = yaml.safe_load(text)  # the zoo spec as written (its vars change with the zoo)
    expected = {("x", "input"), *((v, "var") for v in data["vars"]), ("BasicBlock", "block"),
                *((name, "layer") for name in data["layers"]), ("forward", "forward")}
    assert {(s.name, s.kind) for s in outline} == expected and len(outline) == len(expected)
    assert [s.selection.start for s in outline] == sorted(s.selection.start for s in outline)  # in file order
    assert [s.name for s in outline if s.kind == "layer"] == list(data["layers"])
    block = next(s for s in outline if s.kind == "block")
    assert [(c.name, c.kind) for c in block.children] == [
        ("inplanes", "argument"), ("planes", "argument"), ("stride", "argument"), ("expansion", "var"),
        ("conv1", "layer"), ("bn1", "layer"), ("relu", "layer"), ("conv2", "layer"), ("bn2", "layer"),
        ("downsample", "layer")]
    conv1 = next(s for s in outline if s.name == "conv1")
    lines = text.splitlines()
    assert block.range.start[0] == lines.index("  BasicBlock:") and block.range.end[0] == lines.index(
        "      - return relu(out)")
    downsample = block.children[-1]
    assert downsample.detail == "Sequential" and downsample.range.end[0] == lines.index("          - BatchNorm2d")
    assert conv1.detail == "Conv2d" and conv1.selection == f.Range(_at(text, "  conv1: {type: Conv2d, "
                                                                                    "out_channels: 64", 2),
                                                                              _at(text, "  conv1: {type: Conv2d, "
                                                                                    "out_channels: 64", 7))


def _apply(text: str, edits: list[tuple[f.Range, str]]) -> str:
    lines = text.splitlines(keepends=True)
    for r, new in sorted(edits, key=lambda e: e[0].start, reverse=True):
        assert r.start[0] == r.end[0]
        line = lines[r.start[0]]
        lines[r.start[0]] = line[:r.start[1]] + new + line[r.end[1]:]
    return "".join(lines)


def test_rename_a_layer_in_its_definition_only() -> None:
    text = RESNET18.read_text()
    doc, _ = _doc(text, RESNET18)
    edits = f.rename(doc, _at(text, "- out = bn2(conv2", 12), "conv_b")  # BasicBlock's conv2, from a use
    assert edits is not None
    renamed = _apply(text, edits)
    assert "      conv_b: {type: Conv2d, out_channels: planes" in renamed and "bn2(conv_b(out))" in renamed
    assert renamed.count("conv_b") == 2 and "conv2" not in renamed
    assert _doc(renamed, RESNET18)[1] == []
    # the root's conv1 is not the block's conv1
    edits = f.rename(doc, _at(text, "forward: [conv1", 10), "stem")
    assert edits is not None
    renamed = _apply(text, edits)
    assert "  stem: {type: Conv2d" in renamed and "forward: [stem, bn1" in renamed
    assert "relu(bn1(conv1(x)))" in renamed and "      conv1: {type: Conv2d" in renamed
    with pytest.raises(f.RenameError):
        f.rename(doc, _at(text, "forward: [conv1", 10), "bn1")
    with pytest.raises(f.RenameError):
        f.rename(doc, _at(text, "forward: [conv1", 10), "2x")
    assert f.rename(doc, _at(text, "netspec: 1", 1), "x") is None


def test_rename_a_block_everywhere_it_is_named() -> None:
    text = RESNET18.read_text()
    doc, _ = _doc(text, RESNET18)
    edits = f.rename(doc, _at(text, "  BasicBlock:", 4), "Basic")
    assert edits is not None
    renamed = _apply(text, edits)
    assert "  Basic:\n" in renamed and "vars: {block: Basic," in renamed
    assert "BasicBlock" not in renamed.split("netspec: 1")[1].split("weights:")[0]  # an init pass's key too
    assert _doc(renamed, RESNET18)[1] == []
    spec = LENET.replace("layers:\n", "blocks:\n  Unit:\n    inputs: {x: [N, C, H, W]}\n    layers:\n"
                         "      c: {type: Conv2d, out_channels: 6, kernel_size: 1}\n    forward: [c]\n"
                         "layers:\n  u: Unit\n  v: {type: \"Unit\"}\n", 1)
    spec = spec.replace("  - conv1\n", "  - conv1\n  - u\n  - v\n")
    doc, problems = _doc(spec)
    assert problems == []
    renamed = _apply(spec, f.rename(doc, _at(spec, "u: Unit", 4), "Cell") or [])
    assert "  u: Cell\n  v: {type: \"Cell\"}\n" in renamed and "  Cell:\n" in renamed
    assert _doc(renamed)[1] == []


def _fix(text: str) -> tuple[list[f.Action], str]:
    doc, problems = _doc(text)
    assert problems
    actions = f.code_actions(doc, f.Range((0, 0), (len(text.splitlines()), 0)))
    fixed = text
    for action in actions:
        fixed = _apply(fixed, list(action.edits))
    return actions, fixed


def test_quick_fixes_write_what_the_hints_say() -> None:
    actions, fixed = _fix(LENET.replace("kernel_size: 5}", "kernel_sise: 5}", 1))
    assert [a.title for a in actions] == ["did you mean 'kernel_size'? change 'kernel_sise' to 'kernel_size'"]
    assert fixed == LENET
    actions, fixed = _fix(LENET.replace("out_features: 120}", "in_features: 40, out_features: 120}"))
    assert [a.title for a in actions] == ["set in_features: 400"]
    assert "fc1: {type: Linear, in_features: 400, out_features: 120}" in fixed and _doc(fixed)[1] == []
    actions, fixed = _fix(LENET.replace("out_channels: 16,", "out_channels: max(16, 8),"))
    assert [a.title for a in actions] == ["quote this expression"]
    assert 'out_channels: "max(16, 8)",' in fixed and _doc(fixed)[1] == []
    actions, fixed = _fix(LENET.replace("  - fc2\n", "  - fc9\n"))
    assert [a.title for a in actions] == ["did you mean 'fc3'? change 'fc9' to 'fc3'"]
    actions, fixed = _fix(LENET.replace("  - flatten\n", "  - x = flatten(x, start_dim: 1)\n"))
    assert all(a.title == "quote this step" for a in actions)


# ---------------------------------------------------------------- the same over JSON-RPC

pygls = pytest.importorskip("pygls.lsp.server", reason="netspec lsp needs the optional extra")


def test_the_server_answers_outline_rename_and_quick_fixes(tmp_path: Path) -> None:
    from tests.test_lsp import Client  # the JSON-RPC client of test_lsp.py

    client = Client(tmp_path)
    try:
        capabilities = client.request("initialize", {"processId": None, "rootUri": tmp_path.as_uri(),
                                                     "capabilities": {}})["capabilities"]
        for feature in ("documentSymbolProvider", "renameProvider", "codeActionProvider"):
            assert capabilities.get(feature), feature
        client.notify("initialized", {})
        text = LENET.replace("kernel_size: 5}", "kernel_sise: 5}", 1).replace(
            FC3, FC3.replace("out_features: 10", "in_features: 80, out_features: 10"))
        uri = (tmp_path / "lenet.yaml").as_uri()
        client.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "yaml", "version": 1,
                                                                "text": text}})
        doc = {"uri": uri}
        assert [d["code"] for d in client.diagnostics(uri)] == ["unknown-key", "shape-mismatch"]

        def position(needle: str, offset: int) -> dict[str, int]:
            line, char = _at(text, needle, offset)
            return {"line": line, "character": char}

        hover = client.request("textDocument/hover", {"textDocument": doc, "position": position("conv1:", 1)})
        assert "(N, 6, 28, 28)" in hover["contents"]["value"]
        outline: list[dict[str, Any]] = client.request("textDocument/documentSymbol", {"textDocument": doc})
        assert [s["name"] for s in outline] == ["x", "conv1", "conv2", "fc1", "fc2", "fc3", "forward"]
        edit = client.request("textDocument/rename", {"textDocument": doc, "position": position("fc2:", 1),
                                                      "newName": "hidden"})
        assert len(edit["changes"][uri]) == 2
        where = client.request("textDocument/prepareRename", {"textDocument": doc, "position": position("fc2:", 1)})
        assert where == {"start": position("fc2:", 0), "end": position("fc2:", 3)}
        client.next_id += 1  # a name already taken: an error answer that says why, and the server goes on
        client.send({"id": client.next_id, "method": "textDocument/rename", "params": {
            "textDocument": doc, "position": position("fc2:", 1), "newName": "fc3"}})
        answer = client.wait_for(lambda m: m.get("id") == client.next_id and "method" not in m)
        assert "already a layer" in answer["error"]["message"]
        line = _at(text, "fc3:")[0]
        actions = client.request("textDocument/codeAction", {
            "textDocument": doc, "range": {"start": {"line": line, "character": 0}, "end": {"line": line,
                                                                                           "character": 0}},
            "context": {"diagnostics": []}})
        assert [a["title"] for a in actions] == ["set in_features: 84"]
        # edits that queue up: every text is taken, the diagnostics published are the latest text's
        for version in range(2, 12):
            client.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": version},
                                                     "contentChanges": [{"text": text + f"# {version}\n"}]})
        client.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": 12},
                                                 "contentChanges": [{"text": LENET}]})
        while client.diagnostics(uri) != []:
            pass
    finally:
        client.close()


# ---------------------------------------------------------------- cost: one analysis per text


def test_one_analysis_per_text_shared_by_hover_hints_and_diagnostics() -> None:
    doc, _ = _doc(LENET)
    first = doc.analysis
    assert first is not None
    hints = f.inlay_hints(doc)
    assert f.steps(doc) is f.steps(doc)  # read off the trace once
    edited = LENET + "# a comment\n"
    doc.update(edited)
    assert doc.analysis is not first and doc.analysis is not None and doc.analysis.text == edited
    doc.update(LENET)  # undo: the document's own cache answers, without analysing again
    assert doc.analysis is first and f.inlay_hints(doc) == hints


SHIPPED = sorted((ROOT / "specs").rglob("*.yaml"))


def _assigned(stmt: Any) -> list[str] | None:
    """The names a root forward step leaves its value in, where each can be returned (every item of a tuple taken
    apart, none discarded or nested)."""
    from netspec.middle import ir

    if isinstance(stmt, ir.Assign):
        return [stmt.target]
    if isinstance(stmt, ir.Unpack) and all(isinstance(t, str) and t != "_" for t in stmt.targets):
        return list(stmt.targets)
    if isinstance(stmt, ir.For) and stmt.body:
        return [stmt.body[-1].target]
    return None


# forwards of the kinds a language model and a hand-written net are made of: broadcasting arithmetic, matmul,
# views, unpacking, loops over parameters, negation, a step over several lines
_FORWARDS = [
    """netspec: 1
name: Attn
inputs: {x: [B, T, 32], bias: [T, 32]}
params:
  w: {shape: [32, 96]}
  gains: {list: [{shape: [32], repeat: 3}]}
layers:
  proj: {type: Linear, out_features: 32}
  norm: LayerNorm
forward:
  - B, T, C = x.shape
  - h = x + bias
  - qkv = h @ w
  - q, k, v = qkv.split(32, dim=2)
  - q = q.view(B, T, 4, 8).transpose(1, 2)
  - k = k.view(B, T, 4, 8).transpose(1, 2)
  - att = q @ k.transpose(-2, -1) * 0.35
  - att = softmax(att, dim=-1)
  - "y = (att @ v.view(B, T, 4, 8).transpose(1, 2)).transpose(1, 2).reshape(B, T, 32)"
  - "for g in gains: y = y * g"
  - y = -y
  - |
    z = proj(
      norm(y)) + bias
  - return z + x
""",
    """netspec: 1
name: Mix
inputs: {x: [N, 3, 16, 16]}
layers:
  conv: {type: Conv2d, out_channels: 8, kernel_size: 3, padding: 1}
  pool: {type: AdaptiveAvgPool2d, output_size: 1}
  fc: {type: Linear, out_features: 8}
forward:
  - y = conv(x)
  - s = pool(y)
  - y = y * s
  - y += conv(x)
  - g = fc(flatten(s, 1))
  - y = y + g.unsqueeze(-1).unsqueeze(-1)
  - y = relu(y) - y
  - return flatten(y, 1)
""",
    """netspec: 1
name: Again
inputs: {x: [N, 3, 256, 256]}
layers:
  pool: {type: MaxPool2d, kernel_size: 2}
  conv: {type: Conv2d, out_channels: 3, kernel_size: 3, padding: 1}
  blocks: [{type: Conv2d, out_channels: 3, kernel_size: 1, repeat: 2}]
forward:
  - x = pool(x)
  - x = pool(x)
  - x = conv(pool(conv(x)))
  - "for block in blocks: x = pool(block(x))"
  - x = pool(x) if pool else x
  - return pool(x)
""",
    """netspec: 1
name: IndexAfterOp
inputs: {x: [N, 12], seq: [N, T, 6]}
layers:
  fc: {type: Linear, out_features: 16}
  lstm: {type: LSTM, hidden_size: 5, batch_first: true}
  attn: {type: MultiheadAttention, num_heads: 2, batch_first: true}
forward:
  - y = fc(x)[:, :5]
  - z = relu(fc(x))[:, None]
  - last = lstm(seq)[0][:, -1]
  - h_n = lstm(seq)[1][0]
  - w = attn(seq, seq, seq)[1]
  - col = seq.mean(-1)[..., 0]
  - p1, p2, p3 = seq.chunk(3, dim=-1)
  - parts = fc(x).split([4, 12], dim=1)
  - n = fc(x).size(1)
  - return y
""",
]


def _cut(data: dict[str, Any], analysis: f.Analysis, index: int, name: str | None) -> str:
    """The spec with its forward cut after step ``index``, returning ``name``; each root layer's inferred arguments
    (in_features...) written out as the whole forward inferred them, since the cut forward may not reach it."""
    from netspec.ops import LAYERS

    assert analysis.compiled is not None
    layer_args = analysis.compiled.inference.layer_args

    def pinned(entry: Any, key: str) -> Any:
        if isinstance(entry, list):  # a Sequential: its children by index
            return [pinned(child, f"{key}.{i}") for i, child in enumerate(entry)]
        if isinstance(entry, str) and entry in LAYERS:  # `norm: LayerNorm`
            entry = {"type": entry}
        if isinstance(entry, dict) and entry.get("type") in LAYERS and key in layer_args:
            inferred = {a.name for a in LAYERS[entry["type"]].args if a.inferred}
            return {**entry, **{k: v for k, v in layer_args[key].items() if k in inferred and k not in entry}}
        return entry

    layers = {key: pinned(entry, key) for key, entry in (data.get("layers") or {}).items()}
    cut = {k: v for k, v in data.items() if k != "outputs"}
    cut["layers"] = layers
    cut["forward"] = data["forward"][: index + 1] + ([f"return {name}"] if name else [])
    return yaml.safe_dump(cut, sort_keys=False)


def test_every_root_step_hint_is_the_shape_forward_has_there() -> None:
    """The oracle is shape inference itself, on another spec: the forward cut after the step, returning what the
    step assigned. A hint placed on the wrong event (the last call of a step that ends in arithmetic, a call of
    another step) disagrees with it. Cuts that leave a block or a Sequential no forward reaches cannot infer its
    arguments and are skipped."""
    from netspec import api
    from netspec.errors import SpecError
    from netspec.middle import ir
    from netspec.ops import fmt_shape

    wrong, checked = [], 0
    for path, text in [*((p, p.read_text()) for p in SHIPPED), *((Path(f"forward{i}.yaml"), t)
                                                                  for i, t in enumerate(_FORWARDS))]:
        doc, problems = _doc(text, path if path.exists() else None)
        assert [p for p in problems if p.severity == "error"] == [], path
        hints = dict(f.inlay_hints(doc))
        analysis = doc.analysis
        assert analysis is not None and analysis.program is not None
        data = yaml.safe_load(text)
        if not isinstance(data.get("forward"), list):
            continue
        for step in f.steps(doc):
            label = hints.get((step.line, step.end))
            stmt = analysis.program.root.body[step.index] if not step.definition else None
            names = [None] if isinstance(stmt, ir.Return) else _assigned(stmt)
            if label is None or stmt is None or names is None:
                continue
            try:
                outputs = [api.compile_spec(text=_cut(data, analysis, step.index, name),
                                            filename=str(path) if path.exists() else None).inference.output
                           for name in names]
            except SpecError as exc:
                # a layer the cut forward never reaches; a step whose value is a tuple, which forward cannot return
                assert {d.code for d in exc.diagnostics} <= {"cannot-infer", "bad-return"}, (path, step.index, exc)
                continue
            checked += 1
            expected = ", ".join(fmt_shape(output.shape) for output in outputs)
            if label != f"-> {expected}":
                wrong.append((path.name, step.index, label, expected))
    assert wrong == []
    assert checked >= 70, checked


def test_a_step_s_value_not_its_last_call() -> None:
    """Indexing a call's output, a tuple taken apart, a size: the hint is the value the step leaves."""
    doc, problems = _doc(_FORWARDS[3])
    assert problems == []
    lines = _FORWARDS[3].splitlines()
    hints = {lines[line].strip(): label for (line, _), label in f.inlay_hints(doc)}
    assert hints == {"- y = fc(x)[:, :5]": "-> (N, 5)", "- z = relu(fc(x))[:, None]": "-> (N, 1, 16)",
                     "- last = lstm(seq)[0][:, -1]": "-> (N, 5)", "- h_n = lstm(seq)[1][0]": "-> (1, N, 5)",
                     "- w = attn(seq, seq, seq)[1]": "-> (N, T, T)", "- col = seq.mean(-1)[..., 0]": "-> (N)",
                     "- p1, p2, p3 = seq.chunk(3, dim=-1)": "-> (N, T, 2), (N, T, 2), (N, T, 2)",
                     "- parts = fc(x).split([4, 12], dim=1)": "-> (N, 4), (N, 12)", "- return y": "-> (N, 5)"}
    assert f.hover(doc, _at(_FORWARDS[3], "- y = fc", 2)) == "**forward step 0**: `getitem`\n\n- output shape: `(N, 5)`"


def test_how_a_value_is_written() -> None:
    from netspec.middle.shapes import Tensor

    x, h = Tensor(("N", 8), "float32"), Tensor((1, "N", 5), "float32")
    assert f._value_text(x) == "(N, 8)"
    assert f._value_text((x, (h, h))) == "(N, 8), [(1, N, 5), (1, N, 5)]"
    assert f._value_text((x, None, ("N", 8))) == "(N, 8), None, [('N', 8)]"  # need_weights=False; a shape
    assert f._value_text(("N", 8)) is None and f._value_text(3) is None  # no tensor: no hint


def test_a_block_step_that_is_its_input_in_some_instances_is_hinted_over_all() -> None:
    """``sc = proj(x) if proj else x``: the instances without proj leave x, and the hint covers them too."""
    text = """netspec: 1
name: CondAgree
inputs: {x: [N, 8, 16, 16]}
blocks:
  Unit:
    args: {cin: int, cout: int}
    inputs: {x: [N, cin, H, W]}
    layers:
      conv: {type: Conv2d, out_channels: cout, kernel_size: 3, padding: 1}
      proj: {type: Conv2d, out_channels: cout, kernel_size: 1, if: cin != cout}
    forward:
      - sc = proj(x) if proj else x
      - return conv(x) + sc
layers:
  u1: {type: Unit, cout: 16}
  pool: {type: MaxPool2d, kernel_size: 2}
  u2: {type: Unit, cout: 16}
"""
    doc, problems = _doc(text)
    assert problems == []
    at = _at(text, "- sc = proj")
    assert [label for (line, _), label in f.inlay_hints(doc) if line == at[0]] == ["-> (N, 16, H, W)"]
    hover = f.hover(doc, (at[0], at[1] + 4))
    assert hover is not None and hover.endswith("in 2 instance(s):\n- `u1`: `(N, 16, 16, 16)`\n"
                                                "- `u2`: `(N, 16, 8, 8)`"), hover


def test_a_text_that_parses_answers_for_itself_whatever_came_before() -> None:
    """Only a text that does not parse keeps the last shapes: one that parses, however broken, answers as it would
    in a fresh document (an unknown function in a step leaves no shapes; the old ones would be stale)."""
    broken = LENET.replace("  - relu\n", "  - x = reluu(x)\n", 1)
    fresh, _ = _doc(broken)
    doc, _ = _doc(LENET)
    doc.update(broken)
    assert f.inlay_hints(doc) == f.inlay_hints(fresh)
    assert f.hover(doc, _at(LENET, "conv1:", 1)) == f.hover(fresh, _at(LENET, "conv1:", 1))


def test_analyses_the_cache_drops_are_freed_after_the_answer(monkeypatch: Any) -> None:
    """Freeing an old analysis (2-5 ms on a 1,000-layer spec) and the collector's pass over the new one (3-4 ms)
    wait until the diagnostics are sent."""
    import gc

    from netspec import api
    from netspec.tools import lsp

    doc, _ = _doc(LENET)
    for i in range(f.CACHE_SIZE):
        doc.update(f"{LENET}# edit {i}\n")
    assert [a.text for a in doc.retired] == [LENET] and len(doc.cache) == f.CACHE_SIZE
    compiled = doc.retired[0].compiled
    assert compiled is not None and api.compile_spec(text=LENET) is compiled  # netspec's compile cache has it
    doc.release()
    assert doc.retired == []
    assert api.compile_spec(text=LENET) is not compiled  # ... and forgot it with the analysis
    doc.update(f"{LENET}# edit {f.CACHE_SIZE}\n")
    assert len(doc.retired) == 1
    doc.update(f"{LENET}# edit {f.CACHE_SIZE + 1}\n")  # a caller that never releases keeps at most one update's
    assert len(doc.retired) == 1
    server = lsp.make_server()
    sent: list[tuple[int, bool]] = []
    workspace = SimpleNamespace(get_text_document=lambda uri: SimpleNamespace(source=LENET))
    monkeypatch.setattr(server.protocol, "_workspace", workspace)  # an editor holding LENET
    monkeypatch.setattr(server, "text_document_publish_diagnostics",
                        lambda params: sent.append((len(server.documents[uri].retired), gc.isenabled())))
    uri = "file:///lenet.yaml"
    server.documents[uri] = doc
    assert gc.isenabled()
    server.check(uri)
    # LENET analysed again, the oldest edit dropped: freed once sent, the collector paused until then
    assert sent == [(1, False)] and doc.retired == [] and gc.isenabled()


def test_outline_and_rename_of_text_that_does_not_parse() -> None:
    deep = "netspec: 1\nname: Deep\nvars:\n  v: " + "[" * 3000 + "]" * 3000 + "\n"
    doc, problems = _doc(deep)
    assert [p.code for p in problems] == ["too-deep"]
    assert f.symbols(doc) == [] and f.rename(doc, (2, 3), "w") is None and f.inlay_hints(doc) == []
    # a document that parsed once keeps its outline from that text; rename waits for the text to parse again
    doc, _ = _doc(LENET)
    doc.update(LENET.replace("  conv2: {type: Conv2d", "  conv2: {type: [Conv2d"))
    assert [s.name for s in f.symbols(doc)][:2] == ["x", "conv1"]
    assert f.rename(doc, _at(LENET, "conv1:", 1), "stem") is None


def test_when_edits_queue_up_only_the_latest_is_analysed(monkeypatch: Any) -> None:
    import asyncio

    from lsprotocol import types

    from netspec.tools import lsp

    server = lsp.make_server()
    did_change = server.protocol.fm.features[types.TEXT_DOCUMENT_DID_CHANGE]
    checked: list[str] = []
    monkeypatch.setattr(server, "check", checked.append)

    def change(uri: str, version: int) -> Any:
        return did_change(types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version), content_changes=[]))

    async def burst() -> None:  # five changes read before the first is handled, and one of another document
        await asyncio.gather(*(change("file:///a.yaml", v) for v in range(5)), change("file:///b.yaml", 1))

    asyncio.run(burst())
    assert checked == ["file:///a.yaml", "file:///b.yaml"]
    asyncio.run(change("file:///a.yaml", 6))  # one alone is analysed
    assert checked[-1] == "file:///a.yaml" and len(checked) == 3


# ---------------------------------------------------------------- semantic tokens


def _tokens(text: str, path: Path | None = None) -> list[tuple[int, str, str, tuple[str, ...]]]:
    doc, _ = _doc(text, path)
    lines = text.splitlines()
    return [(t.line, lines[t.line][t.start:t.start + t.length], t.type, t.modifiers) for t in f.semantic_tokens(doc)]


def test_semantic_tokens_say_what_each_name_is() -> None:
    text = RESNET18.read_text()
    tokens = _tokens(text, RESNET18)
    lines = text.splitlines()

    def on(needle: str) -> list[tuple[str, str, tuple[str, ...]]]:
        line = next(i for i, t in enumerate(lines) if needle in t)
        return [(word, kind, modifiers) for i, word, kind, modifiers in tokens if i == line]

    assert on("- out = relu(bn1(conv1(x)))") == [("relu", "variable", ()), ("bn1", "variable", ()),
                                                 ("conv1", "variable", ()), ("x", "parameter", ())]
    assert on("if: stride != 1") == [("stride", "parameter", ()), ("inplanes", "parameter", ()),
                                     ("planes", "parameter", ()), ("expansion", "variable", ("readonly",))]
    assert on("  BasicBlock:") == [("BasicBlock", "class", ("declaration",))]
    assert ("block", "variable", ("declaration", "readonly")) in on("vars: {block: BasicBlock")
    assert ("BasicBlock", "class", ()) in on("vars: {block: BasicBlock")
    assert on("  layer1: [{type: block") == [("layer1", "variable", ("declaration",)),
                                              ("block", "variable", ("readonly",)),
                                              ("layers", "variable", ("readonly",))]
    assert on("  bn1: BatchNorm2d")[1:] == [("BatchNorm2d", "type", ())]
    assert ("flatten", "function", ()) in on("forward: [conv1, bn1")
    assert ("out", "variable", ()) not in on("- out = bn2(conv2(out))")  # a step's own names are not coloured


def test_semantic_tokens_skip_keywords_attributes_and_quoted_text() -> None:
    text = """\
netspec: 1
name: Net
inputs: {x: [N, 3, 8, 8]}
layers:
  conv1: {type: Conv2d, out_channels: 4, kernel_size: 3}
  fc: {type: Linear, out_features: 2}
forward:
  - y = conv1(x)
  - y = flatten(y, start_dim=1)  # conv1 in a comment
  - "y = y if 'fc' else fc(y)"
  - return fc(y)
"""
    tokens = _tokens(text)
    words = [(word, kind) for _, word, kind, _ in tokens]
    assert words == [("x", "parameter"), ("conv1", "variable"), ("Conv2d", "type"), ("fc", "variable"),
                     ("Linear", "type"), ("conv1", "variable"), ("x", "parameter"), ("flatten", "function"),
                     ("fc", "variable"), ("fc", "variable")]
    assert [line for line, *_ in tokens].count(9) == 1  # 'fc' in quotes is a string, fc(y) a layer


def test_semantic_tokens_of_every_shipped_spec_are_names_in_order() -> None:
    for path in sorted((ROOT / "specs").rglob("*.yaml")):
        text = path.read_text()
        doc, _ = _doc(text, path)
        tokens = f.semantic_tokens(doc)
        assert tokens, path
        assert tokens == sorted(tokens) and len(set(tokens)) == len(tokens)
        lines = text.splitlines()
        for before, after in itertools.pairwise(tokens):
            assert (before.line, before.start + before.length) <= (after.line, after.start), (path, before, after)
        for t in tokens:
            word = lines[t.line][t.start:t.start + t.length]
            assert f._WORD.fullmatch(word) and t.type in f.TOKEN_TYPES, (path, t)


def test_semantic_tokens_wait_for_text_that_parses() -> None:
    doc, _ = _doc(LENET)
    assert f.semantic_tokens(doc)
    doc.update(LENET + "layers: [\n")
    assert f.semantic_tokens(doc) == []
