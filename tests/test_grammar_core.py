"""The grammar checked by pydantic-core alone: the same answers and errors as the models it is made from.

netspec.frontend.schema validates with the core schema pydantic generates from netspec.frontend.models, kept on
disk as data.  These tests hold the two side by side (every shipped spec, every hostile case and a few hundred
broken variants give the same values and the same errors), and check the cache: written when missing, read
when present, ignored when damaged, never code.
"""

from __future__ import annotations

import copy
import functools
import json
import os
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, TypeAdapter, ValidationError

from netspec.errors import SpecError
from netspec.frontend import expand, models, schema, source, tags
from netspec.ops import Registry, registry

ROOT = Path(__file__).resolve().parent.parent
SPECS = sorted((ROOT / "specs").rglob("*.yaml"))
HOSTILE = sorted((ROOT / "tests" / "hostile").glob("*.yaml"))


def _reference() -> TypeAdapter[Any]:
    """The models' own validator: what the grammar gave before it was read from a core schema."""
    return _adapter(registry())


@functools.cache
def _adapter(of: Registry) -> TypeAdapter[Any]:
    grammar = models.model_grammar(of)
    grammar.core_schema()  # builds the derived models of a plugin grammar
    return TypeAdapter(grammar.spec)


def _load(path: Path) -> Any:
    """The data the grammar sees: the file with its extends and imports read in."""
    try:
        src = source.load_file(path)
        return expand.expand(src, expand.reader_for(str(path))).data
    except SpecError:  # a hostile file that does not even read or expand: nothing for the grammar
        return None


def _plain(value: object) -> object:
    """Models and nodes alike as (class name, keys written, values), recursively."""
    if isinstance(value, (BaseModel, schema.Node)):
        return (type(value).__name__, sorted(value.model_fields_set),
                {k: _plain(v) for k, v in {**value.__dict__, **(value.model_extra or {})}.items()})
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value).__name__, [_plain(v) for v in value]
    return type(value).__name__, value


def _outcome(check: Any, data: Any) -> object:
    try:
        return "ok", _plain(check(data))
    except ValidationError as exc:
        return "errors", exc.errors(include_url=False)


def _compare(data: Any) -> None:
    expected = _outcome(_reference().validate_python, data)
    assert _outcome(schema.grammar().whole().validate_python, data) == expected
    assert _outcome(schema.grammar().validate, data) == expected  # narrowed first when it can be


