"""Pretrained weights: ``load(spec, weights=FILE)`` for PyTorch state_dict files (netspec/backend/weights.py)
and a spec's named weights (its ``weights:`` section: netspec/middle/named_weights.py) read through torch.hub's
cache (netspec/backend/pretrained.py), the zoo's torchvision entries included.

Offline throughout: every test runs with TORCH_HOME in a temporary directory and torch.hub's download replaced
(by a failure, or by a copy of a local file where a download is the subject).  Zoo weights are state_dicts saved
from netspec-built modules, placed in the cache under the published file names; densenet121's with the
old-style keys of the published file, so its renames are what make it load.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

import netspec
from netspec.backend import pretrained
from netspec.backend import weights as checkpoint
from netspec.middle import ir, named_weights
from tests.conftest import run_cli

ZOO = ["alexnet", "resnet18", "resnet50", "vgg16", "vgg11_bn", "mobilenet_v2", "densenet121", "vit_b_16"]
# torchvision's weights of each zoo model (torchvision.models.*_Weights), and its DEFAULT
PUBLISHED = {
    "alexnet": {"IMAGENET1K_V1": "alexnet-owt-7be5be79.pth"},
    "resnet18": {"IMAGENET1K_V1": "resnet18-f37072fd.pth"},
    "resnet50": {"IMAGENET1K_V1": "resnet50-0676ba61.pth", "IMAGENET1K_V2": "resnet50-11ad3fa6.pth"},
    "vgg16": {"IMAGENET1K_V1": "vgg16-397923af.pth", "IMAGENET1K_FEATURES": "vgg16_features-amdegroot-88682ab5.pth"},
    "vgg11_bn": {"IMAGENET1K_V1": "vgg11_bn-6002323d.pth"},
    "mobilenet_v2": {"IMAGENET1K_V1": "mobilenet_v2-b0353104.pth", "IMAGENET1K_V2": "mobilenet_v2-7ebf99e0.pth"},
    "densenet121": {"IMAGENET1K_V1": "densenet121-a639ec97.pth"},
    "vit_b_16": {"IMAGENET1K_V1": "vit_b_16-c867db91.pth", "IMAGENET1K_SWAG_E2E_V1": "vit_b_16_swag-9ac1b537.pth",
                 "IMAGENET1K_SWAG_LINEAR_V1": "vit_b_16_lc_swag-4e70ced5.pth"},
}
DEFAULTS = {"resnet50": "IMAGENET1K_V2", "mobilenet_v2": "IMAGENET1K_V2"}

SMALL = """\
netspec: 1
name: Small
vars: {width: 8, classes: 3}
inputs: {x: [N, width]}
layers:
  body: {type: Linear, out_features: 16}
  norm: BatchNorm1d
  act: ReLU
  head: {type: Linear, out_features: classes}
"""


def named_spec(url: str, hash_: str, extra: str = "") -> str:
    return SMALL + f"""weights:
  V1:
    url: {url}
    hash: {hash_}
    vars: {{classes: 3}}
    meta: {{num_params: 211, categories: [a, b, c]}}
{extra}  DEFAULT: V1
"""


@pytest.fixture(autouse=True)
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """torch.hub's cache in a temporary TORCH_HOME, and no network: a download fails unless a test says."""
    home = tmp_path / "torch-home"
    monkeypatch.setenv("TORCH_HOME", str(home))
    monkeypatch.setattr(torch.hub, "_hub_dir", None)  # set_dir() from elsewhere would win over TORCH_HOME

    def offline(url: str, dst: str, hash_prefix: str | None = None, progress: bool = True) -> None:
        raise OSError(f"network disabled in tests ({url})")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    checkpoints = home / "hub" / "checkpoints"
    assert pretrained.cache_dir() == str(checkpoints)
    return checkpoints


def serving(monkeypatch: pytest.MonkeyPatch, content: bytes) -> list[str]:
    """Make torch.hub's download write ``content`` (a stand-in for the network); the URLs asked for."""
    asked: list[str] = []

    def download(url: str, dst: str, hash_prefix: str | None = None, progress: bool = True) -> None:
        asked.append(url)
        Path(dst).write_bytes(content)

    monkeypatch.setattr(torch.hub, "download_url_to_file", download)
    return asked


def codes(exc: pytest.ExceptionInfo[netspec.SpecError]) -> list[str]:
    return [d.code for d in exc.value.diagnostics]


