"""Every seed95 feature pinned by value: each expected column is computed here, independently of
stockcast.features, from TA-Lib where the feature is a TA-Lib indicator and from its written
definition (docs/features.md) with numpy/pandas otherwise, on two hand-sized random tickers (one
with a flat bar, high == low, where the "0 when high == low" conventions apply)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import polars as pl
import pytest
import talib

from stockcast.features import compute, feature_set

from .conftest import random_bars


def _shift(x: np.ndarray, n: int) -> np.ndarray:
    return pd.Series(x).shift(n).to_numpy()


def _roll(x: np.ndarray, n: int) -> pd.core.window.Rolling:
    return pd.Series(x).rolling(n, min_periods=n)


def _safe_div(num: np.ndarray, den: np.ndarray, when_zero: float) -> np.ndarray:
    with np.errstate(all="ignore"):
        return np.where(den == 0, when_zero, num / den)


def _clv(h, low, c):
    return _safe_div((c - low) - (h - c), h - low, 0.0)


def _logret(c):
    return np.log(c / _shift(c, 1))


def _realized(c, n):
    return _roll(_logret(c), n).std(ddof=1).to_numpy()


def _mom_z(c):
    sd = _roll(_logret(c), 20).std(ddof=1).to_numpy()
    return _safe_div(np.log(c / _shift(c, 20)), math.sqrt(20) * sd, 0.0)


def _volume_z(v):
    x = np.log1p(v)
    mean, sd = _roll(x, 20).mean().to_numpy(), _roll(x, 20).std(ddof=0).to_numpy()
    return _safe_div(x - mean, sd, 0.0)


def _obv_flow(c, v):
    signed = np.sign(c - _shift(c, 1)) * v  # the OBV's change at each session
    return _roll(signed, 20).sum().to_numpy() / _roll(v, 20).sum().to_numpy()


def _yang_zhang(o, c, h, low):
    k = 0.34 / (1.34 + 21 / 19)
    overnight = np.log(o / _shift(c, 1))
    rs = np.log(h / c) * np.log(h / o) + np.log(low / c) * np.log(low / o)
    rs = np.where(np.isnan(overnight), np.nan, rs)
    var_o = _roll(overnight, 20).var(ddof=1).to_numpy()
    var_c = _roll(np.where(np.isnan(overnight), np.nan, np.log(c / o)), 20).var(ddof=1).to_numpy()
    return np.sqrt(var_o + k * var_c + (1 - k) * _roll(rs, 20).mean().to_numpy())


def _breakout(c, h, low):
    top = _shift(_roll(h, 20).max().to_numpy(), 1)
    bottom = _shift(_roll(low, 20).min().to_numpy(), 1)
    return np.where(np.isnan(top), np.nan, np.where(c > top, 1.0, np.where(c < bottom, -1.0, 0.0)))


def _r2(c):
    y = pd.Series(np.log(c))
    return pd.Series(np.arange(len(c), dtype=float)).rolling(20, min_periods=20).corr(y).to_numpy() ** 2


def _candle(values: np.ndarray, warm_up: int) -> np.ndarray:
    out = values.astype(float) / 100
    out[:warm_up] = np.nan
    return out


def _of_close(f, n: int):
    """f(close, n) as a feature of (open, high, low, close, volume)."""
    return lambda o, h, low, c, v: f(c, n)


def _bollinger(c):
    """(%B, width) of Bollinger(20, 2): %B is 0.5 where the bands touch."""
    upper, middle, lower = T.BBANDS(c, **BBANDS)
    return _safe_div(c - lower, upper - lower, 0.5), (upper - lower) / middle


MACD = {"fastperiod": 12, "slowperiod": 26, "signalperiod": 9}
BBANDS = {"timeperiod": 20, "nbdevup": 2.0, "nbdevdn": 2.0, "matype": 0}
STOCH = {"fastk_period": 14, "slowk_period": 3, "slowk_matype": 0, "slowd_period": 3, "slowd_matype": 0}
T = talib
EXPECTED = {  # name -> f(open, high, low, close, volume) on one ticker's float64 arrays, oldest first
    # price
    **{f"logret_{n}": _of_close(lambda c, n: np.log(c / _shift(c, n)), n) for n in (1, 5, 10, 20, 60)},
    "oc_return": lambda o, h, low, c, v: np.log(c / o),
    "gap_return": lambda o, h, low, c, v: np.log(o / _shift(c, 1)),
    "upper_shadow": lambda o, h, low, c, v: (h - np.maximum(o, c)) / c,
    "lower_shadow": lambda o, h, low, c, v: (np.minimum(o, c) - low) / c,
    "close_location": lambda o, h, low, c, v: _clv(h, low, c),
    # technical
    **{f"close_sma_{n}": _of_close(lambda c, n: c / T.SMA(c, n) - 1, n) for n in (5, 10, 20, 50)},
    **{f"close_ema_{n}": _of_close(lambda c, n: c / T.EMA(c, n) - 1, n) for n in (5, 10, 20, 50)},
    "close_wma_20": lambda o, h, low, c, v: c / T.WMA(c, 20) - 1,
    "close_dema_20": lambda o, h, low, c, v: c / T.DEMA(c, 20) - 1,
    "close_tema_20": lambda o, h, low, c, v: c / T.TEMA(c, 20) - 1,
    "close_trima_20": lambda o, h, low, c, v: c / T.TRIMA(c, 20) - 1,
    "close_kama_30": lambda o, h, low, c, v: c / T.KAMA(c, 30) - 1,
    "close_midpoint_14": lambda o, h, low, c, v: c / T.MIDPOINT(c, 14) - 1,
    "close_t3_5": lambda o, h, low, c, v: c / T.T3(c, 5, 0.7) - 1,
    "sma_5_20": lambda o, h, low, c, v: T.SMA(c, 5) / T.SMA(c, 20) - 1,
    "sma_20_50": lambda o, h, low, c, v: T.SMA(c, 20) / T.SMA(c, 50) - 1,
    "ema_20_roc_5": lambda o, h, low, c, v: T.EMA(c, 20) / _shift(T.EMA(c, 20), 5) - 1,
    "close_linreg_14": lambda o, h, low, c, v: c / T.LINEARREG(c, 14) - 1,
    **{f"rsi_{n}": _of_close(T.RSI, n) for n in (6, 14, 28)},
    "macd_norm": lambda o, h, low, c, v: T.MACD(c, **MACD)[0] / c,
    "macd_signal_norm": lambda o, h, low, c, v: T.MACD(c, **MACD)[1] / c,
    "macd_hist_norm": lambda o, h, low, c, v: T.MACD(c, **MACD)[2] / c,
    "bb_percent_20": lambda o, h, low, c, v: _bollinger(c)[0],
    "bb_width_20": lambda o, h, low, c, v: _bollinger(c)[1],
    "natr_14": lambda o, h, low, c, v: T.NATR(h, low, c, 14),
    "keltner_position_20": lambda o, h, low, c, v: (c - T.EMA(c, 20)) / (2 * T.ATR(h, low, c, 10)),
    "cci_20": lambda o, h, low, c, v: T.CCI(h, low, c, 20),
    "adx_14": lambda o, h, low, c, v: T.ADX(h, low, c, 14),
    "adxr_14": lambda o, h, low, c, v: T.ADXR(h, low, c, 14),
    "plus_di_14": lambda o, h, low, c, v: T.PLUS_DI(h, low, c, 14),
    "minus_di_14": lambda o, h, low, c, v: T.MINUS_DI(h, low, c, 14),
    "aroon_osc_25": lambda o, h, low, c, v: T.AROONOSC(h, low, 25),
    "sar_distance": lambda o, h, low, c, v: c / T.SAR(h, low, 0.02, 0.2) - 1,
    "donchian_width_20": lambda o, h, low, c, v: (T.MAX(h, 20) - T.MIN(low, 20)) / c,
    "tenkan_distance_9": lambda o, h, low, c, v: c / T.MIDPRICE(h, low, 9) - 1,
    "kijun_distance_26": lambda o, h, low, c, v: c / T.MIDPRICE(h, low, 26) - 1,
    "tenkan_kijun": lambda o, h, low, c, v: T.MIDPRICE(h, low, 9) / T.MIDPRICE(h, low, 26) - 1,
    # volume
    "log_volume_ratio_5": lambda o, h, low, c, v: np.log(v / _roll(v, 5).mean().to_numpy()),
    "log_volume_ratio_20": lambda o, h, low, c, v: np.log(v / _roll(v, 20).mean().to_numpy()),
    "log_volume_5_20": lambda o, h, low, c, v: np.log(_roll(v, 5).mean().to_numpy() / _roll(v, 20).mean().to_numpy()),
    "volume_z_20": lambda o, h, low, c, v: _volume_z(v),
    "vwap_distance_20": lambda o, h, low, c, v: c / (_roll((h + low + c) / 3 * v, 20).sum().to_numpy()
                                                     / _roll(v, 20).sum().to_numpy()) - 1,
    "obv_flow_20": lambda o, h, low, c, v: _obv_flow(c, v),
    "cmf_20": lambda o, h, low, c, v: _roll(_clv(h, low, c) * v, 20).sum().to_numpy() / _roll(v, 20).sum().to_numpy(),
    "mfi_14": lambda o, h, low, c, v: T.MFI(h, low, c, v, 14),
    "adosc_norm": lambda o, h, low, c, v: T.ADOSC(h, low, c, v, 3, 10) / _roll(v, 10).mean().to_numpy(),
    "pv_corr_20": lambda o, h, low, c, v: T.CORREL(c, v, 20),
    # momentum
    **{f"roc_{n}": _of_close(lambda c, n: 100 * (c / _shift(c, n) - 1), n) for n in (5, 10, 20)},
    "stoch_k_14": lambda o, h, low, c, v: T.STOCH(h, low, c, **STOCH)[0],
    "stoch_d_14": lambda o, h, low, c, v: T.STOCH(h, low, c, **STOCH)[1],
    "stochf_k_14": lambda o, h, low, c, v: T.STOCHF(h, low, c, 14, 3)[0],
    "stochrsi_14": lambda o, h, low, c, v: T.STOCHRSI(c, 14, 5, 3)[0],
    "willr_14": lambda o, h, low, c, v: T.WILLR(h, low, c, 14),
    "cmo_14": lambda o, h, low, c, v: T.CMO(c, 14),
    "ultosc": lambda o, h, low, c, v: T.ULTOSC(h, low, c, 7, 14, 28),
    "trix_15": lambda o, h, low, c, v: T.TRIX(c, 15),
    "ppo_12_26": lambda o, h, low, c, v: 100 * (T.EMA(c, 12) - T.EMA(c, 26)) / T.EMA(c, 26),
    "bop": lambda o, h, low, c, v: _safe_div(c - o, h - low, 0.0),
    "mom_60_5": lambda o, h, low, c, v: np.log(_shift(c, 5) / _shift(c, 60)),
    "mom_z_20": lambda o, h, low, c, v: _mom_z(c),
    # volatility
    "hl_range": lambda o, h, low, c, v: (h - low) / c,
    **{f"realized_vol_{n}": _of_close(_realized, n) for n in (5, 20, 60)},
    "parkinson_vol_20": lambda o, h, low, c, v: np.sqrt(_roll(np.log(h / low) ** 2, 20).mean().to_numpy()
                                                        / (4 * math.log(2))),
    "garman_klass_vol_20": lambda o, h, low, c, v: np.sqrt(_roll(
        0.5 * np.log(h / low) ** 2 - (2 * math.log(2) - 1) * np.log(c / o) ** 2, 20).mean().to_numpy()),
    "rogers_satchell_vol_20": lambda o, h, low, c, v: np.sqrt(_roll(
        np.log(h / c) * np.log(h / o) + np.log(low / c) * np.log(low / o), 20).mean().to_numpy()),
    "yang_zhang_vol_20": lambda o, h, low, c, v: _yang_zhang(o, c, h, low),
    "downside_vol_20": lambda o, h, low, c, v: np.sqrt(_roll(np.minimum(_logret(c), 0) ** 2, 20).mean().to_numpy()),
    "vol_ratio_5_60": lambda o, h, low, c, v: _realized(c, 5) / _realized(c, 60),
    # pattern
    "support_distance_20": lambda o, h, low, c, v: c / _roll(low, 20).min().to_numpy() - 1,
    "resistance_distance_20": lambda o, h, low, c, v: c / _roll(h, 20).max().to_numpy() - 1,
    "support_distance_60": lambda o, h, low, c, v: c / _roll(low, 60).min().to_numpy() - 1,
    "resistance_distance_60": lambda o, h, low, c, v: c / _roll(h, 60).max().to_numpy() - 1,
    "breakout_20": lambda o, h, low, c, v: _breakout(c, h, low),
    "trend_slope_20": lambda o, h, low, c, v: T.LINEARREG_SLOPE(np.log(c), 20),
    "trend_r2_20": lambda o, h, low, c, v: _r2(c),
    "trend_residual_20": lambda o, h, low, c, v: np.log(c) - T.LINEARREG(np.log(c), 20),
    "cdl_engulfing": lambda o, h, low, c, v: _candle(T.CDLENGULFING(o, h, low, c), 2),
    "cdl_doji": lambda o, h, low, c, v: _candle(T.CDLDOJI(o, h, low, c), 10),
}


@pytest.fixture(scope="module")
def bars() -> pl.DataFrame:
    bars = random_bars({"AAA": 130, "BBB": 100}, seed=21)
    flat = (pl.col("ticker") == "BBB") & (pl.int_range(pl.len()).over("ticker") == 70)  # a bar with high == low
    return bars.with_columns(pl.when(flat).then(pl.col("close")).otherwise(pl.col(c)).alias(c)
                             for c in ("open", "high", "low"))


def ours(bars: pl.DataFrame, name: str) -> pl.DataFrame:
    """Only the feature under test, computed inside the test (not in a shared fixture), so a mutation
    tool that runs the tests reaching a function finds the test that checks it."""
    return compute(bars, [f for f in feature_set("seed95") if f.name == name])


def test_every_seed95_feature_has_an_expected_value():
    assert list(EXPECTED) == [f.name for f in feature_set("seed95")]


@pytest.mark.parametrize("name", list(EXPECTED))
def test_seed95_feature_values(name: str, bars: pl.DataFrame):
    """Rule: each feature is its written definition, value by value, with the same warm-up."""
    table = ours(bars, name)
    for (ticker,), rows in bars.sort("ticker", "date").partition_by("ticker", as_dict=True).items():
        arrays = [rows[c].cast(pl.Float64).to_numpy() for c in ("open", "high", "low", "close", "volume")]
        with np.errstate(all="ignore"):
            expected = np.asarray(EXPECTED[name](*arrays), dtype=float)
        got = table.filter(pl.col("ticker") == ticker)[name].to_numpy().astype(float)
        assert np.array_equal(np.isnan(got), np.isnan(expected)), (ticker, name, "warm-up or NaN differs")
        ok = ~np.isnan(expected)
        assert ok.sum() >= 30, (ticker, name, "too few values to pin")
        np.testing.assert_allclose(got[ok], expected[ok], rtol=1e-5, atol=1e-6, err_msg=f"{ticker} {name}")
