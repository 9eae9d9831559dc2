"""`netspec lsp` end to end: a small JSON-RPC client drives `python -m netspec lsp` over stdio."""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO, Any

import pytest

pytest.importorskip("pygls.lsp.server", reason="netspec lsp needs the optional extra: pip install 'netspec[lsp]'")

TIMEOUT = 30.0  # seconds any one answer may take; nothing here waits longer

SPEC = """\
netspec: 1
name: Net
inputs: {x: [N, 3, 32, 32]}
blocks:
  Stage:
    args: {width: int}
    inputs: {x: [N, C, H, W]}
    layers:
      conv: {type: Conv2d, out_channels: width, kernel_size: 3, padding: 1}
    forward: [conv, relu]
layers:
  conv1: {type: Conv2d, out_channels: 8, kernel_size: 3, stride: 1}
  stage: {type: Stage, width: 16}
  fc: {type: Linear, out_features: 10}
forward:
  - conv1
  - relu
  - stage
  - adaptive_avg_pool2d: 1
  - flatten
  - fc
"""
TYPO = SPEC.replace("stride: 1}", "strid: 1}")  # line 12 (0-based 11)


class Client:
    """LSP over a child's stdin/stdout: Content-Length framed JSON-RPC, every wait bounded."""

    def __init__(self, cwd: Path) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "netspec", "lsp"], cwd=cwd, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.messages: queue.Queue[dict[str, Any]] = queue.Queue()
        self.next_id = 0
        self.stderr: list[bytes] = []
        self.capabilities: dict[str, Any] = {}
        self.threads = [threading.Thread(target=self._read, args=(self.proc.stdout,), daemon=True),
                        threading.Thread(target=lambda: self.stderr.extend(self.proc.stderr or []), daemon=True)]
        for thread in self.threads:
            thread.start()

    def _read(self, stream: IO[bytes]) -> None:
        while True:
            headers: dict[str, str] = {}
            while True:
                line = stream.readline()
                if not line:
                    return
                line = line.strip()
                if not line:
                    break
                key, _, value = line.decode().partition(":")
                headers[key.strip().lower()] = value.strip()
            body = stream.read(int(headers["content-length"]))
            self.messages.put(json.loads(body))

    def send(self, payload: dict[str, Any]) -> None:
        body = json.dumps({"jsonrpc": "2.0", **payload}).encode()
        assert self.proc.stdin is not None
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.proc.stdin.flush()

    def notify(self, method: str, params: Any) -> None:
        self.send({"method": method, "params": params})

    def wait_for(self, want: Any) -> dict[str, Any]:
        while True:
            try:
                message = self.messages.get(timeout=TIMEOUT)
            except queue.Empty:
                pytest.fail(f"no answer from netspec lsp in {TIMEOUT}s; stderr: {b''.join(self.stderr)[-2000:]!r}")
            if want(message):
                return message

    def request(self, method: str, params: Any) -> Any:
        self.next_id += 1
        ident = self.next_id
        self.send({"id": ident, "method": method, "params": params})
        answer = self.wait_for(lambda m: m.get("id") == ident and "method" not in m)
        assert "error" not in answer, answer
        return answer["result"]

    def diagnostics(self, uri: str) -> list[dict[str, Any]]:
        message = self.wait_for(lambda m: m.get("method") == "textDocument/publishDiagnostics"
                                and m["params"]["uri"] == uri)
        result: list[dict[str, Any]] = message["params"]["diagnostics"]
        return result

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=TIMEOUT)
        for thread in self.threads:  # the child is gone: its pipes are at end of file
            thread.join(timeout=TIMEOUT)
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


@pytest.fixture
def client(tmp_path: Path) -> Any:
    c = Client(tmp_path)
    try:
        result = c.request("initialize", {"processId": None, "rootUri": tmp_path.as_uri(), "capabilities": {}})
        capabilities = result["capabilities"]
        for feature in ("hoverProvider", "completionProvider", "definitionProvider", "inlayHintProvider",
                        "semanticTokensProvider"):
            assert capabilities.get(feature), feature
        c.capabilities = capabilities
        c.notify("initialized", {})
        yield c
    finally:
        c.close()


