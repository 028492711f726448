import numpy as np
import pytest
import torch

from stockcast.artifacts import load_model, save_model
from stockcast.dataset import WindowDataset, loader
from stockcast.errors import StockcastError
from stockcast.models import build
from stockcast.params import TrainParams
from stockcast.train import fit, predict_proba


def _learnable(n=2000, seed=0):
    """The label is the sign of the last row's first feature: an LSTM must learn it."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 1, (n, 3)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.float32)
    return x, y


def test_lstm_learns_a_learnable_signal_and_keeps_its_best_epoch(tmp_path):
    torch.manual_seed(0)
    x, y = _learnable()
    params = TrainParams(seq_len=5, hidden_size=16, num_layers=1, dropout=0.0, lr=0.01, epochs=8, patience=3,
                         batch_size=64)
    train = WindowDataset(x, y, np.arange(4, 1500), 5)
    val = WindowDataset(x, y, np.arange(1504, 2000), 5)
    model = build("lstm", 3, params.model_dump())
    result = fit(model, loader(train, 64, True, 0, False), loader(val, 512, False, 0, False), params, tmp_path)
    assert result.best["val_accuracy"] > 0.9
    assert result.best["val_loss"] == min(h["val_loss"] for h in result.history)
    assert any(tmp_path.glob("events.out.tfevents.*")), "tensorboard event file written"


def test_early_stopping_stops_after_patience_epochs_without_progress(tmp_path):
    rng = np.random.default_rng(1)
    x = rng.normal(0, 1, (600, 2)).astype(np.float32)
    y = rng.integers(0, 2, 600).astype(np.float32)
    params = TrainParams(seq_len=3, hidden_size=8, num_layers=1, lr=0.05, epochs=50, patience=2)
    model = build("lstm", 2, params.model_dump())
    result = fit(model, loader(WindowDataset(x, y, np.arange(2, 400), 3), 64, True, 0, False),
                 loader(WindowDataset(x, y, np.arange(402, 600), 3), 256, False, 0, False), params, tmp_path)
    assert result.stopped_early and len(result.history) == result.best_epoch + params.patience + 1


def test_saved_model_predicts_exactly_as_before(tmp_path):
    params = TrainParams(hidden_size=8, num_layers=2)
    model = build("lstm", 3, params.model_dump()).eval()
    save_model(tmp_path, model, {"model": "lstm", "n_features": 3, "params": params.model_dump()})
    loaded, config = load_model(tmp_path)
    x, y = _learnable(100)
    dl = loader(WindowDataset(x, y, np.arange(19, 100), 20), 32, False, 0, False)
    np.testing.assert_array_equal(predict_proba(model, dl, torch.device("cpu")),
                                  predict_proba(loaded, dl, torch.device("cpu")))
    assert config["n_features"] == 3


def test_truncated_weights_are_a_clear_error(tmp_path):
    params = TrainParams(hidden_size=8, num_layers=1)
    save_model(tmp_path, build("lstm", 3, params.model_dump()),
               {"model": "lstm", "n_features": 3, "params": params.model_dump()})
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(StockcastError, match="damaged weights file"):
        load_model(tmp_path)


def test_unknown_model_names_the_known_ones():
    with pytest.raises(StockcastError, match="known: lstm"):
        build("resnet", 3, {})
