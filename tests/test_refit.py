"""train.refit: train_val: after selection on val, the final model is fitted again on exactly the train
and val windows (never a test or an embargo row), for the length selection chose, with its normaliser
fitted again on the train and val rows."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from sklearn.linear_model import LogisticRegression

from stockcast import train
from stockcast.dataset import Panel, WindowDataset
from stockcast.fitting import fit, train_val_segments, trainable
from stockcast.params import TrainParams
from stockcast.scoring import predictions

SEGMENTS = ["train"] * 60 + ["embargo"] * 6 + ["val"] * 24 + ["embargo"] * 6 + ["test"] * 24
PARAMS = {"seq_len": 4, "hidden_size": 8, "num_layers": 1, "epochs": 3, "patience": 3, "batch_size": 64,
          "device": "cpu"}


def _panel(seed: int = 0) -> Panel:
    """Three tickers over the segments above; test and embargo rows carry features far from the rest,
    so a statistic or a fit that touched one of them would show it."""
    rng = np.random.default_rng(seed)
    days = len(SEGMENTS)
    dates = pl.date_range(pl.date(2020, 1, 1), pl.date(2020, 1, 1) + pl.duration(days=days - 1), eager=True)
    keys = pl.concat([pl.DataFrame({"ticker": f"T{t}", "date": dates, "segment": SEGMENTS}) for t in range(3)])
    x = rng.normal(0, 1, (keys.height, 3)).astype(np.float32)
    y = (x[:, 0] + rng.normal(0, 1, keys.height) > 0).astype(np.float32)
    x[::13, 2] = np.nan  # warm-up holes: no window over them
    outside = keys["segment"].is_in(["test", "embargo"]).to_numpy()
    x[outside] += 100.0
    keys = keys.with_columns(label=pl.Series(y.astype(np.int8)), fwd_return=pl.lit(0.0), next_return=pl.lit(0.0))
    return Panel(keys, x, y, ["a", "b", "c"])


def _train_and_val_windows(panel: Panel, seq_len: int) -> np.ndarray:
    return np.sort(np.concatenate([panel.window_ends(seq_len, "train"), panel.window_ends(seq_len, "val")]))


def test_val_joins_train_and_both_embargoes_stay():
    merged = train_val_segments(pl.Series(SEGMENTS)).to_list()
    assert merged == ["train"] * 60 + ["embargo"] * 6 + ["train"] * 24 + ["embargo"] * 6 + ["test"] * 24


@pytest.mark.parametrize("model", ["logreg", "lightgbm", "lstm"])
def test_refit_fits_exactly_the_train_and_val_windows(model, tmp_path):
    panel = _panel()
    raw = panel.x.copy()
    expected = _train_and_val_windows(panel, 4)
    fitted = fit(panel, TrainParams(model=model, refit="train_val", **PARAMS), 2, tmp_path)

    assert list(fitted.rows) == ["train"]
    np.testing.assert_array_equal(fitted.rows["train"], expected)
    assert set(panel.keys["segment"].gather(fitted.rows["train"])) == {"train", "val"}
    assert fitted.refit["windows"] == len(expected)
    assert fitted.refit["selection_windows"] == {"train": len(panel.window_ends(4, "train")),
                                                 "val": len(panel.window_ends(4, "val"))}
    assert (fitted.refit["first_date"], fitted.refit["last_date"]) == ("2020-01-04", "2020-03-30")
    # the normaliser: the train and val rows' statistics (all of them, not only window ends), nothing else
    fitted_rows = np.flatnonzero(panel.keys["segment"].is_in(["train", "val"]).to_numpy())
    np.testing.assert_allclose(fitted.normalizer.center, np.nanmean(raw[fitted_rows].astype(np.float64), axis=0))
    np.testing.assert_allclose(fitted.normalizer.scale, np.nanstd(raw[fitted_rows].astype(np.float64), axis=0))


def test_the_refit_logistic_regression_is_the_one_fitted_on_train_and_val_alone(tmp_path):
    panel = _panel()
    raw = panel.x.copy()
    params = TrainParams(model="logreg", refit="train_val", **PARAMS)
    fitted = fit(panel, params, 2, tmp_path)
    rows = _train_and_val_windows(panel, 4)
    fit_rows = np.flatnonzero(panel.keys["segment"].is_in(["train", "val"]).to_numpy())
    mean, std = np.nanmean(raw[fit_rows], axis=0), np.nanstd(raw[fit_rows], axis=0)
    direct = LogisticRegression(C=params.logreg.c, max_iter=params.logreg.max_iter,
                                random_state=params.seed).fit((raw[rows] - mean) / std, panel.y[rows])
    np.testing.assert_allclose(fitted.model.coef, direct.coef_[0], rtol=1e-4, atol=1e-6)
    assert fitted.refit["length"] == {"max_iter": params.logreg.max_iter}


def test_the_refit_keeps_the_selection_fit_and_its_scores(tmp_path):
    """The val scores that chose the model stay those of the fit on train alone."""
    params = TrainParams(model="lightgbm", **PARAMS)
    selected = fit(_panel(), params, 2, tmp_path / "a")
    refit = fit(_panel(), params.model_copy(update={"refit": "train_val"}), 2, tmp_path / "b")
    assert refit.result.best == selected.result.best and refit.result.best_epoch == selected.result.best_epoch
    assert selected.refit == {"mode": "none"}
    rounds = selected.result.best_epoch + 1
    assert refit.refit["length"] == {"boosting_rounds": rounds} and refit.model.booster.num_trees() == rounds
    assert not np.array_equal(refit.model.booster.predict(selected.windows.rows("val")[0]),
                              selected.model.booster.predict(selected.windows.rows("val")[0]))


def test_a_refit_net_trains_the_epochs_early_stopping_chose_and_scores_test(tmp_path):
    panel = _panel()
    fitted = fit(panel, TrainParams(model="lstm", refit="train_val", **PARAMS), 2, tmp_path)
    assert fitted.refit["length"] == {"epochs": fitted.result.best_epoch + 1}
    np.testing.assert_array_equal(fitted.windows.ends["train"], _train_and_val_windows(panel, 4))
    scored = predictions(fitted.model, panel, fitted.normalizer, 4, ("test",))
    assert scored.height == len(panel.window_ends(4, "test")) and scored["prob"].is_between(0, 1).all()


def test_fit_epochs_runs_exactly_the_epochs_asked_and_keeps_the_last_weights(tmp_path):
    panel = _panel()
    params = TrainParams(model="gru", **PARAMS)
    model = trainable("gru", 3, params)
    before = {k: v.clone() for k, v in model.net.state_dict().items()}
    data = panel.x - np.nanmean(panel.x, axis=0)
    history = train.fit_epochs(model.net, WindowDataset(data, panel.y, panel.window_ends(4, "train"), 4), params, 2,
                               tmp_path)
    assert len(history) == 2 and all(np.isfinite(h["train_loss"]) for h in history)
    assert any(not (before[k] == v).all() for k, v in model.net.state_dict().items())


def test_an_ensemble_refits_each_member_for_its_own_length(tmp_path):
    params = TrainParams(model="ensemble", refit="train_val", ensemble={"members": ["logreg", "lightgbm"]}, **PARAMS)
    fitted = fit(_panel(), params, 2, tmp_path)
    members = fitted.result.members
    assert fitted.refit["length"] == {"logreg": {"max_iter": params.logreg.max_iter},
                                      "lightgbm": {"boosting_rounds": members["lightgbm"].best_epoch + 1}}
    assert fitted.model.members["lightgbm"].booster.num_trees() == members["lightgbm"].best_epoch + 1
