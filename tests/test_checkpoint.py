"""checkpoint.py on its own: what the file holds, what `load` restores (and refuses), in milliseconds.

tests/test_train_resume.py proves the end-to-end promise (a SIGKILLed run resumes bit-identically);
these pin each piece of it on a two-layer net, so a mutant of checkpoint.py is caught without training.
"""

import hashlib
import json
import random

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import nn

from stockcast import checkpoint
from stockcast.errors import StockcastError

FINGERPRINT = "f" * 64


def _net(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))


def _stepped(net: nn.Module) -> torch.optim.Optimizer:
    """An AdamW that has taken two steps, so its state holds step counts and both moments."""
    optimizer = torch.optim.AdamW(net.parameters(), lr=0.01, weight_decay=0.1)
    for _ in range(2):
        optimizer.zero_grad()
        net(torch.ones(5, 3)).square().sum().backward()
        optimizer.step()
    return optimizer


def _progress(**extra) -> dict:
    return {"epoch": 2, "step": 14, "best_epoch": 1, "best": {"val_loss": 0.5}, "history": [{"val_loss": 0.7}],
            "done": False, "fingerprint": FINGERPRINT} | extra


def _saved(directory, progress=None, generator=None):
    """(net, its best weights, optimiser, generator) after saving them with `progress`."""
    net = _net()
    optimizer = _stepped(net)
    best = {k: v * 0 + 7 for k, v in net.state_dict().items()}  # distinct from the weights
    generator = generator or torch.Generator().manual_seed(11)
    checkpoint.save(directory, net, best, optimizer, generator, progress or _progress())
    return net, best, optimizer, generator


def _fresh():
    net = _net(seed=5)
    return net, torch.optim.AdamW(net.parameters(), lr=0.5), torch.Generator().manual_seed(99)


def _draws(generator: torch.Generator) -> tuple:
    """One draw from each stream a run uses: python (uniform and gauss), numpy (legacy normal), torch, loader."""
    return (random.random(), random.gauss(0, 1), np.random.normal(size=3).tolist(), torch.rand(3).tolist(),
            torch.rand(3, generator=generator).tolist())


def _states_equal(a: dict, b: dict) -> bool:
    """Two optimiser state_dicts hold the same numbers (tensors compared by value; param groups as JSON
    reads them back, where betas is a list)."""
    groups = [json.loads(json.dumps(s["param_groups"])) for s in (a, b)]
    if groups[0] != groups[1] or a["state"].keys() != b["state"].keys():
        return False
    for pid, entry in a["state"].items():
        other = b["state"][pid]
        if entry.keys() != other.keys():
            return False
        for key, value in entry.items():
            same = torch.equal(value, other[key]) if torch.is_tensor(value) else value == other[key]
            if not same:
                return False
    return True


def test_fingerprint_is_sha256_of_sorted_params_json_then_the_arrays_bytes():
    """Rule: the fingerprint is sha256(json.dumps(result-changing params, sort_keys=True)) updated with
    each array's C-order bytes, in order: a known answer computed by hand."""
    a, b = np.arange(6, dtype=np.float32).reshape(2, 3), np.array([1, 2], dtype=np.int64)
    digest = hashlib.sha256(b'{"hidden_size": 8, "lr": 0.01}')
    digest.update(a.tobytes())
    digest.update(b.tobytes())
    assert checkpoint.fingerprint({"lr": 0.01, "hidden_size": 8}, a, b) == digest.hexdigest()
    assert checkpoint.fingerprint({"lr": 0.01, "hidden_size": 8}) == hashlib.sha256(
        b'{"hidden_size": 8, "lr": 0.01}').hexdigest()


def test_fingerprint_ignores_only_resume_checkpoint_dir_and_device():
    """Rule: resume, checkpoint_dir and device do not change the result, so a checkpoint written under
    other values of them still resumes; every other param (and the data) does change it."""
    base = {"lr": 0.01, "epochs": 3}
    plain = checkpoint.fingerprint(base)
    for key, value in [("resume", True), ("checkpoint_dir", "elsewhere"), ("device", "cuda")]:
        assert checkpoint.fingerprint(base | {key: value}) == plain, key
    assert checkpoint.fingerprint(base | {"seed": 1}) != plain
    assert checkpoint.fingerprint(base | {"lr": 0.02}) != plain
    x = np.zeros(4, dtype=np.float32)
    assert checkpoint.fingerprint(base, x) != checkpoint.fingerprint(base, x + 1)
    assert checkpoint.fingerprint(base, x, x) != checkpoint.fingerprint(base, x, x + 1)  # every array counts


