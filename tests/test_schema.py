"""The JSON Schema is generated from the pydantic models and kept in sync; it
accepts every shipped spec and refuses what the models refuse."""

from __future__ import annotations

import json

import jsonschema
import pytest
import yaml

import netspec
from netspec import schema
from tests.conftest import ROOT, SHIPPED, spec_ids

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
    assert (diagnostic.code, diagnostic.hint) == ("unknown-layer", "did you mean 'Linear'?")


def test_every_layer_type_is_in_the_schema() -> None:
    # each layer type is a definition whose `type` property is that constant
    definitions = json.loads(SCHEMA_FILE.read_text())["$defs"].values()
    types = {d.get("properties", {}).get("type", {}).get("const") for d in definitions}
    missing = [name for name in netspec.ops.LAYERS if name not in types]
    assert not missing, missing