def _position(line: int, character: int) -> dict[str, int]:
    return {"line": line, "character": character}


def _at(text: str, needle: str, offset: int = 0) -> dict[str, int]:
    """The position of ``needle``'s first occurrence (plus ``offset`` characters)."""
    for i, line in enumerate(text.splitlines()):
        if needle in line:
            return _position(i, line.index(needle) + offset)
    raise AssertionError(needle)


def _open(client: Client, path: Path, text: str) -> str:
    uri = path.as_uri()
    client.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "yaml", "version": 1,
                                                            "text": text}})
    return uri


def test_session_end_to_end(client: Client, tmp_path: Path) -> None:
    path = tmp_path / "net.yaml"
    path.write_text(TYPO)
    uri = _open(client, path, TYPO)
    doc = {"uri": uri}

    # a typo in a layer argument: exactly one diagnostic, at its line, naming the argument
    diagnostics = client.diagnostics(uri)
    assert len(diagnostics) == 1, diagnostics
    (d,) = diagnostics
    assert d["range"]["start"]["line"] == 11 and d["severity"] == 1 and d["code"] == "unknown-key"
    assert "strid" in d["message"] and "stride" in d["message"]
    assert d["range"]["start"]["character"] == TYPO.splitlines()[11].index("strid")

    # fixed: the diagnostics are cleared
    client.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": 2},
                                             "contentChanges": [{"text": SPEC}]})
    assert client.diagnostics(uri) == []

    # hover on a layer key, and on a layer in forward: shape, parameters, MACs
    for where in (_at(SPEC, "conv1:"), _at(SPEC, "- conv1", 3)):
        hover = client.request("textDocument/hover", {"textDocument": doc, "position": where})
        text = hover["contents"]["value"]
        assert "(N, 8, 30, 30)" in text and "224" in text and "MACs" in text, text

    # inlay hints: one per forward step, each with the shape after it
    lines = SPEC.splitlines()
    hints = client.request("textDocument/inlayHint", {"textDocument": doc, "range": {
        "start": _position(0, 0), "end": _position(len(lines), 0)}})
    forward = lines.index("forward:")
    block_forward = lines.index("    forward: [conv, relu]")  # a block's forward gets hints too
    assert [h["position"]["line"] for h in hints] == [block_forward] * 2 + list(range(forward + 1, len(lines)))
    assert [h["label"] for h in hints[:2]] == ["-> (N, 16, 30, 30)"] * 2
    assert hints[2]["label"] == "-> (N, 8, 30, 30)" and hints[-1]["label"] == "-> (N, 10)"

    # semantic tokens, as LSP encodes them (relative lines and starts): the legend the server announced decodes them
    legend = client.capabilities["semanticTokensProvider"]["legend"]
    data = client.request("textDocument/semanticTokens/full", {"textDocument": doc})["data"]
    decoded, line, start = [], 0, 0
    for i in range(0, len(data), 5):
        delta_line, delta_start, length, kind, bits = data[i:i + 5]
        line, start = line + delta_line, (start if delta_line == 0 else 0) + delta_start
        text = lines[line][start:start + length]
        decoded.append((text, legend["tokenTypes"][kind],
                        [m for j, m in enumerate(legend["tokenModifiers"]) if bits >> j & 1]))
    assert ("Stage", "class", ["declaration"]) in decoded and ("Stage", "class", []) in decoded
    assert ("width", "parameter", []) in decoded and ("Conv2d", "type", []) in decoded
    assert ("adaptive_avg_pool2d", "function", []) in decoded and ("fc", "variable", ["declaration"]) in decoded
    assert ("conv1", "variable", []) in decoded and ("x", "parameter", ["declaration"]) in decoded

    # completion of layer types after `type: `, then of a layer's arguments, then of forward names
    edited = SPEC.replace("  fc: {type: Linear, out_features: 10}", "  fc: {type: Linear, out_features: 10}\n"
                          "  extra: {type: ")
    client.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": 3},
                                             "contentChanges": [{"text": edited}]})
    client.diagnostics(uri)
    where = _at(edited, "extra: {type: ", len("extra: {type: "))
    items = client.request("textDocument/completion", {"textDocument": doc, "position": where})["items"]
    labels = {i["label"] for i in items}
    assert {"Conv2d", "Linear", "Stage"} <= labels
    items = client.request("textDocument/completion", {"textDocument": doc,
                                                       "position": _at(edited, ", stride", 2)})["items"]
    assert {"padding", "dilation", "groups"} <= {i["label"] for i in items}
    items = client.request("textDocument/completion", {"textDocument": doc,
                                                       "position": _at(edited, "  - flatten", 4)})["items"]
    assert {"conv1", "stage", "fc", "x", "relu", "flatten"} <= {i["label"] for i in items}

    # go to definition: a block's use jumps to its definition
    found = client.request("textDocument/definition", {"textDocument": doc,
                                                       "position": _at(SPEC, "type: Stage", 7)})
    assert found["uri"] == uri and found["range"]["start"]["line"] == lines.index("  Stage:")

    assert client.request("shutdown", None) is None
    client.notify("exit", None)
    assert client.proc.wait(timeout=TIMEOUT) == 0


