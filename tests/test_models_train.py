"""Models and the training loop: every registered model learns, saves and loads exactly, unpickled."""

import json
import pickle
import shutil
import subprocess
import sys
import typing
from pathlib import Path

import numpy as np
import pytest
import torch

from stockcast.artifacts import load_model, save_model
from stockcast.checksums import verified_config
from stockcast.errors import StockcastError
from stockcast.fitting import trainable
from stockcast.models import MODELS, Windows
from stockcast.params import ModelName, TrainParams, parse_section
from stockcast.models.nets import amp_enabled
from stockcast.train import get_lr

from .conftest import ROOT

TINY = {"seq_len": 5, "hidden_size": 16, "num_layers": 1, "dropout": 0.0, "lr": 0.01, "epochs": 6, "patience": 3,
        "batch_size": 64, "warmup_epochs": 0, "lr_schedule": "constant"}


def _learnable(n=2000, seed=0) -> Windows:
    """The label is the sign of the last row's first feature: every model must learn it."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 1, (n, 3)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.float32)
    cut = int(n * 0.75)
    return Windows(x, y, 5, {"train": np.arange(4, cut), "val": np.arange(cut + 4, n), "test": np.arange(cut + 4, n)})


def _noise(n=600, seed=1) -> Windows:
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 1, (n, 2)).astype(np.float32)
    y = rng.integers(0, 2, n).astype(np.float32)
    return Windows(x, y, 3, {"train": np.arange(2, 400), "val": np.arange(402, n)})


def _params(**changes) -> TrainParams:
    return TrainParams(**(TINY | changes))


def _config(name: str, params: TrainParams) -> dict:
    return {"model": name, "n_features": 3, "params": params.model_dump()}


@pytest.mark.parametrize("name", list(MODELS))
def test_every_registered_model_learns_a_learnable_signal(name, tmp_path):
    torch.manual_seed(0)
    model = trainable(name, 3, _params(model=name))
    result = model.fit(_learnable(), tmp_path)
    assert result.best["val_accuracy"] > 0.9
    assert any(tmp_path.rglob("events.out.tfevents.*")), "tensorboard event file written"


def test_registry_and_params_name_the_same_models():
    assert list(typing.get_args(ModelName)) == list(MODELS)


def test_the_best_validation_epoch_is_the_one_kept(tmp_path):
    torch.manual_seed(0)
    model = trainable("lstm", 3, _params(epochs=8))
    data = _learnable()
    result = model.fit(data, tmp_path)
    assert result.best["val_loss"] == min(h["val_loss"] for h in result.history)
    kept = model.prob_up(data, "val")
    y = data.y[data.ends["val"]]
    loss = -np.mean(y * np.log(np.clip(kept, 1e-7, 1)) + (1 - y) * np.log(np.clip(1 - kept, 1e-7, 1)))
    assert loss == pytest.approx(result.best["val_loss"], rel=1e-4)


def test_early_stopping_stops_after_patience_epochs_without_progress(tmp_path):
    params = TrainParams(seq_len=3, hidden_size=8, num_layers=1, lr=0.05, epochs=50, patience=2)
    result = trainable("lstm", 2, params).fit(_noise(), tmp_path)
    assert result.stopped_early and len(result.history) == result.best_epoch + params.patience + 1


def test_reaching_the_target_accuracy_stops_training(tmp_path):
    torch.manual_seed(0)
    params = _params(epochs=30, patience=30, lr=0.002, target_accuracy=0.95)
    result = trainable("gru", 3, params).fit(_learnable(), tmp_path)
    assert result.stopped_early and len(result.history) < 30
    assert result.history[-1]["val_accuracy"] >= 0.95
    assert all(h["val_accuracy"] < 0.95 for h in result.history[:-1])


def test_early_stopping_can_monitor_validation_accuracy(tmp_path):
    result = trainable("lstm", 2, TrainParams(seq_len=3, hidden_size=8, num_layers=1, epochs=6, monitor="val_accuracy")
                   ).fit(_noise(), tmp_path)
    assert result.best["val_accuracy"] == max(h["val_accuracy"] for h in result.history)


def test_learning_rate_warms_up_linearly_then_decays_by_cosine_to_min_lr():
    params = TrainParams(lr=1e-3, min_lr=1e-5, lr_schedule="cosine")
    assert get_lr(0, 10, 110, params) == pytest.approx(1e-4)
    assert get_lr(9, 10, 110, params) == pytest.approx(1e-3)
    assert get_lr(60, 10, 110, params) == pytest.approx((1e-3 + 1e-5) / 2)
    assert get_lr(110, 10, 110, params) == pytest.approx(1e-5)
    assert get_lr(50, 0, 110, TrainParams(lr=1e-3, lr_schedule="constant")) == 1e-3


def test_bf16_autocast_is_for_cuda_only():
    assert not amp_enabled(TrainParams(amp=True), torch.device("cpu"))
    assert amp_enabled(TrainParams(amp=True), torch.device("cuda", 0))
    assert not amp_enabled(TrainParams(amp=False), torch.device("cuda", 0))


@pytest.mark.parametrize("name", list(MODELS))
def test_a_saved_model_loads_without_unpickling_and_predicts_exactly_as_before(name, tmp_path, monkeypatch):
    data = _learnable(800)
    model = trainable(name, 3, _params(model=name, epochs=2))
    model.fit(data, tmp_path / "logs")
    save_model(tmp_path / "model", model, _config(name, model.params))

    def refuse(*args, **kwargs):
        raise AssertionError("something was unpickled")

    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(pickle, "Unpickler", refuse)
    loaded, config = load_model(tmp_path / "model")
    np.testing.assert_array_equal(model.prob_up(data, "test"), loaded.prob_up(data, "test"))
    assert config["params"] == model.params.model_dump() and set(config["files"])


@pytest.mark.parametrize("name,file", [("lstm", "model.safetensors"), ("logreg", "logreg.safetensors"),
                                       ("lightgbm", "lightgbm.txt")])
def test_truncated_or_tampered_files_are_a_clear_error(name, file, tmp_path):
    model = trainable(name, 3, _params(model=name, epochs=1))
    model.fit(_learnable(400), tmp_path / "logs")
    save_model(tmp_path / "m", model, _config(name, model.params))
    path = tmp_path / "m" / file
    original = path.read_bytes()
    path.write_bytes(original[:100])
    with pytest.raises(StockcastError, match=f"{file}: damaged artifact file"):
        load_model(tmp_path / "m")
    path.write_bytes(original[:-9] + bytes([original[-9] ^ 1]) + original[-8:])
    with pytest.raises(StockcastError, match=f"{file}: damaged artifact file"):
        load_model(tmp_path / "m")


def _saved_lstm(directory: Path) -> None:
    model = trainable("lstm", 3, _params(model="lstm", seq_len=20, epochs=1))
    save_model(directory, model, _config("lstm", model.params) | {"normalizer": {"kind": "zscore"}},
               {"normalizer.json": {"kind": "zscore"}, "importance.json": {"gain": {"a": 1.0}}})


def test_an_edited_config_is_a_one_line_error(tmp_path):
    _saved_lstm(tmp_path)
    load_model(tmp_path)  # as written, it loads
    path = tmp_path / "config.json"
    config = json.loads(path.read_text())
    assert set(config["files"]) >= {"model.safetensors", "normalizer.json", "importance.json"}
    config["params"]["seq_len"] = 21  # still a valid config: only the seal can tell
    path.write_text(json.dumps(config, indent=2))
    with pytest.raises(StockcastError, match=r"config\.json: edited or damaged after training .*rerun the train"):
        load_model(tmp_path)
    assert subprocess.run(["sha256sum", "--quiet", "-c", "config.json.sha256"], cwd=tmp_path,
                          capture_output=True, check=False).returncode == 1  # the seal is sha256sum's format


def test_a_missing_seal_is_a_one_line_error(tmp_path):
    _saved_lstm(tmp_path)
    (tmp_path / "config.json.sha256").unlink()
    with pytest.raises(StockcastError, match=r"config\.json\.sha256: file not found, so .* cannot be verified"):
        verified_config(tmp_path)


@pytest.mark.parametrize("file", ["normalizer.json", "importance.json"])
def test_every_file_beside_the_weights_is_checksummed_too(file, tmp_path):
    _saved_lstm(tmp_path)
    (tmp_path / file).write_text((tmp_path / file).read_text().replace("1.0", "2.0").replace("zscore", "robust"))
    with pytest.raises(StockcastError, match=f"{file}: damaged artifact file"):
        verified_config(tmp_path)


def test_the_evaluate_stage_refuses_an_edited_config_in_one_line(tmp_path):
    _saved_lstm(tmp_path / "models/lstm")
    path = tmp_path / "models/lstm/config.json"
    path.write_text(path.read_text().replace('"seq_len": 20', '"seq_len": 21'))
    shutil.copy(ROOT / "params.yaml", tmp_path)
    done = subprocess.run([sys.executable, str(ROOT / "stages/evaluate.py"), "models/lstm"], cwd=tmp_path,
                          capture_output=True, text=True, check=False)
    assert done.returncode == 2 and done.stderr.splitlines() == [(
        "error: models/lstm/config.json: edited or damaged after training (its SHA-256 differs from "
        "config.json.sha256); rerun the train stage (`dvc repro -f train`) or restore the file (`dvc checkout`)")]


def test_a_missing_weights_file_is_named(tmp_path):
    model = trainable("gru", 3, _params(model="gru"))
    save_model(tmp_path, model, _config("gru", model.params))
    (tmp_path / "model.safetensors").unlink()
    with pytest.raises(StockcastError, match=r"model\.safetensors: file not found"):
        load_model(tmp_path)


def test_unknown_model_names_the_known_ones():
    with pytest.raises(StockcastError, match="known: lstm, gru, transformer, logreg, lightgbm, ensemble"):
        trainable("resnet", 3, TrainParams())


def test_model_specific_params_are_validated_by_name():
    with pytest.raises(StockcastError, match=r"train\.transformer: .*multiple of heads"):
        parse_section("train", {"transformer": {"d_model": 30, "heads": 4}})
    with pytest.raises(StockcastError, match=r"train\.lightgbm\.num_leafs: unknown key \(did you mean 'num_leaves'"):
        parse_section("train", {"lightgbm": {"num_leafs": 8}})
    with pytest.raises(StockcastError, match=r"train\.ensemble\.members"):
        parse_section("train", {"ensemble": {"members": ["lstm", "ensemble"]}})
