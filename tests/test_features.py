"""The feature registry: sets, families, names, lookbacks, params and the generated docs page."""

import warnings
from collections import Counter

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from stockcast.errors import StockcastError
from stockcast.features import compute, feature_set
from stockcast.features.bars import Bars, divide
from stockcast.features.docs import _row, render, write
from stockcast.features.registry import FAMILIES, Feature, all_features
from stockcast.params import load_section, parse_section

from .conftest import ROOT, random_bars

TALIB_NAMES = ["sma_5", "sma_10", "sma_20", "sma_50", "ema_5", "ema_10", "ema_20", "ema_50", "rsi_14", "macd",
               "macd_signal", "macd_hist", "bb_upper_20", "bb_lower_20", "atr_14", "obv", "roc_10", "stoch_k_14",
               "stoch_d_14", "willr_14", "cci_20", "adx_14", "mfi_14"]


def test_seed95_has_95_features_in_the_six_planned_families():
    families = Counter(f.family for f in feature_set("seed95"))
    assert families == {"price": 10, "technical": 40, "volume": 10, "momentum": 15, "volatility": 10, "pattern": 10}


def test_alpha158_is_9_kbar_4_price_and_29_operators_over_5_windows():
    features = feature_set("alpha158")
    assert Counter(f.family for f in features) == {"kbar": 9, "price": 4, "rolling": 29 * 5}
    assert {"KMID", "OPEN0", "VWAP0", "ROC5", "MA60", "RSQR20", "QTLU30", "IMXD10", "CORD60", "VSUMD5"} <= {
        f.name for f in features}


def test_basic_set_keeps_its_names():
    assert [f.name for f in feature_set("basic")] == [
        "logret_1", "logret_5", "logret_10", "logret_20", "oc_return", "close_sma_10", "close_sma_20",
        "close_sma_50", "log_volume_ratio_20", "hl_range", "realized_vol_20"]


def test_raw_talib_indicators_keep_their_usual_names():
    assert set(TALIB_NAMES) <= {f.name for f in feature_set("talib")}


def test_model_facing_sets_are_unitless():
    for name in ("basic", "seed95", "alpha158"):
        assert all(f.unitless for f in feature_set(name)), name


def test_names_are_unique_and_every_feature_is_in_a_set():
    features = all_features()
    assert len({f.name for f in features}) == len(features)
    assert all(f.sets and f.definition and f.family in FAMILIES for f in features)


def test_families_pick_a_subset_of_the_set_in_order():
    chosen = feature_set("seed95", ["volume", "pattern"])
    assert [f.name for f in chosen] == [f.name for f in feature_set("seed95") if f.family in ("volume", "pattern")]


def test_unknown_set_or_family_is_a_one_line_error_that_suggests():
    with pytest.raises(StockcastError, match=r"unknown set 'seed96' \(did you mean 'seed95'\?"):
        feature_set("seed96")
    with pytest.raises(StockcastError, match=r"unknown family 'volumes' \(did you mean 'volume'\?"):
        feature_set("seed95", ["volumes"])
    with pytest.raises(StockcastError, match=r"set 'basic' has no feature in \['pattern'\] "
                                             r"\(its families: price, technical, volatility, volume\)$"):
        feature_set("basic", ["pattern"])


def test_a_name_with_no_near_match_lists_every_known_one_and_guesses_none():
    with pytest.raises(StockcastError, match=r"unknown set 'zzzz' \(known: basic, seed95, alpha158, talib\)$"):
        feature_set("zzzz")
    with pytest.raises(StockcastError, match=r"unknown family 'qqqq' \(known: price, technical, volume, momentum, "
                                             r"volatility, pattern, kbar, rolling\)$"):
        feature_set("seed95", ["qqqq"])


def test_manifest_entry_is_everything_but_the_function():
    """The features stage writes describe() into the manifest that train and serve read back."""
    assert feature_set("basic")[0].describe() == {"name": "logret_1", "family": "price", "lookback": 1,
                                                  "definition": "log(close_t / close_(t-1))", "unitless": True}