def test_fingerprint_reads_a_strided_view_as_its_values():
    """Rule: a non-contiguous view (a column slice) fingerprints like its contiguous copy: the values
    count, not the memory layout."""
    grid = np.arange(12, dtype=np.float32).reshape(3, 4)
    view = grid[:, ::2]
    assert not view.flags.c_contiguous
    assert checkpoint.fingerprint({}, view) == checkpoint.fingerprint({}, np.ascontiguousarray(view))
    assert checkpoint.fingerprint({}, view) == hashlib.sha256(b"{}" + view.tobytes()).hexdigest()


def test_the_file_holds_weights_best_weights_moments_and_rng_as_tensors_the_rest_as_json(tmp_path):
    """Rule: one safetensors file, model/<name> and best/<name> per weight, optimizer/<pid>/<field> per
    optimiser tensor, rng/torch, rng/loader and rng/numpy (numpy's key as int64); everything else is
    JSON under the "stockcast" metadata key; no temporary file is left beside it."""
    net, best, optimizer, generator = _saved(tmp_path / "a" / "b")
    assert sorted(p.name for p in (tmp_path / "a" / "b").iterdir()) == [checkpoint.FILE]
    with safe_open(str(tmp_path / "a" / "b" / checkpoint.FILE), framework="pt") as f:
        meta = json.loads(f.metadata()["stockcast"])
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    names = net.state_dict().keys()
    assert {k for k in tensors if k.startswith(("model/", "best/"))} == {f"{p}/{n}" for p in ("model", "best")
                                                                         for n in names}
    for name, value in net.state_dict().items():
        assert torch.equal(tensors[f"model/{name}"], value) and torch.equal(tensors[f"best/{name}"], best[name])
    state = optimizer.state_dict()
    assert {k for k in tensors if k.startswith("optimizer/")} == {
        f"optimizer/{pid}/{field}" for pid, entry in state["state"].items() for field in entry}
    assert torch.equal(tensors["optimizer/2/exp_avg_sq"], state["state"][2]["exp_avg_sq"])
    assert torch.equal(tensors["rng/loader"], generator.get_state())
    assert torch.equal(tensors["rng/torch"], torch.get_rng_state())
    assert tensors["rng/numpy"].dtype == torch.int64
    assert np.array_equal(tensors["rng/numpy"].numpy(), np.random.get_state()[1])
    assert meta["progress"] == _progress()
    assert meta["optimizer"]["param_groups"] == json.loads(json.dumps(state["param_groups"]))
    assert meta["optimizer"]["state"][0] == [0, {k: {"tensor": f"optimizer/0/{k}"} for k in state["state"][0]}]
    kind, _, pos, has_gauss, gauss = np.random.get_state()
    assert meta["rng"]["numpy"] == [kind, pos, has_gauss, gauss]
    version, internal, gauss_next = random.getstate()
    assert meta["rng"]["python"] == [version, list(internal), gauss_next]


def test_save_replaces_the_previous_file_and_writes_into_an_existing_folder(tmp_path):
    """Rule: each epoch's save overwrites the last one in the same folder (a folder that exists is fine)."""
    _saved(tmp_path, _progress(epoch=1))
    _saved(tmp_path, _progress(epoch=2))
    with safe_open(str(tmp_path / checkpoint.FILE), framework="pt") as f:
        assert json.loads(f.metadata()["stockcast"])["progress"]["epoch"] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == [checkpoint.FILE]


def test_best_weights_that_are_the_live_weights_or_strided_are_saved_as_copies(tmp_path):
    """Rule: save copies every tensor to a contiguous CPU tensor of its own, so best weights that are the
    model's own tensors (right after an improvement) or a transposed view still make one valid file."""
    net = _net()
    optimizer = _stepped(net)
    best = dict(net.state_dict())  # the very tensors of the model
    best["0.weight"] = net[0].weight.t()  # a strided view, and one that requires grad
    checkpoint.save(tmp_path, net, best, optimizer, torch.Generator(), _progress())
    with safe_open(str(tmp_path / checkpoint.FILE), framework="pt") as f:
        assert torch.equal(f.get_tensor("best/0.weight"), net[0].weight.detach().t())
        assert torch.equal(f.get_tensor("best/2.bias"), net[2].bias.detach())
        assert torch.equal(f.get_tensor("model/0.weight"), net[0].weight.detach())


