"""Exported models: ONNX gives torch's probabilities, int8 stays close, edited files are refused, and
the train and evaluate stages write, check and score the exports."""

import json

import numpy as np
import onnx
import polars as pl
import pytest
import torch

from stockcast import export
from stockcast.artifacts import load_model, save_model
from stockcast.data.synthetic import generate
from stockcast.errors import StockcastError
from stockcast.export import (FILES, OPSET, PARITY_TOLERANCE, OnnxRunner, ProbabilityNet, export_onnx,
                              onnx_variants, parity_sample, quantize_int8)
from stockcast.fitting import trainable
from stockcast.labels import make_labels
from stockcast.models import Windows, build
from stockcast.params import TrainParams
from stockcast.segments import assign_segments

from .stages import project, run_stage

INT8_TOLERANCE = 0.02
"""Largest |p_int8 - p_float| accepted: weights rounded to 1/127 of their range move a probability by
a few 1e-4 in the recurrent nets and up to a few 1e-3 in the transformer (seen: 6e-4, 5e-3)."""
NET = {"seq_len": 10, "hidden_size": 48, "num_layers": 2, "dropout": 0.1, "transformer": {"d_model": 16, "heads": 2}}
"""Hidden 48: a recurrent layer's 4 x 48 x 48 weights exceed the exporter's default folding limit
(8,192 values), as the seed LSTM's do, so the test sees what quantize_dynamic sees there."""
QUANTISED = {"lstm": "DynamicQuantizeLSTM", "gru": "MatMulInteger", "transformer": "MatMulInteger"}
"""The int8 operator each net must contain (onnxruntime has no quantised GRU: only its head is int8)."""