def test_families_param_is_validated_against_the_registry():
    """stockcast.params only types the list; the registry judges the names (params_check and the stage)."""
    assert parse_section("features", {"set": "seed95", "families": ["price"]}).families == ["price"]
    assert parse_section("features", {"set": "seed95"}).families is None
    with pytest.raises(StockcastError, match=r"features\.families: unknown family 'pric' \(did you mean 'price'"):
        feature_set("seed95", parse_section("features", {"families": ["pric"]}).families)


def test_default_features_fit_inside_the_default_embargo():
    features, split = load_section("features", ROOT / "params.yaml"), load_section("split", ROOT / "params.yaml")
    lookback = max(f.lookback for f in feature_set(features.set, features.families))
    assert split.embargo_days >= split.horizon + lookback


def test_divide_gives_the_stated_value_where_the_denominator_is_zero_and_never_warns():
    """A flat window (no range, no spread, no volume) has a stated value, not NaN or inf."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = divide(np.array([3.0, 0.0, 2.0, 1.0]), np.array([2.0, 0.0, 0.0, 1.0]), 0.5)
    np.testing.assert_array_equal(got, [1.5, 0.5, 0.5, 1.0])


def test_lookback_is_exactly_the_warm_up():
    """On an ordinary history each feature is NaN for its first `lookback` rows and finite after."""
    bars = random_bars({"AAA": 200}, seed=3)
    b = Bars(*(bars[c].cast(pl.Float64).to_numpy() for c in ("open", "high", "low", "close", "volume")))
    with np.errstate(all="ignore"):
        for f in all_features():
            finite = np.isfinite(np.asarray(f.fn(b), dtype=np.float64))
            assert not finite[: f.lookback].any() and finite[f.lookback:].all(), f.name


def test_basic_set_values_are_unchanged():
    """The basic set as first written with polars expressions, per ticker."""
    bars = random_bars({"AAA": 120, "BBB": 90}, seed=5)
    close, volume = pl.col("close"), pl.col("volume").cast(pl.Float64)
    reference = {
        **{f"logret_{n}": (close / close.shift(n)).log() for n in (1, 5, 10, 20)},
        **{f"close_sma_{n}": close / close.rolling_mean(n, min_samples=n) - 1 for n in (10, 20, 50)},
        "oc_return": (close / pl.col("open")).log(),
        "hl_range": (pl.col("high") - pl.col("low")) / close,
        "realized_vol_20": (close / close.shift(1)).log().rolling_std(20, min_samples=20),
        "log_volume_ratio_20": (volume / volume.rolling_mean(20, min_samples=20)).log(),
    }
    expected = bars.sort("ticker", "date").select(
        "ticker", "date", *(expr.over("ticker").cast(pl.Float32).alias(name) for name, expr in reference.items()))
    got = compute(bars, feature_set("basic")).select(expected.columns)
    assert_frame_equal(got, expected, check_exact=False, rel_tol=1e-5, abs_tol=1e-6)


def test_features_doc_is_current():
    """docs/features.md is what `stockcast features-doc` writes today; rerun it after changing a feature."""
    assert (ROOT / "docs" / "features.md").read_text() == render()


def test_features_doc_is_written_into_a_new_folder_and_rewritten_in_place(tmp_path):
    page = tmp_path / "new" / "docs" / "features.md"
    assert write(page) == page and write(page) == page  # the folder is made once, then reused
    assert page.read_text() == (ROOT / "docs" / "features.md").read_text()


def test_a_pipe_in_a_definition_cannot_break_the_markdown_table():
    planted = Feature("planted", "price", 2, "max(a|b)", True, ("basic", "seed95"), lambda b: b.close)
    assert _row(planted) == "| `planted` | basic, seed95 | 2 | yes | max(a\\|b) |"
