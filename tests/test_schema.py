"""The JSON Schema is generated from the pydantic models and kept in sync; it
accepts every shipped spec and refuses what the models refuse."""

from __future__ import annotations

import json
import queue
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

import netspec
from netspec.frontend import schema
from tests.conftest import ROOT, SHIPPED, SPECS_DIR, spec_ids

SCHEMA_FILE = ROOT / "schemas" / "netspec.schema.json"


def validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(json.loads(SCHEMA_FILE.read_text()))


def test_schema_file_is_generated_from_the_models() -> None:
    assert SCHEMA_FILE.read_text() == schema.json_schema_text(), "run: netspec schema > schemas/netspec.schema.json"


def test_schema_is_a_valid_draft_2020_12_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(json.loads(SCHEMA_FILE.read_text()))


@pytest.mark.parametrize("path", SHIPPED, ids=spec_ids())
def test_jsonschema_accepts_every_shipped_spec(path) -> None:
    validator().validate(yaml.safe_load(path.read_text()))


@pytest.mark.parametrize("data", [
    {"netspec": 1, "name": "M", "inputs": {"x": [1, 4]}, "layers": {"fc": {"type": "Linear", "out_feature": 4}}},
    {"netspec": 1, "name": "M", "inputs": {"x": [1, 4]}, "layers": {"fc": {"type": "Linear", "out_features": True}}},
    {"netspec": 1, "name": "M", "inputs": {"x": [1, 4]}, "layers": {"d": {"type": "Dropout", "p": 1.5}}},
    {"netspec": 1, "name": "M", "inputs": {"x": [1, 4]}, "extra": 1},
    {"netspec": 1, "name": "1M", "inputs": {"x": [1, 4]}},
    {"netspec": 1, "name": "M", "inputs": {"x": [0, 4]}},
])
def test_schema_and_models_refuse_the_same_specs(data, write_spec) -> None:
    assert not validator().is_valid(data)
    path = write_spec(yaml.safe_dump(data))
    with pytest.raises(netspec.SpecError):
        netspec.validate(path)


def test_a_misspelt_layer_type_is_refused_by_netspec(write_spec) -> None:
    # The JSON Schema takes any other name for a block's (blocks are the spec's own), so netspec refuses it.
    data = {"netspec": 1, "name": "M", "inputs": {"x": [1, 4]}, "layers": {"fc": {"type": "Lineer", "out_features": 4}}}
    with pytest.raises(netspec.SpecError) as info:
        netspec.validate(write_spec(yaml.safe_dump(data)))
    (diagnostic,) = info.value.errors
    assert diagnostic.code == "unknown-layer"
    assert diagnostic.hint is not None and diagnostic.hint.startswith("did you mean 'Linear'?")


def test_every_layer_type_is_in_the_schema() -> None:
    # each layer type is a definition whose `type` property is that constant
    definitions = json.loads(SCHEMA_FILE.read_text())["$defs"].values()
    types = {d.get("properties", {}).get("type", {}).get("const") for d in definitions}
    missing = [name for name in netspec.ops.LAYERS if name not in types]
    assert not missing, missing


# ---------------------------------------------------------------- a schema that teaches


def definitions() -> dict[str, Any]:
    defs: dict[str, Any] = json.loads(SCHEMA_FILE.read_text())["$defs"]
    return defs


def test_every_layer_and_op_argument_has_a_description() -> None:
    defs = definitions()
    owners = [(name, layer.args) for name, layer in netspec.ops.LAYERS.items()]
    owners += [(f"{name}_args", op.args) for name, op in netspec.ops.OPS.items() if f"{name}_args" in defs]
    missing = [f"{owner}.{arg.name}" for owner, args in owners for arg in args
               if not defs[owner]["properties"][arg.name].get("description", "").strip()]
    assert not missing, missing
    assert sum(len(args) for _, args in owners) > 250