def same_state(a: torch.nn.Module, b: torch.nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb)
    for key in sa:
        assert torch.equal(sa[key], sb[key]), key


def trained(spec: str = SMALL, seed: int = 1, **var_values: Any) -> torch.nn.Module:
    """A module with weights no fresh build has: seeded, and BatchNorm statistics moved."""
    torch.manual_seed(seed)
    module = netspec.loads(spec) if "\n" in spec else netspec.load(spec, **var_values)
    with torch.no_grad():
        for name, buffer in module.named_buffers():
            if name.endswith("running_mean"):
                buffer.uniform_(-1, 1)
    return module


# ---------------------------------------------------------------- state_dict files


def test_a_file_named_like_weights_is_loaded_by_its_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = trained()
    monkeypatch.chdir(tmp_path)
    torch.save(source.state_dict(), "best")
    with pytest.raises(netspec.SpecError) as exc:
        netspec.load(text=SMALL, weights="best")
    assert exc.value.diagnostics[0].hint == "to load the file 'best', write its path: ./best"
    same_state(netspec.load(text=SMALL, weights="./best"), source)


@pytest.mark.parametrize("suffix", [".pt", ".pth", ""])
def test_a_state_dict_file_loads_strictly(tmp_path: Path, suffix: str) -> None:
    source = trained()
    path = tmp_path / f"small{suffix}"
    torch.save(source.state_dict(), path)
    same_state(netspec.load(text=SMALL, weights=path), source)
    spec = tmp_path / "small.yaml"
    spec.write_text(SMALL, encoding="utf-8")
    same_state(netspec.load(spec, weights=str(path)), source)


def test_the_legacy_pickle_format_loads_too(tmp_path: Path) -> None:
    """torchvision's older files (densenet121's, 2017) predate torch.save's zip: read without mmap."""
    source = trained()
    path = tmp_path / "legacy.pth"
    torch.save(source.state_dict(), path, _use_new_zipfile_serialization=False)
    assert path.read_bytes()[:1] == b"\x80"
    same_state(netspec.load(text=SMALL, weights=path), source)


def test_a_safetensors_file_loads_as_before(tmp_path: Path) -> None:
    st = pytest.importorskip("safetensors.torch", reason="the hf extra: pip install 'netspec[hf]'")
    source = trained()
    path = tmp_path / "small.safetensors"
    st.save_file(source.state_dict(), str(path))
    same_state(netspec.load(text=SMALL, weights=path), source)


def test_each_mismatch_is_a_diagnostic_naming_the_key_and_both_shapes(tmp_path: Path) -> None:
    state = trained().state_dict()
    state["head.weight"] = torch.zeros(5, 16)  # shape
    del state["body.bias"]  # missing
    state["extra.weight"] = torch.zeros(2)  # unexpected
    path = tmp_path / "bad.pth"
    torch.save(state, path)
    with pytest.raises(netspec.SpecError) as exc:
        netspec.load(text=SMALL, weights=path)
    found = {d.code: d.message for d in exc.value.diagnostics}
    assert sorted(codes(exc)) == ["missing-weight", "unexpected-weight", "weight-shape-mismatch"]
    assert found["weight-shape-mismatch"] == ("'head.weight': the module expects shape (3, 16), the checkpoint holds "
                                              "(5, 16)")
    assert found["missing-weight"] == "the checkpoint holds no tensor 'body.bias' (the module's is (16))"
    assert found["unexpected-weight"] == "the checkpoint's tensor 'extra.weight' (2) is not in the module's state_dict"
    assert all(d.span is not None and d.span.file == str(path) for d in exc.value.diagnostics)


def test_nothing_is_copied_when_a_key_is_wrong(tmp_path: Path) -> None:
    state = trained().state_dict()
    state["head.weight"] = torch.zeros(5, 16)
    path = tmp_path / "bad.pt"
    torch.save(state, path)
    module = netspec.loads(SMALL)
    before = {k: v.clone() for k, v in module.state_dict().items()}
    with pytest.raises(netspec.SpecError):
        checkpoint.load_weights(module, path)
    for key, value in module.state_dict().items():
        assert torch.equal(value, before[key]), key


class NotWeights:
    """What a full pickle may hold and a weights-only load refuses: an object of a class."""

    def __init__(self) -> None:
        self.payload = "runs on unpickling in a full load"