def test_load_restores_weights_optimiser_rng_and_returns_progress_and_best(tmp_path):
    """Rule: load puts back exactly what save wrote: the weights, the optimiser's state (so the next step
    is the same), every random stream (the next draws are the same) and returns (progress, best)."""
    net, best, optimizer, generator = _saved(tmp_path)
    random.gauss(0, 1)
    np.random.normal()  # leave both gauss caches filled at save time
    checkpoint.save(tmp_path, net, best, optimizer, generator, _progress())
    expected = _draws(generator)
    target, target_optimizer, target_generator = _fresh()
    restored = checkpoint.load(tmp_path, target, target_optimizer, target_generator, FINGERPRINT)
    assert restored is not None
    progress, best_back = restored
    assert _draws(target_generator) == expected
    assert progress == _progress()
    assert best_back.keys() == best.keys() and all(torch.equal(best_back[k], best[k]) for k in best)
    for name, value in net.state_dict().items():
        assert torch.equal(target.state_dict()[name], value), name
    assert _states_equal(target_optimizer.state_dict(), optimizer.state_dict())
    optimizer.zero_grad()
    target_optimizer.zero_grad()
    for model, opt in ((net, optimizer), (target, target_optimizer)):
        model(torch.ones(5, 3)).square().sum().backward()
        opt.step()
    for name, value in net.state_dict().items():
        assert torch.equal(target.state_dict()[name], value), name


def test_optimiser_state_round_trips_with_int_param_ids_and_plain_fields():
    """Rule: the optimiser state is JSON with its tensors moved out: param ids stay ints (JSON keys would
    make them strings) and a field that is not a tensor is kept as it is."""
    net = _net()
    state = _stepped(net).state_dict()
    state["state"][1]["note"] = 3
    state["state"][1]["ratio"] = {"a": 1.5}
    tensors: dict = {}
    packed = json.loads(json.dumps(checkpoint._pack_optimizer(state, tensors)))
    assert sorted(tensors) == sorted(f"optimizer/{pid}/{k}" for pid, e in state["state"].items() for k in e
                                     if torch.is_tensor(e[k]))
    back = checkpoint._unpack_optimizer(packed, tensors)
    assert list(back["state"]) == [0, 1, 2, 3]
    assert back["state"][1]["note"] == 3 and back["state"][1]["ratio"] == {"a": 1.5}
    assert _states_equal(back, state)


def test_the_best_weights_come_back_on_the_models_device(tmp_path):
    """Rule: load moves the best weights to the device of the model's parameters (here the meta device,
    the one a CPU-only test can tell apart from where safetensors reads them)."""
    _saved(tmp_path)
    with torch.device("meta"):
        target = _net()
    optimizer = torch.optim.AdamW(target.parameters(), lr=0.5)
    with pytest.warns(UserWarning, match="meta"):
        restored = checkpoint.load(tmp_path, target, optimizer, torch.Generator(), FINGERPRINT)
    assert restored is not None
    assert {v.device.type for v in restored[1].values()} == {"meta"}


def _fake_cuda(monkeypatch, devices: int) -> list:
    """CUDA reported available with `devices` RNG states (device i's state is [i, i]); returns the list
    set_rng_state_all is called with."""
    restored: list = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_rng_state_all",
                        lambda: [torch.tensor([i, i], dtype=torch.uint8) for i in range(devices)])
    monkeypatch.setattr(torch.cuda, "set_rng_state_all", lambda states: restored.append(list(states)))
    return restored


def test_each_gpus_rng_state_is_saved_and_restored_to_the_same_gpu(tmp_path, monkeypatch):
    """Rule: with CUDA, every device's RNG state is saved as rng/cuda/<i> and restored in device order,
    also past ten devices (rng/cuda/10 sorts before rng/cuda/2 as text)."""
    restored = _fake_cuda(monkeypatch, 12)
    _saved(tmp_path)
    with safe_open(str(tmp_path / checkpoint.FILE), framework="pt") as f:
        assert {k for k in f.keys() if k.startswith("rng/cuda/")} == {f"rng/cuda/{i}" for i in range(12)}
        assert torch.equal(f.get_tensor("rng/cuda/10"), torch.tensor([10, 10], dtype=torch.uint8))
    net, optimizer, generator = _fresh()
    assert checkpoint.load(tmp_path, net, optimizer, generator, FINGERPRINT) is not None
    assert len(restored) == 1 and [s.tolist() for s in restored[0]] == [[i, i] for i in range(12)]