@pytest.mark.parametrize("path", SPECS + HOSTILE, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_spec_and_hostile_case_gets_what_the_models_give(path: Path) -> None:
    data = _load(path)
    if isinstance(data, dict):
        _compare(data)


WRONG: list[Any] = ["x", "4 *", -1, 0, 2**70, 1.5, float("nan"), True, None, [], [1, 2, 3, 4, 5], {}, {"a": 1}]


def _mutations(data: dict[str, Any], rng: random.Random, count: int) -> list[dict[str, Any]]:
    """Broken copies of a spec: one value somewhere swapped for a wrong one, a key misspelt or dropped."""
    places: list[tuple[Any, Any]] = []
    stack: list[Any] = [data]
    while stack:
        node = stack.pop()
        keys = list(node) if isinstance(node, dict) else range(len(node)) if isinstance(node, list) else []
        for key in keys:
            places.append((node, key))
            stack.append(node[key])
    out = []
    for _ in range(count):
        broken = copy.deepcopy(data)
        node, key = rng.choice(places)
        # the same place in the copy: walk the path again
        target = _find(broken, data, node)
        if target is None:
            continue
        action = rng.randrange(3)
        if action == 0 or not isinstance(target, dict):
            target[key] = copy.deepcopy(rng.choice(WRONG))
        elif action == 1:
            target[f"{key}x"] = target.pop(key)
        else:
            del target[key]
        out.append(broken)
    return out


def _find(copied: Any, original: Any, wanted: Any) -> Any:
    if original is wanted:
        return copied
    items = original.items() if isinstance(original, dict) else enumerate(original) if isinstance(
        original, list) else ()
    for key, value in items:
        found = _find(copied[key], value, wanted)
        if found is not None:
            return found
    return None


@pytest.mark.parametrize("path", [p for p in SPECS if p.parent.name in ("specs", "zoo")][:24],
                         ids=lambda p: p.stem)
def test_broken_variants_give_the_errors_the_models_give(path: Path) -> None:
    data = _load(path)
    assert isinstance(data, dict)
    for broken in _mutations(data, random.Random(path.stem), 12):
        _compare(broken)


def test_the_narrowed_grammar_gives_what_the_whole_grammar_gives() -> None:
    for path in SPECS:
        data = _load(path)
        found = schema._used_tags(data)
        assert found is not None, path
        whole = schema._whole_validator().validate_python(data)
        assert _plain(schema._narrowed_validator(*found).validate_python(data)) == _plain(whole)


def test_nodes_dump_as_the_models_do() -> None:
    data = {"netspec": 1, "name": "N", "inputs": {"x": [2, 3]},
            "params": {"w": {"shape": [3], "init": {"uniform": {"a": -1.0, "b": 1.0}}}},
            "buffers": {"b": {"shape": [3], "init": "ones"}},
            "layers": {"fc": {"type": "Linear", "out_features": 4, "if": True}, "seq": ["ReLU"]},
            "forward": ["x = fc(x)", {"relu": {"inplace": False}}, "return x"]}
    node = schema.validate(data)
    model = _reference().validate_python(data)
    # (the whole spec is left out: pydantic's own dump warns on the callable discriminators)
    for ours, theirs in ((node.params["w"], model.params["w"]), (node.params["w"].init, model.params["w"].init),
                         (node.forward[1], model.forward[1]), (node.layers["fc"], model.layers["fc"])):
        assert ours.model_dump() == theirs.model_dump()
        assert ours.model_dump(exclude_unset=True, by_alias=True) == theirs.model_dump(exclude_unset=True,
                                                                                        by_alias=True)
        assert list(type(ours).model_fields) == list(type(theirs).model_fields)
    assert isinstance(node, schema.Spec) and isinstance(node.params["w"], schema.ParamItem)
    assert node.layers["fc"].if_ is True and node.layers["fc"].model_fields_set == {"type", "out_features", "if_"}


# ---------------------------------------------------------------- the cache on disk

PROBE = (
    "import sys\n"
    "from netspec import api\n"
    "from netspec.frontend import schema\n"
    "api.validate(sys.argv[1])\n"
    "try:\n"
    "    api.validate(text='netspec: 1\\nname: B\\ninputs: {x: [2]}\\n'\n"
    "                      'layers: {fc: {type: Linear, out_feature: 2}}\\n')\n"
    "except Exception as exc:\n"
    "    print(str(exc).replace(chr(10), ' | '))\n"
    "print('models' if 'netspec.frontend.models' in sys.modules else 'no models')\n"
)


def _probe(cache: Path) -> list[str]:
    env = {**os.environ, "NETSPEC_CACHE_DIR": str(cache)}
    done = subprocess.run([sys.executable, "-c", PROBE, str(ROOT / "specs" / "alexnet.yaml")], capture_output=True,
                          text=True, check=True, cwd=ROOT, env=env, timeout=300)
    return done.stdout.splitlines()


def test_the_cache_is_written_once_then_read_and_a_damaged_one_is_ignored(tmp_path: Path) -> None:
    cold = _probe(tmp_path)
    assert cold[-1] == "models" and "unknown key 'out_feature'" in cold[0]
    (written,) = tmp_path.glob("grammar-*.json")
    warm = _probe(tmp_path)
    assert warm == [*cold[:-1], "no models"]  # the same diagnostics, and pydantic's models never built
    text = written.read_text(encoding="utf-8")
    for damaged in (text[: len(text) // 2], "", "\x00garbage", text.replace('"type":"model"', '"type":"modle"', 1),
                    json.dumps({"format": 0})):
        written.write_text(damaged, encoding="utf-8")
        assert _probe(tmp_path)[:-1] == cold[:-1]
        assert written.read_text(encoding="utf-8") != damaged or damaged == text  # made again


def test_the_cache_holds_data_and_names_only_the_grammars_functions(tmp_path: Path) -> None:
    _probe(tmp_path)
    (written,) = tmp_path.glob("grammar-*.json")
    named: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "$fn" in node:
                named.add(node["$fn"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for line in written.read_text(encoding="utf-8").splitlines():
        walk(json.loads(line))  # every line is JSON
    assert named == {*tags.FUNCTIONS, tags.LAYER_TAG}


def test_a_cache_names_nothing_but_the_grammars_functions() -> None:
    data = schema.grammar()._load()
    decoder = schema._Decoder(schema.grammar()._classes, schema.grammar().tag, None)
    with pytest.raises(KeyError):
        decoder.value({"type": "function-plain", "function": {"type": "no-info", "function": {"$fn": "os.system"}}})
    assert data["format"] == schema._FORMAT
