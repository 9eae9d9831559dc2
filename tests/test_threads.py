"""Threads: diagnostics name their own spec, and plugin layers can be added while others validate.

Nothing in a compile lives at module level (each stage is handed the source it reports into); a plugin
makes a new registry, with a grammar of its own, and never changes the one other threads are reading.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from types import MappingProxyType

from torch import nn

import netspec
from netspec import plugins
from netspec.errors import SpecError
from netspec.frontend import schema
from netspec.ops import LAYERS, LayerType, Registry, registry

# A block used N times, the last use wrong in one of three ways (each reported at the use, a span the
# elaborator looks up in the program's source), written below a number of padding lines so that each
# spec's error is at its own line.
BLOCK = """\
netspec: 1
name: Net{index}
inputs:
  x: [N, 8]
blocks:
  Dense:
    args: {{c: int, k: int}}
    inputs: {{x: [N, c]}}
    layers: {{fc: {{type: Linear, out_features: k}}}}
layers:
{padding}  last: {last}
"""
USES = {
    "missing-key": "{type: Dense}",  # k has no value: needs argument 'k'
    "bad-type": "{type: Dense, k: 2.5}",
    "unknown-key": "{type: Dense, k: 2, kk: 3}",
}


def _spec(index: int, code: str | None) -> str:
    padding = "".join(f"  pad{j}: {{type: Dense, k: 8}}\n" for j in range(index * 3))
    last = USES[code] if code else "{type: Dense, k: 4}"
    return BLOCK.format(index=index, padding=padding, last=last)


def _line_of_last(text: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if line.startswith("  last:"))


def test_each_threads_diagnostics_name_its_own_file_and_line(tmp_path: Path) -> None:
    codes = [*USES, None, None, None]  # three invalid specs, three valid ones, elaborated at the same time
    files = []
    for index, code in enumerate(codes):
        path = tmp_path / f"spec{index}.yaml"
        path.write_text(_spec(index, code))
        files.append((path, code, _line_of_last(path.read_text())))
    rounds = 50
    start = threading.Barrier(len(files))
    wrong: list[str] = []
    failures: list[BaseException] = []

    def run(path: Path, code: str | None, line: int) -> None:
        text = path.read_text()
        try:
            for round_ in range(rounds):
                if round_ % 10 == 0:
                    start.wait()
                # a new text each round (a trailing comment): the compile cache answers nothing
                try:
                    netspec.validate(text=f"{text}# round {round_}\n", filename=str(path))
                except SpecError as exc:
                    found = [(d.code, d.span.file if d.span else None, d.span.line if d.span else None)
                             for d in exc.diagnostics]
                    if code is None or found[:1] != [(code, str(path), line)] or any(
                            f != str(path) for _, f, _ in found):
                        wrong.append(f"{path.name} round {round_}: {found}")
                else:
                    if code is not None:
                        wrong.append(f"{path.name} round {round_}: accepted")
        except BaseException as exc:  # reported below: an exception in a thread fails nothing by itself
            failures.append(exc)

    threads = [threading.Thread(target=run, args=entry) for entry in files]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # switch threads often: a race shows in every run, not now and then
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    assert not failures, failures
    assert wrong == [], f"{len(wrong)} wrong of {rounds * len(files)}: {wrong[:5]}"


ROUNDS, PLUGINS = 30, 12
GOOD = ("netspec: 1\nname: Net{i}\ninputs:\n  x: [N, 6]\nlayers:\n"
        "  fc: {{type: Linear, out_features: {i}}}\n  act: ReLU\n")
BAD = "netspec: 1\nname: Bad\ninputs:\n  x: [N, 6]\nlayers:\n  fc: {{type: Lineer, out_features: {i}}}\n"


def test_a_plugin_makes_a_new_registry_and_grammar(fresh_registry: Registry) -> None:
    # Copy-on-write: the tables a registry or grammar holds are never changed, so they are read without locks.
    for table in (schema.LAYER_MODELS, schema.TAG_MODELS):
        assert isinstance(table, MappingProxyType)
    before, grammar = registry(), schema.grammar()
    plug = LayerType(name="Plug", family="plugin", args=(), rule=lambda args, inputs: (inputs[0], {}))
    schema.add_layers([(plug, "here:1")])
    assert "Plug" in registry().layers and "Plug" in LAYERS and "Plug" in schema.grammar().layer_models
    assert "Plug" not in before.layers and "Plug" not in grammar.layer_models and schema.grammar() is not grammar


def test_registering_plugin_layers_while_other_threads_validate(fresh_registry: Registry) -> None:
    failures: list[str] = []
    done = threading.Event()

    def validating(worker: int) -> None:
        try:
            i = 0
            while not done.is_set() or i < ROUNDS:
                i += 1
                netspec.validate(text=GOOD.format(i=i + 1000 * worker), filename=f"good{worker}.yaml")
                try:
                    netspec.validate(text=BAD.format(i=i + 1000 * worker), filename=f"bad{worker}.yaml")
                    failures.append("accepted a misspelt layer type")
                except SpecError as exc:
                    d = exc.diagnostics[0]
                    if (d.code, d.span.file if d.span else None, d.span.line if d.span else None) != (
                            "unknown-layer", f"bad{worker}.yaml", 6):
                        failures.append(f"wrong diagnostic {d}")
                for _ in range(20):  # what every compile reads for its cache key: the registry, walked
                    plugins.loaded()
                schema.json_schema()
        except BaseException as exc:  # reported below: an exception in a thread fails nothing by itself
            failures.append(f"{type(exc).__name__}: {exc}")

    def registering() -> None:
        try:
            for n in range(PLUGINS):
                cls = type(f"Plug{n}", (nn.Module,), {"__module__": "race_plugins", "forward": lambda self, x: x})
                netspec.layer()(cls)
                text = f"netspec: 1\nname: P{n}\ninputs:\n  x: [N, 6]\nlayers:\n  p: Plug{n}\n"
                netspec.validate(text=text)  # the new type is in the grammar at once
        except BaseException as exc:
            failures.append(f"registering: {type(exc).__name__}: {exc}")
        finally:
            done.set()

    threads = [threading.Thread(target=validating, args=(w,)) for w in range(4)]
    threads.append(threading.Thread(target=registering))
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # switch threads often: a race shows in every run, not now and then
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    assert len([n for n in plugins.loaded() if n.startswith("Plug")]) == PLUGINS, plugins.loaded()
    assert "Plug0" in schema.json_schema()["$defs"], "the grammar was rebuilt with the plugins"
    assert failures == [], failures[:5]
