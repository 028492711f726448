"""The one path from features to predictions (fitting.fit, scoring.predictions): what it normalises,
what it copies and what it leaves alone."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from stockcast import fitting
from stockcast.dataset import Panel
from stockcast.errors import StockcastError
from stockcast.fitting import fit, fold_predictions, trainable
from stockcast.normalize import fit_normalizer
from stockcast.params import TrainParams
from stockcast.scoring import model_windows, normalize_in_place, predictions
from stockcast.segments import Fold


def _panel(n_tickers: int = 4, days: int = 120, seed: int = 0) -> Panel:
    rng = np.random.default_rng(seed)
    dates = pl.date_range(pl.date(2020, 1, 1), pl.date(2020, 1, 1) + pl.duration(days=days - 1), eager=True)
    segment = np.where(np.arange(days) < 70, "train", np.where(np.arange(days) < 95, "val", "test"))
    keys = pl.concat([pl.DataFrame({"ticker": f"T{t}", "date": dates, "segment": segment}) for t in range(n_tickers)])
    x = rng.normal(3, 2, (keys.height, 3)).astype(np.float32)
    x[::17, 1] = np.nan  # warm-up holes: windows over them are never used
    y = (x[:, 0] + rng.normal(0, 1, keys.height) > 3).astype(np.float32)
    keys = keys.with_columns(label=pl.Series(y.astype(np.int8)), fwd_return=pl.lit(0.0), next_return=pl.lit(0.0))
    return Panel(keys, x, y, ["a", "b", "c"])


PARAMS = {"seq_len": 4, "hidden_size": 8, "num_layers": 1, "epochs": 1, "batch_size": 64}


@pytest.mark.parametrize("kind", ["zscore", "robust"])
def test_a_tabular_model_reads_the_rows_the_whole_panel_path_would_give_it(kind):
    panel = _panel()
    normalizer = fit_normalizer(kind, panel.x, panel.segment_rows("train"), panel.features)
    model = trainable("logreg", 3, TrainParams(model="logreg", **PARAMS))
    data, rows = model_windows(model, panel, normalizer, 4, ("train", "val"))
    whole = normalizer.transform(panel.x.copy(), panel.keys["date"].to_numpy())
    for segment in ("train", "val"):
        np.testing.assert_array_equal(data.rows(segment)[0], whole[rows[segment]])
        np.testing.assert_array_equal(data.rows(segment)[1], panel.y[rows[segment]])
        assert np.shares_memory(data.rows(segment)[0], data.x), "a segment's rows are a view, not a copy"
    assert panel.normalized_by is None and np.isnan(panel.x[0, 1]) and panel.x[1, 0] != whole[1, 0]


def test_a_panel_is_normalised_in_place_once_and_never_by_a_second_normaliser():
    panel = _panel()
    first = fit_normalizer("zscore", panel.x, panel.segment_rows("train"), panel.features)
    normalize_in_place(panel, first)
    once = panel.x.copy()
    normalize_in_place(panel, first)
    np.testing.assert_array_equal(panel.x, once)
    with pytest.raises(StockcastError, match="already normalised by another normaliser"):
        normalize_in_place(panel, fit_normalizer("zscore", panel.x, panel.segment_rows("train"), panel.features))


@pytest.mark.parametrize("model", ["logreg", "lstm"])
def test_fit_then_predict_scores_every_usable_window_of_the_segment(model, tmp_path):
    panel = _panel()
    params = TrainParams(model=model, **PARAMS)
    fitted = fit(panel, params, 2, tmp_path)
    scored = predictions(fitted.model, panel, fitted.normalizer, params.seq_len, ("val", "test"))
    expected = np.concatenate([panel.window_ends(4, "val"), panel.window_ends(4, "test")])
    assert scored.select("ticker", "date").equals(panel.keys[expected].select("ticker", "date"))
    assert scored["prob"].is_between(0, 1).all()


@pytest.mark.parametrize("model", ["logreg", "gru"])
def test_walk_forward_leaves_the_raw_panel_as_it_was(model, tmp_path):
    panel = _panel()
    raw = panel.x.copy()
    fold = Fold(7, ("2020-01-01", "2020-02-29"), ("2020-03-05", "2020-03-20"), ("2020-03-25", "2020-04-29"))
    out = fold_predictions(panel, fold, TrainParams(model=model, **PARAMS), tmp_path)
    np.testing.assert_array_equal(panel.x, raw)
    assert out.height > 0 and str(out["date"].min()) >= "2020-03-25"
    assert set(out["segment"]) == {"test"}


def test_a_spilled_panel_reads_back_exactly_the_rows_asked_for(tmp_path):
    panel = _panel()
    raw, finite = panel.x.copy(), panel.finite_rows().copy()
    panel.spill(tmp_path)
    rows = np.array([0, 1, 2, 7, 8, 30, 31, 32, 33, len(raw) - 1])
    np.testing.assert_array_equal(panel.x[rows], raw[rows])
    np.testing.assert_array_equal(panel.x[rows, slice(1, 3)], raw[rows, 1:3])
    np.testing.assert_array_equal(panel.x[5:40], raw[5:40])
    np.testing.assert_array_equal(panel.finite_rows(), finite)
    with pytest.raises(IndexError, match="ascending"):
        panel.x[np.array([3, 2])]


@pytest.mark.parametrize("kind", ["zscore", "robust", "rank"])
def test_a_spilled_panel_fits_and_scores_as_the_one_in_memory(kind, tmp_path):
    params = TrainParams(model="lightgbm", normalize=kind, **PARAMS)
    memory, disk = _panel(), _panel()
    a = fit(memory, params, 2, tmp_path / "a")
    b = fit(disk, params, 2, tmp_path / "b", spill_dir=tmp_path)
    assert not isinstance(disk.x, np.ndarray) and isinstance(memory.x, np.ndarray)
    scored = [predictions(f.model, p, f.normalizer, 4, ("test",)) for f, p in ((a, memory), (b, disk))]
    assert scored[0].equals(scored[1])


def test_a_sequence_model_refuses_a_spilled_panel(tmp_path):
    panel = _panel()
    panel.spill(tmp_path)
    with pytest.raises(StockcastError, match="lstm reads whole windows"):
        fit(panel, TrainParams(model="lstm", **PARAMS), 2, tmp_path)


def test_each_walk_forward_fold_fits_its_normaliser_on_its_own_training_dates(tmp_path, monkeypatch):
    """Rule (leakage): a fold's normaliser sees the rows of the fold's train period and nothing else
    (not its val, test or embargo dates, nor the rows of the whole panel)."""
    seen: list[np.ndarray] = []
    real = fitting.fit_normalizer

    def spy(kind, x, rows, features):
        seen.append(rows.copy())
        return real(kind, x, rows, features)

    monkeypatch.setattr(fitting, "fit_normalizer", spy)
    panel = _panel()
    fold = Fold(7, ("2020-01-11", "2020-02-29"), ("2020-03-05", "2020-03-20"), ("2020-03-25", "2020-04-29"))
    fold_predictions(panel, fold, TrainParams(model="logreg", **PARAMS), tmp_path)
    dates = panel.keys["date"]
    expected = np.flatnonzero(dates.is_between(pl.date(2020, 1, 11), pl.date(2020, 2, 29)).to_numpy())
    assert len(seen) == 1
    np.testing.assert_array_equal(seen[0], expected)