def test_an_argument_shows_its_description_default_and_choices() -> None:
    prop = definitions()["Conv2d"]["properties"]["padding_mode"]
    assert prop["default"] == "zeros" and "padded" in prop["description"]
    assert ["zeros", "reflect", "replicate", "circular"] in [m.get("enum") for m in prop["anyOf"]]
    assert definitions()["Dropout"]["properties"]["p"]["default"] == 0.5


SPEC = {"netspec": 1, "name": "M", "inputs": {"x": [1, 1, 32, 32]}}
CONV = {"type": "Conv2d", "out_channels": 6, "kernel_size": 5}


@pytest.mark.parametrize(("data", "path", "named"), [
    ({"layers": {"conv": {"type": "Conv2d", "out_channels": 6, "kernel_sise": 5}}}, ["layers", "conv"], "kernel_sise"),
    ({"layers": {"conv": {**CONV, "strid": 2}}}, ["layers", "conv"], "strid"),
    ({"layers": {"conv": {**CONV, "out_channels": True}}}, ["layers", "conv", "out_channels"], "True"),
    ({"layers": {"conv": {**CONV, "padding_mode": 3}}}, ["layers", "conv", "padding_mode"], "3"),
    ({"layers": {"conv": {"type": "Conv2d", "out_channels": 6}}}, ["layers", "conv"], "kernel_size"),
    ({"layers": {"s": {"type": "Sequential", "layers": [CONV, {"type": "Linear", "out_feature": 3}]}}},
     ["layers", "s", "layers", 1], "out_feature"),
    ({"layers": {"g": {"layers": [{"type": "ReLU", "inplce": True}]}}}, ["layers", "g", "layers", 0], "inplce"),
    ({"blocks": {"B": {"inputs": {"x": [1]}, "layers": [{"type": "Linear", "out_feature": 3}]}}},
     ["blocks", "B", "layers", 0], "out_feature"),
    ({"layers": {"conv": CONV}, "forward": ["conv", {"reluu": None}]}, ["forward", 1], "reluu"),
    ({"layers": {"conv": CONV}, "forward": ["conv", {"max_pool2d": {"kernel_sise": 2}}]},
     ["forward", 1, "max_pool2d"], "kernel_sise"),
    ({"layers": {"conv": CONV}, "forward": "conv"}, ["forward"], "'conv'"),
    ({"layers": {"conv": 5}}, ["layers", "conv"], "5"),
])
def test_one_mistake_is_one_error_naming_it(data: dict[str, Any], path: list[Any], named: str) -> None:
    errors = list(validator().iter_errors({**SPEC, **data}))
    assert len(errors) == 1, [e.message for e in errors]
    (error,) = errors
    assert list(error.absolute_path) == path and named in error.message, error.message
    assert len(error.context) <= 3  # not "valid under none of 140 schemas", each listed (ajv lists them all)


def test_a_block_use_and_a_spec_that_extends_are_not_errors() -> None:
    data = {**SPEC, "layers": {"b": {"type": "MyBlock", "width": 4}, "g": {"layers": ["ReLU"]}, "l": ["ReLU"]}}
    assert not list(validator().iter_errors(data))
    assert not list(validator().iter_errors({"extends": "base.yaml", "vars": {"width": 4}}))


@pytest.mark.parametrize("path", sorted((ROOT / "specs").rglob("*.yaml")), ids=lambda p: p.stem)
def test_every_shipped_spec_names_the_schema_on_its_first_line(path: Path) -> None:
    first = path.read_text().splitlines()[0]
    prefix = "# yaml-language-server: $schema="
    assert first.startswith(prefix), first
    assert (path.parent / first[len(prefix):]).resolve() == SCHEMA_FILE


# ---------------------------------------------------------------- a real yaml-language-server session