def test_imports_resolve_beside_the_file_and_definition_opens_them(client: Client, tmp_path: Path) -> None:
    (tmp_path / "parts").mkdir()
    lib = tmp_path / "parts" / "lib.yaml"
    lib.write_text(SPEC)
    main = SPEC.split("blocks:")[0] + "imports: [parts/lib.yaml]\n" + SPEC.split("    forward: [conv, relu]\n")[1]
    path = tmp_path / "main.yaml"
    uri = _open(client, path, main)
    assert client.diagnostics(uri) == []
    found = client.request("textDocument/definition", {"textDocument": {"uri": uri},
                                                       "position": _at(main, "parts/lib.yaml", 3)})
    assert found["uri"] == lib.resolve().as_uri()
    found = client.request("textDocument/definition", {"textDocument": {"uri": uri},
                                                       "position": _at(main, "type: Stage", 7)})
    assert found["uri"] == lib.resolve().as_uri() and found["range"]["start"]["line"] == 4


def test_shape_errors_and_warnings_arrive_as_you_type(client: Client, tmp_path: Path) -> None:
    bad = SPEC.replace("inputs: {x: [N, 3, 32, 32]}", "inputs: {x: [N, 3, 2, 2]}")
    uri = _open(client, tmp_path / "small.yaml", bad)
    diagnostics = client.diagnostics(uri)
    assert diagnostics and all(d["severity"] == 1 for d in diagnostics)
    assert all(d["range"]["start"]["line"] > 0 for d in diagnostics), diagnostics


def test_warnings_arrive_as_warnings(client: Client, tmp_path: Path) -> None:
    fc = "  fc: {type: Linear, out_features: 10}"
    spare = SPEC.replace(fc, fc + "\n  spare: {type: Linear, in_features: 4, out_features: 4}")
    uri = _open(client, tmp_path / "spare.yaml", spare)
    (d,) = client.diagnostics(uri)
    assert d["severity"] == 2 and d["code"] == "unused-layer"
    assert d["range"]["start"] == _at(spare, "spare:") and d["range"]["end"] == _at(spare, "spare:", len("spare"))


# ---------------------------------------------------------------- the limits and fences of `netspec validate`

DEEP = "netspec: 1\nname: Deep\nvars:\n  v: " + "[" * 3000 + "]" * 3000 + "\n"


def _validate_codes(path: Path) -> list[str]:
    """The codes `netspec validate` gives the file: what the server must say of the same text."""
    import netspec

    try:
        netspec.validate(path)
    except netspec.SpecError as exc:
        return [d.code for d in exc.diagnostics]
    return []