@pytest.mark.parametrize(("content", "message"), [
    (b"not a checkpoint at all", "is not a readable PyTorch file: it is neither torch.save's zip nor a pickle"),
    (b"", "is not a readable PyTorch file: it is neither torch.save's zip nor a pickle"),
    (b"PK\x03\x04truncated zip", "is not a readable PyTorch file: "),
    (b"\x80\x02truncated pickle", "is not a readable PyTorch file: "),
])
def test_a_corrupt_file_is_one_diagnostic(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "corrupt.pth"
    path.write_bytes(content)
    with pytest.raises(netspec.SpecError) as exc:
        netspec.load(text=SMALL, weights=path)
    assert codes(exc) == ["weights-unreadable"]
    assert message in exc.value.diagnostics[0].message


def test_a_pickle_that_is_not_weights_only_is_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / "model.pt"
    torch.save({"model": NotWeights()}, path)
    with pytest.raises(netspec.SpecError) as exc:
        netspec.load(text=SMALL, weights=path)
    (diagnostic,) = exc.value.diagnostics
    assert diagnostic.code == "weights-unreadable"
    assert diagnostic.message.endswith("holds more than weights: torch.load(weights_only=True) refuses it: "
                                       "Unsupported global: GLOBAL tests.test_pretrained.NotWeights")
    assert "torch.save(model.state_dict(), path)" in (diagnostic.hint or "")
    legacy = tmp_path / "legacy.pth"  # the old pickle format, not the zip
    legacy.write_bytes(pickle.dumps({"model": NotWeights()}, protocol=2))
    with pytest.raises(netspec.SpecError) as exc:
        netspec.load(text=SMALL, weights=legacy)
    assert codes(exc) == ["weights-unreadable"]


def test_a_whole_module_or_a_training_checkpoint_is_not_a_state_dict(tmp_path: Path) -> None:
    listed = tmp_path / "list.pt"
    torch.save([torch.zeros(2)], listed)
    with pytest.raises(netspec.SpecError) as exc:
        netspec.load(text=SMALL, weights=listed)
    assert exc.value.diagnostics[0].message.endswith("holds a list, not a state_dict (a mapping of names to tensors)")
    wrapped = tmp_path / "epoch3.ckpt"
    torch.save({"epoch": 3, "state_dict": trained().state_dict()}, wrapped)
    with pytest.raises(netspec.SpecError) as exc:
        netspec.load(text=SMALL, weights=wrapped)
    (diagnostic,) = exc.value.diagnostics
    assert diagnostic.message.endswith("is not a state_dict: entry 'epoch' holds a int, not a tensor")
    assert diagnostic.hint == "the state_dict may be the entry 'state_dict' of a training checkpoint: save " \
                              "checkpoint['state_dict'] alone"


def test_a_missing_file_is_said(tmp_path: Path) -> None:
    with pytest.raises(netspec.SpecError) as exc:
        netspec.load(text=SMALL, weights=tmp_path / "absent.pth")
    assert exc.value.diagnostics[0].message.endswith("absent.pth: no such file")


def test_an_old_checkpoint_without_batchnorm_counters_loads(tmp_path: Path) -> None:
    state = trained().state_dict()
    del state["norm.num_batches_tracked"]  # saved before PyTorch 0.4.1 had it
    path = tmp_path / "old.pth"
    torch.save(state, path)
    loaded = netspec.load(text=SMALL, weights=path)
    assert int(loaded.state_dict()["norm.num_batches_tracked"]) == 0
    assert torch.equal(loaded.state_dict()["norm.running_mean"], state["norm.running_mean"])


def test_on_meta_only_the_keys_and_shapes_are_checked(tmp_path: Path) -> None:
    path = tmp_path / "small.pt"
    torch.save(trained().state_dict(), path)
    module = netspec.load(text=SMALL, weights=path, device="meta")
    assert all(t.is_meta for t in module.state_dict().values())


# ---------------------------------------------------------------- named weights in a spec


def test_named_weights_resolve_to_plain_data() -> None:
    spec = named_spec("https://example.org/models/small-0123abcd.pth", "0123abcd")
    entries = netspec.named_weights(text=spec)
    assert list(entries) == ["V1", "DEFAULT"]
    entry = entries["V1"]
    assert entries["DEFAULT"] is entry
    assert (entry.name, entry.file, entry.hash, entry.vars) == ("V1", "small-0123abcd.pth", "0123abcd", {"classes": 3})
    assert entry.meta == {"num_params": 211} and entry.categories == ("a", "b", "c")


def test_a_named_weight_downloads_into_the_cache_with_its_hash_checked(tmp_path: Path, hub: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    source = trained()
    saved = tmp_path / "published.pth"
    torch.save(source.state_dict(), saved)
    content = saved.read_bytes()
    digest = hashlib.sha256(content).hexdigest()
    url = f"https://example.org/models/small-{digest[:8]}.pth"
    asked = serving(monkeypatch, content)
    spec = named_spec(url, digest)  # the whole SHA-256
    same_state(netspec.load(text=spec, weights="DEFAULT"), source)
    assert asked == [url]
    assert (hub / f"small-{digest[:8]}.pth").read_bytes() == content
    assert sorted(os.listdir(hub)) == [f"small-{digest[:8]}.pth"]  # no partial file left
    same_state(netspec.load(text=spec, weights="V1"), source)  # from the cache: no second download
    assert asked == [url]


def test_a_download_whose_hash_differs_is_refused_and_not_kept(tmp_path: Path, hub: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    serving(monkeypatch, b"PK\x03\x04 a file someone swapped in")
    spec = named_spec("https://example.org/models/small-0123abcd.pth", "0123abcd")
    with pytest.raises(netspec.SpecError) as exc:
        netspec.load(text=spec, weights="V1")
    (diagnostic,) = exc.value.diagnostics
    assert diagnostic.code == "weights-hash-mismatch"
    assert "not the 0123abcd weights 'V1' declare" in diagnostic.message
    assert diagnostic.span is not None and diagnostic.span.line == 12  # the entry in the spec
    assert not hub.exists() or os.listdir(hub) == []


def test_offline_without_the_file_says_where_to_put_it(hub: Path) -> None:
    spec = named_spec("https://example.org/models/small-0123abcd.pth", "0123abcd")
    with pytest.raises(netspec.SpecError) as exc:
        netspec.load(text=spec, weights="V1")
    (diagnostic,) = exc.value.diagnostics
    assert diagnostic.code == "weights-download-failed"
    assert "network disabled in tests" in diagnostic.message
    assert str(hub / "small-0123abcd.pth") in (diagnostic.hint or "")


def test_an_unknown_name_offers_the_closest() -> None:
    spec = named_spec("https://example.org/models/small-0123abcd.pth", "0123abcd")
    with pytest.raises(netspec.SpecError) as exc:
        netspec.load(text=spec, weights="v1")
    (diagnostic,) = exc.value.diagnostics
    assert (diagnostic.code, diagnostic.message) == ("unknown-weights", "model Small has no weights named 'v1'")
    assert diagnostic.hint == "did you mean 'V1'?"
    with pytest.raises(netspec.SpecError) as exc:
        netspec.load(text=SMALL, weights="IMAGENET1K_V1")
    assert "no `weights:` section" in (exc.value.diagnostics[0].hint or "")


def test_weights_trained_with_other_vars_are_refused_before_building() -> None:
    spec = named_spec("https://example.org/models/small-0123abcd.pth", "0123abcd")
    with pytest.raises(netspec.SpecError) as exc:
        netspec.load(text=spec, weights="V1", classes=10)
    (diagnostic,) = exc.value.diagnostics
    assert diagnostic.code == "weights-vars-mismatch"
    assert diagnostic.message == "weights 'V1' were trained with classes=3, this model has classes=10"


def test_renames_are_plain_data_matched_by_segment() -> None:
    spec = named_spec("https://example.org/m-0123abcd.pth", "0123abcd", extra="""\
  OLD:
    url: https://example.org/old-0123abcd.pth
    hash: 0123abcd
    renames:
      "features.{block}.{layer}.norm.{n}.{p}": "features.{block}.{layer}.norm{n}.{p}"
      "pre{x}post.z": "z.{x}"
""")
    renames = netspec.named_weights(text=spec)["OLD"].renames
    rename = named_weights.rename
    assert rename("features.denseblock1.denselayer2.norm.1.weight", renames) == \
        "features.denseblock1.denselayer2.norm1.weight"
    assert rename("features.denseblock1.denselayer2.norm.1.running_var", renames) == \
        "features.denseblock1.denselayer2.norm1.running_var"
    assert rename("features.norm5.weight", renames) == "features.norm5.weight"  # no match: unchanged
    assert rename("features.a.b.conv.1.weight", renames) == "features.a.b.conv.1.weight"
    assert rename("preABCpost.z", renames) == "z.ABC"
    assert rename("prepost.z", renames) == "prepost.z"  # a {name} matches at least one character
    long_key = ".".join(["x" * 50] * 200)  # linear: no pattern can make a key costly
    assert rename(long_key, renames) == long_key


def test_renames_that_merge_two_tensors_are_refused(tmp_path: Path, hub: Path) -> None:
    state = trained().state_dict()
    spec = named_spec("https://example.org/models/small-0123abcd.pth", "0123abcd", extra="""\
  MERGED:
    url: https://example.org/models/merged-0123abcd.pth
    hash: 0123abcd
    renames: {"{a}.weight": "head.weight"}
""")
    hub.mkdir(parents=True)
    torch.save(state, hub / "merged-0123abcd.pth")
    with pytest.raises(netspec.SpecError) as exc:
        netspec.load(text=spec, weights="MERGED")
    (diagnostic,) = exc.value.diagnostics
    assert diagnostic.code == "bad-weights"
    assert diagnostic.message.endswith("one name 'head.weight': 'body.weight' and 'norm.weight'")


@pytest.mark.parametrize(("entry", "code", "message"), [
    ("url: http://example.org/m-0123abcd.pth\n    hash: 0123abcd", "bad-weights",
     "expected an https:// URL, found 'http://example.org/m-0123abcd.pth'"),
    ("url: file:///etc/passwd\n    hash: 0123abcd", "bad-weights", "expected an https:// URL, found 'file:///etc/passwd'"),
    ("url: 'https://exa mple.org/m.pth'\n    hash: 0123abcd", "bad-weights", None),
    ("url: https://example.org/m-0123abcd.pth\n    hash: 0123abcz", "bad-weights",
     "expected the SHA-256 in lowercase hex, or its first 8 or more digits, found '0123abcz'"),
    ("url: https://example.org/m-0123abcd.pth\n    hash: '0123'", "bad-weights", None),
    ("url: https://example.org/m-0123abcd.pth\n    hash: 89abcdef", "bad-weights",
     "the file name carries the hash prefix '0123abcd', but hash: is '89abcdef'"),
    ("url: https://example.org/\n    hash: 0123abcd", "bad-weights",
     "the URL's path does not end in a plain file name: 'https://example.org/'"),
    ("url: https://example.org/..\n    hash: 0123abcd", "bad-weights", None),
    ("url: https://example.org/m.pth\n    hash: 0123abcd\n    renames: {'(.*)+': 'x'}", "bad-weights",
     "expected a key pattern (dotted names, at most one {name} in each), found '(.*)+'"),
    ("url: https://example.org/m.pth\n    hash: 0123abcd\n    renames: {'a.{x}{y}': 'x'}", "bad-weights", None),
    ("url: https://example.org/m.pth\n    hash: 0123abcd\n    renames: {'a..b': 'x'}", "bad-weights", None),
    ("url: https://example.org/m.pth\n    hash: 0123abcd\n    renames: {'a.{x}': 'b.{y}'}", "bad-weights",
     "the rename's target uses {y}, which its pattern 'a.{x}' does not bind"),
    ("url: https://example.org/m.pth\n    hash: 0123abcd\n    renames: {'{x}.{x}': 'b.{x}'}", "bad-weights",
     "the rename pattern '{x}.{x}' binds a {name} twice"),
    ("url: https://example.org/m.pth\n    hash: 0123abcd\n    vars: {clases: 3}", "unknown-var",
     "weights 'W' set var 'clases', which the spec does not have"),
    ("url: https://example.org/m.pth\n    hash: 0123abcd\n    meta: {categories: imagenet}", "bad-weights",
     "categories: names no shipped list: 'imagenet'"),
    ("url: https://example.org/m.pth\n    hash: 0123abcd\n    meta: {run: {__import__: os}}", "bad-weights",
     "meta's keys are short names (letters, digits, _ @ . -), found '__import__'"),
    ("url: https://example.org/m.pth\n    hash: 0123abcd\n    meta: {a: {b: {c: {d: 1}}}}", "bad-type", None),
])
def test_hostile_entries_are_refused_at_their_line(entry: str, code: str, message: str | None) -> None:
    spec = SMALL + f"weights:\n  W:\n    {entry}\n"
    with pytest.raises(netspec.SpecError) as exc:
        netspec.compile_spec(text=spec)
    assert code in codes(exc), exc.value.diagnostics
    if message is not None:
        assert message in [d.message for d in exc.value.diagnostics]
    assert all(d.span is not None and d.span.line >= 9 for d in exc.value.diagnostics)


def test_an_alias_must_name_an_entry() -> None:
    spec = named_spec("https://example.org/m-0123abcd.pth", "0123abcd", extra="  LATEST: V2\n")
    with pytest.raises(netspec.SpecError) as exc:
        netspec.compile_spec(text=spec)
    (diagnostic,) = exc.value.diagnostics
    assert (diagnostic.code, diagnostic.hint) == ("unknown-weights", "name one of: V1")
    assert diagnostic.message == "'LATEST' names weights 'V2', which is no entry"


def test_a_rename_pattern_past_the_limits_is_refused() -> None:
    many = "\n".join(f"      r{i}.{{a}}: s{i}.{{a}}" for i in range(65))
    spec = SMALL + f"weights:\n  W:\n    url: https://e.org/m.pth\n    hash: 0123abcd\n    renames:\n{many}\n"
    with pytest.raises(netspec.SpecError):
        netspec.compile_spec(text=spec)
    long_pattern = ".".join(["a"] * 200)
    spec = (SMALL + "weights:\n  W:\n    url: https://e.org/m.pth\n    hash: 0123abcd\n"
            f"    renames: {{{long_pattern}: b}}\n")
    with pytest.raises(netspec.SpecError):
        netspec.compile_spec(text=spec)


# ---------------------------------------------------------------- the zoo's torchvision weights


@pytest.mark.parametrize("model", ZOO)
def test_the_zoo_declares_torchvision_weights(model: str) -> None:
    entries = netspec.named_weights(f"zoo/{model}")
    published = PUBLISHED[model]
    assert set(entries) == {*published, "DEFAULT"}
    assert entries["DEFAULT"].name == DEFAULTS.get(model, "IMAGENET1K_V1")
    for name, file in published.items():
        entry = entries[name]
        assert entry.url == f"https://download.pytorch.org/models/{file}"
        assert entry.file == file and file.endswith(f"-{entry.hash}.pth")
        assert pretrained.cached_path(entry) == os.path.join(pretrained.cache_dir(), file)
        # the layout fits: the parameters counted at the entry's vars are the published count
        vars_ = {k: v for k, v in entry.vars.items() if k != "num_classes"}
        assert netspec.summary(f"zoo/{model}", overrides=vars_).total_params == entry.meta["num_params"]
        transforms = entry.meta["transforms"]
        assert transforms["crop_size"] in (224, 384) and len(transforms["mean"]) == 3
        if name != "IMAGENET1K_FEATURES":
            assert entry.categories is not None and len(entry.categories) == 1000
            assert entry.categories[:2] == ("tench", "goldfish") and entry.meta["metrics"]["ImageNet-1K"]["acc@1"] > 50


def test_resnet50_v2_meta_is_torchvision_s() -> None:
    entry = netspec.named_weights("zoo/resnet50")["IMAGENET1K_V2"]
    assert entry.meta["transforms"] == {"crop_size": 224, "resize_size": 232, "mean": [0.485, 0.456, 0.406],
                                        "std": [0.229, 0.224, 0.225], "interpolation": "bilinear"}
    assert entry.meta["metrics"] == {"ImageNet-1K": {"acc@1": 80.858, "acc@5": 95.434}}


@pytest.mark.parametrize(("model", "name"), [("resnet18", "DEFAULT"), ("mobilenet_v2", "IMAGENET1K_V1"),
                                             ("mobilenet_v2", "IMAGENET1K_V2")])
def test_zoo_weights_load_from_the_cache_offline(hub: Path, model: str, name: str) -> None:
    source = trained(f"zoo/{model}")
    entry = netspec.named_weights(f"zoo/{model}")[name]
    hub.mkdir(parents=True, exist_ok=True)
    torch.save(source.state_dict(), hub / entry.file)
    same_state(netspec.load(f"zoo/{model}", weights=name), source)


def test_densenet121_loads_the_published_old_style_keys(hub: Path) -> None:
    source = trained("zoo/densenet121")
    old = {}
    for key, value in source.state_dict().items():
        if key.endswith("num_batches_tracked"):
            continue  # the 2017 file predates BatchNorm's counter
        for part in ("norm", "conv"):
            for n in ("1", "2"):
                key = key.replace(f".{part}{n}.", f".{part}.{n}.") if ".denselayer" in key else key
        old[key] = value
    assert "features.denseblock1.denselayer1.norm.1.weight" in old
    assert "features.denseblock1.denselayer1.conv.2.weight" in old
    assert "features.norm5.weight" in old and "features.conv0.weight" in old  # names outside the layers stay
    hub.mkdir(parents=True)
    torch.save(old, hub / "densenet121-a639ec97.pth")
    loaded = netspec.load("zoo/densenet121", weights="IMAGENET1K_V1")
    for key, value in source.state_dict().items():
        expected = torch.zeros((), dtype=torch.long) if key.endswith("num_batches_tracked") else value
        assert torch.equal(loaded.state_dict()[key], expected), key
    # without the renames the same file is 4 keys per layer off: every one named
    with pytest.raises(netspec.SpecError) as exc:
        checkpoint.load_weights(netspec.load("zoo/densenet121", device="meta"), hub / "densenet121-a639ec97.pth")
    assert "missing-weight" in codes(exc) and "unexpected-weight" in codes(exc)


def test_zoo_weights_with_another_head_are_refused() -> None:
    with pytest.raises(netspec.SpecError) as exc:
        netspec.load("zoo/resnet50", weights="IMAGENET1K_V2", num_classes=10)
    (diagnostic,) = exc.value.diagnostics
    assert diagnostic.code == "weights-vars-mismatch"
    assert diagnostic.message == ("weights 'IMAGENET1K_V2' were trained with num_classes=1000, this model has "
                                  "num_classes=10")
    assert diagnostic.span is not None and diagnostic.span.file.endswith("resnet50.yaml")


def test_vit_swag_e2e_needs_its_image_size() -> None:
    with pytest.raises(netspec.SpecError) as exc:
        netspec.load("zoo/vit_b_16", weights="IMAGENET1K_SWAG_E2E_V1", device="meta")
    assert exc.value.diagnostics[0].message == ("weights 'IMAGENET1K_SWAG_E2E_V1' were trained with image_size=384, "
                                                "this model has image_size=224")


# ---------------------------------------------------------------- the command line


def test_summary_weights_says_where_they_were_loaded_from(tmp_path: Path, hub: Path) -> None:
    spec = tmp_path / "small.yaml"
    source = trained()
    saved = tmp_path / "w.pth"
    torch.save(source.state_dict(), saved)
    digest = hashlib.sha256(saved.read_bytes()).hexdigest()
    spec.write_text(named_spec(f"https://example.org/small-{digest[:8]}.pth", digest[:8]), encoding="utf-8")
    result = run_cli("summary", spec, "--weights", saved)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1] == f"Weights: loaded from {saved}; every key and shape matches"
    hub.mkdir(parents=True)
    shutil.copy(saved, hub / f"small-{digest[:8]}.pth")
    result = run_cli("summary", spec, "--weights", "DEFAULT")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1] == (f"Weights: loaded from {hub / f'small-{digest[:8]}.pth'} (DEFAULT); "
                                              "every key and shape matches")
    result = run_cli("summary", spec, "--weights", "DEFAULT", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["weights"] == {"weights": "DEFAULT",
                                                    "loaded_from": str(hub / f"small-{digest[:8]}.pth")}
    result = run_cli("summary", spec, "--weights", "V9")
    assert result.exit_code == 1
    assert "no weights named 'V9'" in result.stderr and "hint: this spec declares: V1, DEFAULT" in result.stderr


def test_summary_weights_reports_a_bad_file_without_a_traceback(tmp_path: Path) -> None:
    spec = tmp_path / "small.yaml"
    spec.write_text(SMALL, encoding="utf-8")
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"garbage")
    result = run_cli("summary", spec, "--weights", bad)
    assert result.exit_code == 1
    assert "Traceback" not in result.output and "is not a readable PyTorch file" in result.stderr


def export_matches(ort: Any, onnx_path: Path, module: torch.nn.Module) -> None:
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    x = torch.randn(2, 8, generator=torch.Generator().manual_seed(0))
    (out,) = session.run(None, {"x": x.numpy()})
    module.eval()
    torch.testing.assert_close(torch.from_numpy(out), module(x).detach(), rtol=1e-5, atol=1e-5)


@pytest.fixture(scope="module")
def ort() -> Any:
    reason = "the onnx extra: pip install 'netspec[onnx]'"
    pytest.importorskip("onnx", reason=reason)
    pytest.importorskip("onnxscript", reason=reason)
    return pytest.importorskip("onnxruntime", reason=reason)


@pytest.mark.slow
def test_export_weights_file_and_name_match_onnxruntime(ort: Any, tmp_path: Path, hub: Path) -> None:
    source = trained()
    saved = tmp_path / "w.pth"
    torch.save(source.state_dict(), saved)
    digest = hashlib.sha256(saved.read_bytes()).hexdigest()
    spec = tmp_path / "small.yaml"
    spec.write_text(named_spec(f"https://example.org/small-{digest[:8]}.pth", digest), encoding="utf-8")
    target = tmp_path / "file.onnx"
    result = run_cli("export", spec, "--onnx", target, "--weights", saved)
    assert result.exit_code == 0, result.output
    export_matches(ort, target, source)
    fresh = tmp_path / "fresh.onnx"
    assert run_cli("export", spec, "--onnx", fresh).exit_code == 0
    with pytest.raises(AssertionError):  # the test can fail: fresh weights are not the trained ones
        export_matches(ort, fresh, source)
    hub.mkdir(parents=True)
    shutil.copy(saved, hub / f"small-{digest[:8]}.pth")
    named = tmp_path / "named.onnx"
    result = run_cli("export", spec, "--onnx", named, "--weights", "V1")
    assert result.exit_code == 0, result.output
    export_matches(ort, named, source)


def test_export_refuses_unknown_weights_before_building(tmp_path: Path) -> None:
    pytest.importorskip("onnx", reason="the onnx extra: pip install 'netspec[onnx]'")
    pytest.importorskip("onnxscript", reason="the onnx extra: pip install 'netspec[onnx]'")
    spec = tmp_path / "small.yaml"
    spec.write_text(SMALL, encoding="utf-8")
    result = run_cli("export", spec, "--onnx", tmp_path / "m.onnx", "--weights", "IMAGENET1K_V1")
    assert result.exit_code == 1
    assert "unknown-weights" in result.stderr or "no weights named 'IMAGENET1K_V1'" in result.stderr
    assert not (tmp_path / "m.onnx").exists()


def test_hub_fixture_keeps_tests_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    fetch: Callable[..., Any] = torch.hub.download_url_to_file
    with pytest.raises(OSError, match="network disabled"):
        fetch("https://download.pytorch.org/models/resnet18-f37072fd.pth", "/nonexistent")


def test_named_weights_entry_is_frozen_plain_data() -> None:
    entry = netspec.named_weights("zoo/alexnet")["IMAGENET1K_V1"]
    assert isinstance(entry, ir.NamedWeights)
    with pytest.raises(AttributeError):
        entry.url = "https://elsewhere.org/x.pth"  # type: ignore[misc]


def test_the_compiled_class_loads_the_same_file_with_pytorch(tmp_path: Path, hub: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """docs/spec.md, "In generated code": `netspec compile` output, imported, takes the file by load_state_dict."""
    import importlib

    source = trained("zoo/mobilenet_v2")
    entry = netspec.named_weights("zoo/mobilenet_v2")["DEFAULT"]
    hub.mkdir(parents=True)
    torch.save(source.state_dict(), hub / entry.file)
    (tmp_path / "mobilenet_compiled.py").write_text(netspec.compile_source("zoo/mobilenet_v2"), encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    compiled = importlib.import_module("mobilenet_compiled")
    try:
        model = compiled.MobileNetV2()
        model.load_state_dict(torch.load(pretrained.cached_path(entry), weights_only=True))
        same_state(model, source)
    finally:
        del sys.modules["mobilenet_compiled"]


def test_summary_and_named_weights_never_import_torch_without_weights() -> None:
    import subprocess

    code = ("import sys\nimport netspec\nfrom netspec.tools.cli import main\n"
            "assert netspec.named_weights('zoo/resnet50')['DEFAULT'].name == 'IMAGENET1K_V2'\n"
            "try:\n    main(['summary', 'zoo/resnet50'])\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
            "sys.exit(3 if 'torch' in sys.modules else 0)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]


def test_renames_apply_to_a_safetensors_file_too(tmp_path: Path, hub: Path) -> None:
    st = pytest.importorskip("safetensors.torch", reason="the hf extra: pip install 'netspec[hf]'")
    source = trained()
    old = {("old_" + key if key.startswith("head.") else key): value for key, value in source.state_dict().items()}
    spec = named_spec("https://example.org/m-0123abcd.pth", "0123abcd", extra="""\
  ST:
    url: https://example.org/models/small-0123abcd.safetensors
    hash: 0123abcd
    renames: {"old_head.{p}": "head.{p}"}
""")
    hub.mkdir(parents=True)
    st.save_file(old, str(hub / "small-0123abcd.safetensors"))
    same_state(netspec.load(text=spec, weights="ST"), source)
