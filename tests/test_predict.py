"""The predict stage and stockcast.predict: tomorrow's signals are the pipeline's own numbers.

The rule: features are causal and the model reads the window that ends at a ticker's last bar, so
the signal computed from bars cut at date t is the probability the evaluate stage scored at t. The
tests cut a prepared project's history at test dates and compare with its predictions file, both
from the features table and from raw bars (quality and features on the fly), for a sequence model,
a tabular one, a three-class one and the rank normaliser. Tickers that cannot be scored keep their
row with the reason.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from stockcast.errors import StockcastError
from stockcast.predict import Scorer
from stockcast.schemas import Signals

from .stages import run_stage, set_params
from .trained import cut_dates, prepare, trained


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> Path:
    return prepare(tmp_path_factory.mktemp("predict") / "project")


def _assert_signals_match_predictions(folder: Path, model: str) -> None:
    scorer = Scorer.load(folder / "models" / model)
    features = pl.read_parquet(folder / "data/features/features.parquet")
    raw = pl.read_parquet(folder / "data/raw/ohlcv.parquet")
    predictions = pl.read_parquet(folder / "data/predictions/predictions.parquet")
    probability = [c for c in ("prob", "prob_down", "prob_flat") if c in predictions.columns]
    for cut in cut_dates(predictions):
        expected = predictions.filter(pl.col("date") == cut).select("ticker", *probability).sort("ticker")
        from_table = scorer.signals(features.filter(pl.col("date") <= cut))
        from_bars, quarantined = scorer.score_bars(raw.filter(pl.col("date") <= cut))
        assert quarantined.is_empty()
        for signals in (from_table, from_bars):
            got = signals.filter(pl.col("as_of") == cut).select("ticker", *probability).sort("ticker")
            assert got["ticker"].to_list() == expected["ticker"].to_list()
            for column in probability:
                np.testing.assert_allclose(got[column].to_numpy(), expected[column].to_numpy(), atol=1e-6)


def test_lstm_signals_are_the_probabilities_evaluate_scored(prepared, tmp_path):
    _assert_signals_match_predictions(trained(prepared, tmp_path, model="lstm"), "lstm")


def test_lightgbm_signals_with_rank_normalisation_match_evaluate(prepared, tmp_path):
    folder = trained(prepared, tmp_path, model="lightgbm", normalize="rank")
    _assert_signals_match_predictions(folder, "lightgbm")


def test_three_class_signals_carry_every_class_and_call_the_likeliest(prepared, tmp_path):
    folder = shutil.copytree(prepared, tmp_path / "flat")
    set_params(folder, {"split": {"dead_zone": 0.003, "dead_zone_mode": "flat"}})
    run_stage(folder, "split")
    folder = trained(folder, tmp_path / "t", model="logreg")
    _assert_signals_match_predictions(folder, "logreg")
    signals = Scorer.load(folder / "models/logreg").signals(pl.read_parquet(folder / "data/features/features.parquet"))
    proba = signals.select("prob_down", "prob", "prob_flat").to_numpy()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-5)
    assert signals["call"].to_list() == [("down", "up", "flat")[i] for i in proba.argmax(axis=1)]


def test_the_predict_stage_lists_every_ticker_with_ranks_stale_flags_and_reasons(prepared, tmp_path):
    folder = trained(prepared, tmp_path, model="lstm")
    features = pl.read_parquet(folder / "data/features/features.parquet")
    last = features["date"].max()
    tickers = features["ticker"].unique().sort().to_list()
    stale, gappy, short = tickers[:3]
    window_date = features.filter(pl.col("ticker") == gappy)["date"].sort()[-3]
    # one ticker ends 30 sessions early, one has a NaN inside its latest window, one has 8 rows only
    dates_of = features.filter(pl.col("ticker") == stale)["date"].sort()
    edited = pl.concat([
        features.filter(pl.col("ticker") == stale).filter(pl.col("date") <= dates_of[-31]),
        features.filter(pl.col("ticker") == gappy).with_columns(
            pl.when(pl.col("date") == window_date).then(None).otherwise(pl.col("logret_5")).alias("logret_5")),
        features.filter(pl.col("ticker") == short).head(8),
        features.filter(~pl.col("ticker").is_in([stale, gappy, short])),
    ]).sort("ticker", "date")
    edited.write_parquet(folder / "data/features/features.parquet")
    quarantine = pl.read_parquet(folder / "data/quarantine/ohlcv.parquet")
    ghost = quarantine.head(0).vstack(pl.read_parquet(folder / "data/raw/ohlcv.parquet").head(1).with_columns(
        ticker=pl.lit("ZZZ"), rule=pl.lit("short_history"), broken=pl.lit(["short_history"]),
        detail=pl.lit("1 row")).select(quarantine.columns))
    ghost.write_parquet(folder / "data/quarantine/ohlcv.parquet")

    run_stage(folder, "predict", "models/lstm")
    signals = pl.read_parquet(folder / "data/signals/latest.parquet")
    Signals.validate(signals)
    assert signals["ticker"].to_list() == sorted([*tickers, "ZZZ"])
    csv = pl.read_csv(folder / "data/signals/latest.csv", try_parse_dates=True)
    assert csv.select("ticker", "as_of", "call", "reason").equals(signals.select("ticker", "as_of", "call", "reason"))
    np.testing.assert_allclose(csv["prob"].to_numpy().astype(float), signals["prob"].to_numpy().astype(float), atol=1e-7)
    reason = dict(signals.select("ticker", "reason").iter_rows())
    assert reason[gappy] == f"NaN in feature logret_5 on {window_date}, inside the latest window of 5 sessions"
    assert reason[short] == ("too short a history: 8 sessions, the model needs 54 (feature warm-up 49 + window 5)")
    assert reason["ZZZ"] == "every bar quarantined by quality (short_history)"
    scored = signals.filter(pl.col("reason").is_null())
    assert set(scored["ticker"]) == set(tickers) - {gappy, short}
    row = dict(zip(scored.columns, scored.filter(pl.col("ticker") == stale).row(0)))
    assert (row["as_of"], row["stale"]) == (dates_of[-31], True)
    ends = dict(features.group_by("ticker").agg(pl.col("date").max()).iter_rows())  # some synthetic tickers delist
    others = scored.filter(pl.col("ticker") != stale)
    assert others["as_of"].to_list() == [ends[t] for t in others["ticker"]]
    assert others["stale"].to_list() == [ends[t] < last for t in others["ticker"]]
    current = scored.filter(pl.col("as_of") == last).sort("prob", descending=True)
    assert current["rank"].to_list() == list(range(1, current.height + 1))
    assert scored["call"].to_list() == ["up" if p > 0.5 else "down" for p in scored["prob"]]
    assert signals["model_hash"].unique().to_list() == [Scorer.load(folder / "models/lstm").hash]


def test_scoring_raw_bars_names_quarantined_and_short_tickers(prepared, tmp_path):
    folder = trained(prepared, tmp_path, model="lstm")
    scorer = Scorer.load(folder / "models/lstm")
    raw = pl.read_parquet(folder / "data/raw/ohlcv.parquet")
    tickers = raw["ticker"].unique().sort().to_list()
    bad_day = raw.filter(pl.col("ticker") == tickers[0])["date"].sort()[-2]
    bars = pl.concat([
        raw.filter(pl.col("ticker") == tickers[0]).with_columns(
            pl.when(pl.col("date") == bad_day).then(float("nan")).otherwise(pl.col("close")).alias("close")),
        raw.filter(pl.col("ticker") == tickers[1]).tail(scorer.min_rows - 1),
        raw.filter(pl.col("ticker") == tickers[2]).tail(scorer.min_rows),
    ])
    signals, quarantined = scorer.score_bars(bars)
    reason = dict(signals.select("ticker", "reason").iter_rows())
    assert reason[tickers[0]] == f"1 bar(s) quarantined by quality, the first on {bad_day} (non_finite_value)"
    assert reason[tickers[1]].startswith(f"too short a history: {scorer.min_rows - 1} sessions")
    assert reason[tickers[2]] is None  # exactly lookback + seq_len bars are enough
    assert quarantined["rule"].to_list() == ["non_finite_value"]


def test_a_features_table_without_the_models_features_is_a_one_line_error(prepared, tmp_path):
    folder = trained(prepared, tmp_path, model="lstm")
    features = pl.read_parquet(folder / "data/features/features.parquet").drop("logret_5")
    with pytest.raises(StockcastError, match="lacks column 'logret_5'"):
        Scorer.load(folder / "models/lstm").signals(features)