def test_without_cuda_no_gpu_state_is_saved_or_set(tmp_path, monkeypatch):
    """Rule: a checkpoint written on a GPU machine resumes on a CPU one: the CUDA states are then skipped,
    and a CPU machine writes none."""
    _fake_cuda(monkeypatch, 2)
    _saved(tmp_path)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    calls = []
    monkeypatch.setattr(torch.cuda, "set_rng_state_all", calls.append)
    monkeypatch.setattr(torch.cuda, "get_rng_state_all", lambda: calls.append("get") or [])
    net, optimizer, generator = _fresh()
    assert checkpoint.load(tmp_path, net, optimizer, generator, FINGERPRINT) is not None
    checkpoint.save(tmp_path / "cpu", net, {}, optimizer, generator, _progress())
    assert calls == []
    with safe_open(str(tmp_path / "cpu" / checkpoint.FILE), framework="pt") as f:
        assert not [k for k in f.keys() if k.startswith("rng/cuda/")]


def test_a_cpu_checkpoint_sets_no_gpu_state_on_a_gpu_machine(tmp_path, monkeypatch):
    """Rule: a checkpoint without CUDA states leaves the GPUs' RNG as it is (an empty list is not set)."""
    _saved(tmp_path)
    restored = _fake_cuda(monkeypatch, 2)
    net, optimizer, generator = _fresh()
    assert checkpoint.load(tmp_path, net, optimizer, generator, FINGERPRINT) is not None
    assert restored == []


def _untouched(tmp_path, fingerprint: str, capsys) -> str:
    """Loads into a fresh net and checks that None came back and nothing was restored; returns stdout."""
    net, optimizer, generator = _fresh()
    weights = {k: v.clone() for k, v in net.state_dict().items()}
    twin = torch.Generator()
    twin.set_state(generator.get_state())
    torch.manual_seed(123)
    expected = torch.rand(2, generator=twin).tolist(), torch.rand(2).tolist()
    torch.manual_seed(123)
    assert checkpoint.load(tmp_path, net, optimizer, generator, fingerprint) is None
    assert (torch.rand(2, generator=generator).tolist(), torch.rand(2).tolist()) == expected
    assert all(torch.equal(net.state_dict()[k], v) for k, v in weights.items())
    assert optimizer.state_dict()["state"] == {}
    return capsys.readouterr().out


def test_no_checkpoint_means_nothing_to_resume(tmp_path, capsys):
    """Rule: without a checkpoint file load returns None, restores nothing and says nothing."""
    assert _untouched(tmp_path, FINGERPRINT, capsys) == ""


def test_a_checkpoint_of_other_params_or_data_is_not_restored(tmp_path, capsys):
    """Rule: a fingerprint other than the expected one means other params or data: None, nothing restored."""
    _saved(tmp_path)
    capsys.readouterr()
    assert "was written for other params or data; starting afresh" in _untouched(tmp_path, "0" * 64, capsys)


def test_a_finished_runs_checkpoint_is_not_restored(tmp_path, capsys):
    """Rule: a checkpoint whose progress says done is never replayed: None, nothing restored."""
    _saved(tmp_path, _progress(done=True))
    capsys.readouterr()
    assert "is of a finished run; training afresh" in _untouched(tmp_path, FINGERPRINT, capsys)


def _damage(path, how: str) -> None:
    if how == "truncated":
        _saved(path.parent)
        path.write_bytes(path.read_bytes()[:50])
    elif how == "no metadata":
        save_file({"w": torch.zeros(2)}, path)
    elif how == "bad json":
        save_file({"w": torch.zeros(2)}, path, metadata={"stockcast": "{not json"})
    else:  # a folder where the file should be
        path.mkdir(parents=True)


@pytest.mark.parametrize("how", ["truncated", "no metadata", "bad json", "folder"])
def test_a_damaged_checkpoint_is_one_clear_error(tmp_path, how):
    """Rule: a file safetensors cannot read, without stockcast's metadata, with metadata that is not
    JSON, or a folder in its place, is a StockcastError naming the path and the way out."""
    path = tmp_path / checkpoint.FILE
    _damage(path, how)
    net, optimizer, generator = _fresh()
    with pytest.raises(StockcastError, match=r"last\.safetensors: damaged checkpoint .*train\.resume: false"):
        checkpoint.load(tmp_path, net, optimizer, generator, FINGERPRINT)