def test_a_document_nested_3000_deep_gets_validates_diagnostic(client: Client, tmp_path: Path) -> None:
    path = tmp_path / "deep.yaml"
    path.write_text(DEEP)
    uri = _open(client, path, DEEP)
    diagnostics = client.diagnostics(uri)  # before: RecursionError, and nothing published
    assert [d["code"] for d in diagnostics] == _validate_codes(path) == ["too-deep"]


def test_limits_come_before_any_parse(tmp_path: Path) -> None:
    import time

    from netspec.frontend import source
    from netspec.tools import lsp_features

    doc = lsp_features.Document(str(tmp_path / "big.yaml"))
    assert [p.code for p in doc.update(DEEP)] == ["too-deep"]
    body = "".join(f"  l{i}: {{type: Linear, out_features: {i % 7 + 1}}}\n" for i in range(200_000))
    big = "netspec: 1\nname: Big\ninputs: {x: [N, 4]}\nlayers:\n" + body
    assert len(big.encode()) > source.MAX_BYTES
    (tmp_path / "big.yaml").write_text(big)
    start = time.perf_counter()
    problems = doc.update(big)
    assert time.perf_counter() - start < 5  # a size check, not a parse of 6 MiB
    assert [p.code for p in problems] == _validate_codes(tmp_path / "big.yaml") == ["file-too-large"]
    assert problems[0].range.start == (0, 0)


def test_completion_and_definition_never_read_outside_the_fence(tmp_path: Path, monkeypatch: Any) -> None:
    from netspec.tools import lsp_features as f

    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "lib.yaml").write_text(SPEC.replace("Stage", "Secret"))
    (outside / "lib2.yaml").write_text(SPEC.replace("Stage", "Hidden"))
    spec_dir = tmp_path / "spec"
    spec_dir.mkdir()
    (spec_dir / "link.yaml").symlink_to(outside / "lib2.yaml")
    text = (SPEC.split("blocks:")[0] + "imports: [../outside/lib.yaml, link.yaml]\n"
            + SPEC.split("    forward: [conv, relu]\n")[1].replace("type: Stage", "type: Secret"))
    doc = f.Document(str(spec_dir / "main.yaml"))
    problems = doc.update(text)
    assert {p.code for p in problems} == {"import-refused"}, problems  # diagnostics refuse both
    where = _at(text, "type: Secret", len("type: "))
    labels = {c.label for c in f.completions(doc, (where["line"], where["character"]))}
    assert "Conv2d" in labels and not {"Secret", "Hidden"} & labels
    assert f.imported_blocks(doc) == {}
    assert f.definition(doc, (where["line"], where["character"] + 1)) is None
    for name in ("../outside/lib.yaml", "link.yaml"):
        at = _at(text, name, 2)
        assert f.definition(doc, (at["line"], at["character"])) is None
    # an untitled buffer reads no directory at all (its diagnostics say import-missing), the working one included
    monkeypatch.chdir(outside)
    untitled = f.Document(None)
    local = text.replace("../outside/lib.yaml, link.yaml", "lib.yaml")
    assert {p.code for p in untitled.update(local)} == {"import-missing"}
    assert f.imported_blocks(untitled) == {}


# ---------------------------------------------------------------- hover and inlay hints read the trace

OPS_SPEC = """\
netspec: 1
name: Ops
inputs: {x: [N, 3, 8, 8]}
params:
  w: {shape: [8, 8]}
  ws: {list: [{shape: [8], repeat: 2}]}
blocks:
  Unit:
    args: {oup: int}
    inputs: {x: [N, C, H, W]}
    layers:
      conv: {type: Conv2d, out_channels: oup, kernel_size: 3, padding: 1}
    forward: [conv, relu]
layers:
  conv: {type: Conv2d, out_channels: 8, kernel_size: 3, padding: 1}
  act: {type: ReLU}
  seq:
    - {type: Conv2d, out_channels: 8, kernel_size: 1}
    - {type: ReLU}
  units:
    repeat: 2
    layers:
      unit{i}: {type: Unit, oup: 8}
  unit: {type: Unit, oup: 8}
  attn: {type: MultiheadAttention, embed_dim: 64, num_heads: 2, batch_first: true}
  fc: {type: Linear, out_features: 4}
forward:
  - x = conv(x)
  - x = act(x)
  - x = act(seq(x)) + x
  - a, b = x.chunk(2, 1)
  - x = cat([a, b], 1)
  - x = x @ w
  - "for p in ws: x = x + p"
  - "for layer in units: x = layer(x)"
  - x = unit(x)
  - x = unit(x)
  - x = -x
  - x = flatten(x, 2)
  - y, _ = attn(x, x, x)
  - return fc(y)
"""