def _learnable(n=1200, seed=0, seq_len=5) -> Windows:
    """The label is the sign of the last row's first feature (as in test_models_train)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 1, (n, 3)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.float32)
    cut = int(n * 0.75)
    return Windows(x, y, seq_len, {"train": np.arange(seq_len, cut), "val": np.arange(cut + seq_len, n)})


@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("name", ["lstm", "gru", "transformer"])
def test_onnx_gives_torch_probabilities_at_any_batch_size(name, n_classes, tmp_path):
    torch.manual_seed(0)
    model = build(name, 7, TrainParams(model=name, **NET), n_classes)
    path = tmp_path / "model.onnx"
    export_onnx(model.net, 10, 7, path)
    graph = onnx.load(path)
    assert graph.opset_import[0].version == OPSET >= 17
    assert graph.graph.input[0].type.tensor_type.shape.dim[0].dim_param  # the batch axis is symbolic
    quantize_int8(path, tmp_path / "model.int8.onnx")
    assert QUANTISED[name] in {node.op_type for node in onnx.load(tmp_path / "model.int8.onnx").graph.node}
    onnx_float, onnx_int8 = OnnxRunner(path), OnnxRunner(tmp_path / "model.int8.onnx")
    assert (onnx_float.seq_len, onnx_float.n_features, onnx_float.n_classes) == (10, 7, n_classes)
    reference = ProbabilityNet(model.net).eval()
    for batch in (1, 37):  # one file, two batch sizes
        windows = torch.randn(batch, 10, 7, generator=torch.Generator().manual_seed(batch)) * 2
        with torch.no_grad():
            expected = reference(windows).numpy()
        got = onnx_float.predict_proba(windows.numpy())
        assert got.shape == (batch, n_classes) and got.dtype == np.float32
        np.testing.assert_allclose(got.sum(axis=1), 1.0, atol=1e-6)
        assert np.abs(got - expected).max() <= PARITY_TOLERANCE
        quantised = onnx_int8.predict_proba(windows.numpy())
        assert 0 < np.abs(quantised - expected).max() <= INT8_TOLERANCE  # rounded, not float in disguise


def test_a_trained_lstm_saves_its_exports_checked_and_checksummed(tmp_path):
    """On a learnable signal the int8 file calls nearly every window as torch does and keeps its accuracy."""
    torch.manual_seed(0)
    data = _learnable()
    params = TrainParams(model="lstm", seq_len=5, hidden_size=16, num_layers=1, lr=0.01, epochs=4, batch_size=64,
                         warmup_epochs=0, lr_schedule="constant")
    model = trainable("lstm", 3, params)
    model.fit(data, tmp_path / "logs")
    save_model(tmp_path / "m", model, {"model": "lstm", "n_features": 3, "params": params.model_dump()},
               export_windows=data)
    loaded, config = load_model(tmp_path / "m")
    assert set(FILES.values()) <= set(config["files"])
    block = config["export"]
    assert block["opset"] == OPSET and block["files"] == FILES and block["parity_segment"] == "val"
    assert block["parity_windows"] == len(data.ends["val"]) and block["parity_max_diff"] <= PARITY_TOLERANCE
    variants = onnx_variants(loaded, tmp_path / "m", config)
    torch_p = loaded.predict_proba(data, "val")
    y = data.y[data.ends["val"]]
    accuracy = {"torch": np.mean((torch_p[:, 1] > 0.5) == y)}
    for name, variant in variants.items():
        p = variant.predict_proba(data, "val")
        accuracy[name] = np.mean((p[:, 1] > 0.5) == y)
        assert np.abs(p - torch_p).max() <= (PARITY_TOLERANCE if name == "onnx" else INT8_TOLERANCE)
    assert block["int8_max_diff"] == pytest.approx(np.abs(variants["int8"].predict_proba(data, "val")
                                                          - torch_p).max(), abs=1e-6)
    assert accuracy["torch"] > 0.9 and accuracy["onnx"] == accuracy["torch"]
    assert abs(accuracy["int8"] - accuracy["torch"]) <= 0.01, accuracy
    with pytest.raises(StockcastError, match=r"model\.onnx: windows of shape \(4, 6, 3\); the model reads \(n, 5, 3\)"):
        variants["onnx"].runner.predict_proba(np.zeros((4, 6, 3), np.float32))


def test_an_edited_onnx_file_is_refused_in_one_line(tmp_path):
    model = build("lstm", 3, TrainParams(model="lstm", seq_len=5, hidden_size=8, num_layers=1))
    refit = _learnable(300)
    refit = Windows(refit.x, refit.y, 5, {"train": refit.ends["train"]})  # after a refit on train+val: no val
    save_model(tmp_path, model, {"model": "lstm", "n_features": 3, "params": model.params.model_dump()},
               export_windows=refit)
    _, config = load_model(tmp_path)  # as written, it loads
    assert (config["export"]["parity_segment"], config["export"]["parity_windows"]) == ("train", 220)
    for file in FILES.values():
        path = tmp_path / file
        original = path.read_bytes()
        edited = bytearray(original)
        edited[len(edited) // 2] ^= 1  # one bit, in the middle of the weights
        path.write_bytes(bytes(edited))
        with pytest.raises(StockcastError) as refused:
            load_model(tmp_path)
        assert str(refused.value).startswith(f"{path}: damaged artifact file") and "\n" not in str(refused.value)
        path.write_bytes(original)


def test_parity_is_checked_on_at_most_4096_windows_spread_over_the_segment():
    windows = Windows(np.zeros((10_000, 1), np.float32), np.zeros(10_000, np.float32), 1,
                      {"val": np.arange(5, 10_000)})
    ends = parity_sample(windows, "val").ends["val"]
    assert len(ends) == 3332 and ends[0] == 5 and ends[-1] == 9998 and set(np.diff(ends)) == {3}
    few = Windows(windows.x, windows.y, 1, {"val": np.arange(100, 200)})
    np.testing.assert_array_equal(parity_sample(few, "val").ends["val"], np.arange(100, 200))


def test_an_export_that_differs_from_torch_is_refused(tmp_path, monkeypatch):
    """The parity gate: a file holding other weights than the torch net's is not saved as its export."""
    model = build("lstm", 3, TrainParams(model="lstm", seq_len=5, hidden_size=8, num_layers=1))
    other = build("lstm", 3, TrainParams(model="lstm", seq_len=5, hidden_size=8, num_layers=1))
    real_export = export.export_onnx
    monkeypatch.setattr(export, "export_onnx", lambda net, *args: real_export(other.net, *args))
    with pytest.raises(StockcastError, match=r"model\.onnx: its probabilities differ from torch's by up to .* on "
                                             r"95 val windows \(at most 1e-05 allowed\)"):
        save_model(tmp_path, model, {"model": "lstm", "n_features": 3, "params": model.params.model_dump()},
                   export_windows=_learnable(400))
    assert not (tmp_path / "config.json").exists()


def test_the_ensemble_exports_its_sequence_member_and_keeps_the_tabular_ones(tmp_path):
    torch.manual_seed(0)
    data = _learnable(600)
    params = TrainParams(model="ensemble", seq_len=5, hidden_size=8, num_layers=1, epochs=1)
    model = trainable("ensemble", 3, params)
    model.fit(data, tmp_path / "logs")
    save_model(tmp_path / "m", model, {"model": "ensemble", "n_features": 3, "params": params.model_dump()},
               export_windows=data)
    loaded, config = load_model(tmp_path / "m")
    assert {"lstm/model.onnx", "lstm/model.int8.onnx", "lightgbm/lightgbm.txt"} <= set(config["files"])
    assert list(config["export"]["members"]) == ["lstm"]
    onnx_ensemble = onnx_variants(loaded, tmp_path / "m", config)["onnx"]
    assert onnx_ensemble.members["lightgbm"] is loaded.members["lightgbm"]
    assert np.abs(onnx_ensemble.predict_proba(data, "val") - loaded.predict_proba(data, "val")).max() <= 1e-5