def yaml_language_server(text: str, path: Path, timeout: float = 60.0) -> list[dict[str, Any]]:
    """Open ``text`` as ``path`` in ``yaml-language-server --stdio`` and return its settled diagnostics."""
    server = shutil.which("yaml-language-server")
    assert server
    proc = subprocess.Popen([server, "--stdio"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL)
    assert proc.stdin and proc.stdout
    stdin, stdout = proc.stdin, proc.stdout
    inbox: queue.Queue[dict[str, Any]] = queue.Queue()

    def read() -> None:
        while True:
            headers: dict[str, str] = {}
            while line := stdout.readline().decode().strip():
                key, _, value = line.partition(":")
                headers[key.lower()] = value.strip()
            if "content-length" not in headers:
                return
            inbox.put(json.loads(stdout.read(int(headers["content-length"]))))

    def send(message: dict[str, Any]) -> None:
        body = json.dumps({"jsonrpc": "2.0", **message}).encode()
        stdin.write(b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
        stdin.flush()

    threading.Thread(target=read, daemon=True).start()
    send({"id": 1, "method": "initialize", "params": {"processId": None, "rootUri": None, "capabilities": {
        "textDocument": {"publishDiagnostics": {}}, "workspace": {"configuration": True}}}})
    uri, published, quiet = path.as_uri(), None, time.monotonic()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            try:
                message = inbox.get(timeout=0.2)
            except queue.Empty:
                if published is not None and time.monotonic() - quiet > 2.0:
                    return list(published)
                continue
            if message.get("id") == 1 and "result" in message:
                send({"method": "initialized", "params": {}})
                settings = {"settings": {"yaml": {"validate": True}}}
                send({"method": "workspace/didChangeConfiguration", "params": settings})
                send({"method": "textDocument/didOpen", "params": {"textDocument": {
                    "uri": uri, "languageId": "yaml", "version": 1, "text": text}}})
            elif "id" in message and "method" in message:  # a request of the server's (configuration...)
                items = message.get("params", {}).get("items")
                send({"id": message["id"], "result": [{"validate": True} for _ in items] if items else None})
            elif message.get("method") == "textDocument/publishDiagnostics" and message["params"]["uri"] == uri:
                published, quiet = message["params"]["diagnostics"], time.monotonic()
        raise AssertionError("yaml-language-server published no diagnostics")
    finally:
        proc.kill()
        proc.wait()
        stdin.close()
        stdout.close()


needs_yaml_ls = pytest.mark.skipif(shutil.which("yaml-language-server") is None,
                                   reason="yaml-language-server is not installed (npm install -g yaml-language-server)")
TYPO_SPEC = f"""# yaml-language-server: $schema={SCHEMA_FILE.as_uri()}
netspec: 1
name: LeNet
inputs:
  x: [1, 1, 32, 32]
layers:
  conv: {{type: Conv2d, out_channels: 6, kernel_sise: 5}}
  act: ReLU
forward:
  - conv
  - act
"""


@needs_yaml_ls
def test_yaml_language_server_reports_one_diagnostic_for_a_typo(tmp_path: Path) -> None:
    (diagnostic,) = yaml_language_server(TYPO_SPEC, tmp_path / "typo.yaml")
    assert diagnostic["range"]["start"]["line"] == 6 and "kernel_sise" in diagnostic["message"]
    fixed = TYPO_SPEC.replace("kernel_sise", "kernel_size")
    assert yaml_language_server(fixed, tmp_path / "fixed.yaml") == []


@needs_yaml_ls
@pytest.mark.parametrize("path", [SPECS_DIR / "lenet.yaml", SPECS_DIR / "zoo" / "vgg11_bn.yaml"], ids=lambda p: p.stem)
def test_yaml_language_server_accepts_a_shipped_spec_through_its_modeline(path: Path) -> None:
    assert yaml_language_server(path.read_text(), path) == []


def test_a_misspelt_required_argument_is_one_diagnostic(write_spec) -> None:
    path = write_spec("netspec: 1\nname: M\ninputs: {x: [N, 1, 8, 8]}\n"
                      "layers:\n  conv: {type: Conv2d, out_channels: 6, kernel_sise: 5}\n")
    with pytest.raises(netspec.SpecError) as info:
        netspec.validate(path)
    assert [(d.code, d.span.line if d.span else 0, d.hint) for d in info.value.diagnostics] == [
        ("unknown-key", 5, "did you mean 'kernel_size'?")]
