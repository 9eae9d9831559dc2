"""Models outlive the process: torch.save/torch.load, pickle, deepcopy, spawn workers, threads.

A generated class lives in a module made at run time, so pickling it by
reference (module + name) cannot work in another process.  Each instance
reduces to (netspec's rebuild function, (generated source, class name), state)
instead; the saving and loading run in separate processes here, the loading one
importing nothing but netspec and torch.
"""

from __future__ import annotations

import copy
import hashlib
import pickle
import shutil
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from pathlib import Path

import pytest
import torch
from torch import nn

import netspec
from netspec.backend import build
from tests.conftest import SPECS_DIR

# Runs in a fresh interpreter, from a directory without the spec, as the main script,
# so the spawned children re-import it as __mp_main__ (what users' scripts do).
LOADER = textwrap.dedent('''
    import copy, pickle, sys
    import torch
    import torch.multiprocessing as mp
    import netspec

    def child(rank, model, x, out):
        torch.save(model(x), out)

    class Batches(torch.utils.data.Dataset):
        def __init__(self, model, x):
            self.model, self.x = model, x
        def __len__(self):
            return 2
        def __getitem__(self, i):
            with torch.no_grad():
                return self.model(self.x[i:i + 1])

    if __name__ == "__main__":
        assert not [m for m in sys.modules if m.startswith("netspec.generated")]
        x, want = torch.load("reference.pt")
        saved = torch.load("model.pt", weights_only=False)
        with open("model.pickle", "rb") as handle:
            pickled = pickle.load(handle)
        assert type(saved) is type(pickled), "one class per generated source in this process too"
        assert not saved.training, "the state, training flag included, is restored"
        for model in (saved, pickled, copy.deepcopy(saved)):
            assert torch.equal(model(x), want)
        mp.spawn(child, args=(saved, x, "spawned.pt"), nprocs=1)
        assert torch.equal(torch.load("spawned.pt"), want)
        loader = torch.utils.data.DataLoader(Batches(saved, x), batch_size=None, num_workers=1,
                                             multiprocessing_context="spawn")
        assert torch.allclose(torch.cat(list(loader)), want, atol=1e-6)  # batch 1 vs 2: other kernels
        print("loaded", type(saved).__name__)
''')


def test_torch_save_loads_in_a_fresh_process(tmp_path: Path) -> None:
    spec = tmp_path / "lenet.yaml"
    shutil.copyfile(SPECS_DIR / "lenet.yaml", spec)
    model = netspec.load(spec).eval()
    x = torch.randn(2, 1, 32, 32)
    work = tmp_path / "work"
    work.mkdir()
    torch.save(model, work / "model.pt")
    (work / "model.pickle").write_bytes(pickle.dumps(model))
    torch.save((x, model(x).detach()), work / "reference.pt")
    spec.unlink()  # the loading side must not need the spec
    (work / "load.py").write_text(LOADER)
    done = subprocess.run([sys.executable, "load.py"], cwd=work, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["loaded", "LeNet"]


def test_pickle_carries_the_class_by_value() -> None:
    model = netspec.load(SPECS_DIR / "my_dict_dense.yaml")
    data = pickle.dumps(model)
    assert b"netspec.generated" not in data  # not by reference to this process's module
    copy_ = pickle.loads(data)
    assert type(copy_) is type(model)
    assert copy_.state_dict().keys() == model.state_dict().keys()
    assert all(torch.equal(a, b) for a, b in zip(copy_.state_dict().values(), model.state_dict().values(),
                                                 strict=True))


def test_deepcopy_is_independent() -> None:
    model = netspec.load(SPECS_DIR / "lenet.yaml")
    twin = copy.deepcopy(model)
    assert type(twin) is type(model)
    with torch.no_grad():
        twin.fc1.weight.zero_()
    assert model.fc1.weight.abs().sum() > 0
    x = torch.randn(1, 1, 32, 32)
    assert not torch.equal(model(x), twin(x))


def test_a_comment_or_file_name_does_not_change_the_class(tmp_path: Path) -> None:
    text = (SPECS_DIR / "lenet.yaml").read_text()
    one, other = tmp_path / "lenet.yaml", tmp_path / "renamed.yaml"
    one.write_text(text)
    other.write_text("# reviewed, no changes\n" + text.replace("\n", "  \n", 1))
    assert netspec.compile_source(one) == netspec.compile_source(other)
    assert netspec.build_class(one) is netspec.build_class(other)


class _SlowHashlib:
    """build's hashlib, pausing in sha256: build hashes a source only when the class is not cached
    yet, so every thread that misses the cache is inside the window at once (the race made certain)."""

    def sha256(self, data: bytes) -> object:
        time.sleep(0.05)
        return hashlib.sha256(data)


def test_threads_loading_one_spec_share_one_class(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = tmp_path / "fresh.yaml"  # a source no other test has built: the description makes it new
    spec.write_text(f"netspec: 1\nname: Fresh\ndescription: run {uuid.uuid4().hex}\ninputs:\n  x: [N, 4]\n"
                    "layers:\n  fc: {type: Linear, out_features: 2}\n")
    monkeypatch.setattr(build, "hashlib", _SlowHashlib())
    start = threading.Barrier(8)
    models: list[nn.Module] = []
    failures: list[BaseException] = []

    def load() -> None:
        start.wait()
        try:
            models.append(netspec.load(spec))
        except BaseException as exc:  # reported below: an exception in a thread fails nothing by itself
            failures.append(exc)

    threads = [threading.Thread(target=load) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures, failures
    assert len({type(m) for m in models}) == 1
    for model in models:
        assert type(pickle.loads(pickle.dumps(model))) is type(model)


NESTED = '''\
import torch
from torch import nn


class Block(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.fc = nn.Linear(width, width)

    def forward(self, x):
        return torch.relu(self.fc(x))


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.first = Block(4)
        self.second = Block(4)

    def forward(self, x):
        return self.second(self.first(x))
'''


def test_every_class_of_a_generated_source_pickles() -> None:
    # several classes per source (one per block) is what composition generates
    net = build.make_class(NESTED, "Net")()
    again = pickle.loads(pickle.dumps(net))
    assert type(again) is type(net) and type(again.first) is type(net.first)
    assert type(again.first).__name__ == "Block"
    x = torch.randn(3, 4)
    assert torch.equal(again(x), net(x))
    assert type(copy.deepcopy(net.first)) is type(net.first)


def test_a_user_subclass_is_not_reduced_to_the_generated_class() -> None:
    base = build.make_class(NESTED, "Net")
    sub = type("Sub", (base,), {})
    # copyreg reducers apply to one exact type: a subclass must never come back as its base
    assert type(copy.deepcopy(sub())) is sub