def test_hover_and_hints_follow_the_forward_steps() -> None:
    from netspec.tools import lsp_features as f

    doc = f.Document(None)
    assert doc.update(OPS_SPEC) == []
    lines = OPS_SPEC.splitlines()
    first = lines.index("forward:") + 1
    hints = {line - first: label for (line, _), label in f.inlay_hints(doc) if line >= first}
    unit = lines.index("    forward: [conv, relu]")  # the block's forward: three instances agree
    assert [label for (line, _), label in f.inlay_hints(doc) if line == unit] == ["-> (N, 8, 8, 8)"] * 2
    # every step is hinted, each where its calls are written: ending in arithmetic (a loop of additions, 6; a
    # negation, 10), a loop over a layer group (7, its layers called through the loop variable), the same block
    # called in two steps running (8, 9); a tuple taken apart shows every item, discarded ones too (3, 12)
    assert hints == {0: "-> (N, 8, 8, 8)", 1: "-> (N, 8, 8, 8)", 2: "-> (N, 8, 8, 8)",
                     3: "-> (N, 4, 8, 8), (N, 4, 8, 8)", 4: "-> (N, 8, 8, 8)", 5: "-> (N, 8, 8, 8)",
                     6: "-> (N, 8, 8, 8)", 7: "-> (N, 8, 8, 8)", 8: "-> (N, 8, 8, 8)", 9: "-> (N, 8, 8, 8)",
                     10: "-> (N, 8, 8, 8)", 11: "-> (N, 8, 64)", 12: "-> (N, 8, 64), (N, 8, 8)", 13: "-> (N, 8, 4)"}

    def hover(needle: str, offset: int = 1) -> str | None:
        at = _at(OPS_SPEC, needle, offset)
        return f.hover(doc, (at["line"], at["character"]))

    assert hover("act(seq") == ("**act**: `ReLU`\n\n- output shape: `(N, 8, 8, 8)`\n- parameters: 0\n"
                                "- MACs per sample: 0")
    assert hover("chunk") == ("**forward step 3**: `chunk`\n\n- output shape: `(N, 4, 8, 8), (N, 4, 8, 8)`\n"
                              "- parameters: 0\n- MACs per sample: 0")
    assert hover("x @ w") == ("**forward step 5**: `matmul`\n\n- output shape: `(N, 8, 8, 8)`\n- parameters: 0\n"
                              "- MACs per sample: 4,096")
    assert hover("attn(") == ("**attn**: `MultiheadAttention`\n\n- output shape: `(N, 8, 64)`\n"
                              "- parameters: 16,640\n- MACs per sample: 139,264")
    assert hover("  conv: {type: Conv2d, out_channels: 8", 3) == (
        "**conv**: `Conv2d`\n\n- output shape: `(N, 8, 8, 8)`\n- parameters: 224\n- MACs per sample: 13,824")
    inner = hover("conv: {type: Conv2d, out_channels: oup")
    assert inner is not None and inner.startswith("**Unit.conv**: `Conv2d`")
    assert inner.endswith("in 3 instance(s):\n- `unit0`: `(N, 8, 8, 8)`\n- `unit1`: `(N, 8, 8, 8)`\n"
                          "- `unit`: `(N, 8, 8, 8)`"), inner
    assert hover("- x = -x", 3) == "**forward step 10**: `neg`\n\n- output shape: `(N, 8, 8, 8)`"