def test_tabular_models_keep_their_own_format(tmp_path):
    model = trainable("logreg", 3, TrainParams(model="logreg", seq_len=1))
    data = _learnable(400, seq_len=1)
    model.fit(data, tmp_path / "logs")
    save_model(tmp_path, model, {"model": "logreg", "n_features": 3, "params": model.params.model_dump()},
               export_windows=data)
    config = json.loads((tmp_path / "config.json").read_text())
    assert "export" not in config and not list(tmp_path.glob("*.onnx"))


def _stage_project(folder):
    """What the train stage reads for 4 tickers x 300 sessions; feature `a` is tomorrow's direction
    plus noise (a planted signal, so accuracies mean something), b and c are noise."""
    bars = generate("null", 4, 300, seed=5)[0]
    labels, _ = assign_segments(make_labels(bars, 1), 0.6, 0.2, embargo_days=5)
    rng = np.random.default_rng(6)
    signal = (pl.col("label").cast(pl.Float64).fill_null(0.5) * 2 - 1) * 0.8
    table = labels.select("ticker", "date", a=signal + pl.Series(rng.normal(0, 1, labels.height)),
                          b=pl.Series(rng.normal(0, 1, labels.height)), c=pl.Series(rng.normal(0, 1, labels.height)))
    project(folder, {"train": {"model": "lstm", "seq_len": 5, "hidden_size": 16, "num_layers": 1, "epochs": 3,
                               "patience": 3, "lr": 0.01, "batch_size": 128, "warmup_epochs": 0,
                               "lr_schedule": "constant", "device": "cpu", "resume": False}})
    (folder / "data" / "features").mkdir(parents=True)
    (folder / "data" / "splits").mkdir(parents=True)
    table.write_parquet(folder / "data" / "features" / "features.parquet")
    (folder / "data" / "features" / "manifest.json").write_text(json.dumps({"features": [{"name": n} for n in "abc"]}))
    labels.write_parquet(folder / "data" / "splits" / "labels.parquet")
    (folder / "data" / "splits" / "boundaries.json").write_text(json.dumps({"n_classes": 2}))


def test_the_train_stage_exports_and_the_evaluate_stage_scores_the_exports_beside_torch(tmp_path):
    _stage_project(tmp_path)
    run_stage(tmp_path, "train")
    config = json.loads((tmp_path / "models/lstm/model/config.json").read_text())
    assert {"model.safetensors", "model.onnx", "model.int8.onnx", "normalizer.json"} == set(config["files"])
    assert config["export"]["parity_max_diff"] <= PARITY_TOLERANCE
    assert config["export"]["parity_windows"] == config["windows"]["val"]

    run_stage(tmp_path, "evaluate", "models/lstm")
    scores = json.loads((tmp_path / "data/predictions/scores.json").read_text())
    table = scores["export"]
    for segment in ("val", "test"):
        assert table[segment]["torch"]["accuracy"] == scores[segment]["accuracy"]  # the scorecard's own number
        assert table[segment]["torch"]["log_loss"] == scores[segment]["log_loss"]
        assert table[segment]["onnx"]["max_diff"] <= PARITY_TOLERANCE
        assert table[segment]["onnx"]["n"] == table[segment]["int8"]["n"] == scores[segment]["n"]
        assert 0 < table[segment]["int8"]["max_diff"] <= INT8_TOLERANCE
        assert abs(table[segment]["int8"]["accuracy"] - scores[segment]["accuracy"]) <= 0.02  # 4 calls in 200
        assert abs(table[segment]["int8"]["log_loss"] - scores[segment]["log_loss"]) <= 0.01
    assert scores["test"]["accuracy"] > 0.6  # the planted signal was learnt: the comparison is not of coin flips
    headline = json.loads((tmp_path / "metrics/evaluate.json").read_text())["export"]
    assert headline == {"onnx_max_diff": max(table[s]["onnx"]["max_diff"] for s in ("val", "test")),
                        "int8_max_diff": max(table[s]["int8"]["max_diff"] for s in ("val", "test")),
                        "val_int8_accuracy": table["val"]["int8"]["accuracy"],
                        "val_int8_log_loss": table["val"]["int8"]["log_loss"],
                        "test_int8_accuracy": table["test"]["int8"]["accuracy"],
                        "test_int8_log_loss": table["test"]["int8"]["log_loss"]}
