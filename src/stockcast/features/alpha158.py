"""qlib's Alpha158: 9 K-bar features, 4 price ratios and 29 rolling operators x windows 5/10/20/30/60.

Names and formulas follow qlib's `Alpha158DL.get_feature_config` (qlib/contrib/data/loader.py),
quoted in each definition. Where this departs from qlib, and why:
- Warm-up: qlib's rolling operators use min_periods=1, so early rows are computed from partial
  windows; here a window must be full, and the first rows of each ticker are null.
- VWAP0: daily bars carry no intraday VWAP; the typical price (H + L + C) / 3 stands in for it.
- RANK is the percentile in [0, 1] (scipy `percentileofscore(kind="rank") / 100`, ties averaged);
  some qlib versions divide by the window length instead of 100.
- RSQR and CORR/CORD are 0 (TA-Lib CORREL) rather than NaN when a window is flat.
- IMAX/IMIN break ties as TA-Lib MAXINDEX/MININDEX do (qlib: the oldest of equal values).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import numpy as np
import polars as pl
import talib
from numpy.lib.stride_tricks import sliding_window_view

from stockcast.features.bars import Bars, lag
from stockcast.features.registry import register

WINDOWS = (5, 10, 20, 30, 60)
EPS = 1e-12  # qlib's guard in denominators


# Runs only at import, before a mutation tool can switch a mutant on: its mutants could never be
# killed, and the registry tests (names, lookbacks, values) check what it registers.
def _kbar(name: str, qlib: str, fn: Callable[[Bars], np.ndarray]) -> None:  # pragma: no mutate block
    register(name, "kbar", 0, qlib, ("alpha158",))(fn)


_kbar("KMID", "($close-$open)/$open", lambda b: (b.close - b.open) / b.open)
_kbar("KLEN", "($high-$low)/$open", lambda b: (b.high - b.low) / b.open)
_kbar("KMID2", "($close-$open)/($high-$low+1e-12)", lambda b: (b.close - b.open) / (b.high - b.low + EPS))
_kbar("KUP", "($high-Greater($open, $close))/$open", lambda b: (b.high - np.maximum(b.open, b.close)) / b.open)
_kbar("KUP2", "($high-Greater($open, $close))/($high-$low+1e-12)",
      lambda b: (b.high - np.maximum(b.open, b.close)) / (b.high - b.low + EPS))
_kbar("KLOW", "(Less($open, $close)-$low)/$open", lambda b: (np.minimum(b.open, b.close) - b.low) / b.open)
_kbar("KLOW2", "(Less($open, $close)-$low)/($high-$low+1e-12)",
      lambda b: (np.minimum(b.open, b.close) - b.low) / (b.high - b.low + EPS))
_kbar("KSFT", "(2*$close-$high-$low)/$open", lambda b: (2 * b.close - b.high - b.low) / b.open)
_kbar("KSFT2", "(2*$close-$high-$low)/($high-$low+1e-12)",
      lambda b: (2 * b.close - b.high - b.low) / (b.high - b.low + EPS))

for _field in ("open", "high", "low"):
    register(f"{_field.upper()}0", "price", 0, f"${_field}/$close", ("alpha158",))(
        lambda b, field=_field: getattr(b, field) / b.close)
register("VWAP0", "price", 0, "$vwap/$close, vwap = typical price (H + L + C) / 3", ("alpha158",))(
    lambda b: b.typical / b.close)


# --- rolling operators: windows over one ticker's rows -------------------------------------------

def quantile(x: np.ndarray, d: int, q: float) -> np.ndarray:
    """Rolling q-quantile over d rows, linear interpolation (pandas' and qlib's default)."""
    return pl.Series(x).rolling_quantile(q, "linear", window_size=d).to_numpy()


def rank(x: np.ndarray, d: int) -> np.ndarray:
    """Percentile of x_t among the last d values, ties averaged: (#below + #at-or-below + 1) / (2 d)."""
    out = np.full_like(x, np.nan)
    if len(x) >= d:
        window, last = sliding_window_view(x, d), x[d - 1:, None]
        out[d - 1:] = ((window < last).sum(axis=1) + (window <= last).sum(axis=1) + 1) / (2 * d)
    return out


def index_in_window(index: np.ndarray, d: int) -> np.ndarray:
    """TA-Lib MAXINDEX/MININDEX (row numbers) -> 1-based position in the window, oldest = 1 (qlib IdxMax)."""
    return index - (np.arange(len(index)) - d)


def up(b: Bars) -> np.ndarray:
    """1.0 where close rose on the session, else 0.0; NaN on the first row."""
    return np.where(np.isnan(b.prev_close), np.nan, (b.close > b.prev_close).astype(np.float64))


def down(b: Bars) -> np.ndarray:
    return np.where(np.isnan(b.prev_close), np.nan, (b.close < b.prev_close).astype(np.float64))


def gains_share(change: np.ndarray, d: int, side: str) -> np.ndarray:
    """Sum over d rows of the rises ("up"), the falls ("down") or the net change ("net"), per sum |change|."""
    part = {"up": np.maximum(change, 0.0), "down": np.maximum(-change, 0.0), "net": change}[side]
    return talib.SUM(part, timeperiod=d) / (talib.SUM(np.abs(change), timeperiod=d) + EPS)


def abs_move_volume(b: Bars) -> np.ndarray:
    return np.abs(b.close / b.prev_close - 1) * b.volume


ROLLING: dict[str, tuple[str, int, Callable[[Bars, int], np.ndarray]]] = {
    # name: (qlib expression with d, extra warm-up beyond d - 1, function of (bars, d))
    "ROC": ("Ref($close, d)/$close", 1, lambda b, d: lag(b.close, d) / b.close),
    "MA": ("Mean($close, d)/$close", 0, lambda b, d: b.sma("close", d) / b.close),
    "STD": ("Std($close, d)/$close (ddof 1)", 0, lambda b, d: b.sample_std("close", d) / b.close),
    "BETA": ("Slope($close, d)/$close", 0, lambda b, d: b.ta("LINEARREG_SLOPE", "close", timeperiod=d) / b.close),
    "RSQR": ("Rsquare($close, d)", 0, lambda b, d: b.ta("CORREL", "session", "close", timeperiod=d) ** 2),
    "RESI": ("Resi($close, d)/$close", 0, lambda b, d: (b.close - b.ta("LINEARREG", "close", timeperiod=d)) / b.close),
    "MAX": ("Max($high, d)/$close", 0, lambda b, d: b.ta("MAX", "high", timeperiod=d) / b.close),
    "MIN": ("Min($low, d)/$close", 0, lambda b, d: b.ta("MIN", "low", timeperiod=d) / b.close),
    "QTLU": ("Quantile($close, d, 0.8)/$close", 0, lambda b, d: quantile(b.close, d, 0.8) / b.close),
    "QTLD": ("Quantile($close, d, 0.2)/$close", 0, lambda b, d: quantile(b.close, d, 0.2) / b.close),
    "RANK": ("Rank($close, d)", 0, lambda b, d: rank(b.close, d)),
    "RSV": ("($close-Min($low, d))/(Max($high, d)-Min($low, d)+1e-12)", 0,
            lambda b, d: (b.close - b.ta("MIN", "low", timeperiod=d))
            / (b.ta("MAX", "high", timeperiod=d) - b.ta("MIN", "low", timeperiod=d) + EPS)),
    "IMAX": ("IdxMax($high, d)/d", 0, lambda b, d: index_in_window(b.ta("MAXINDEX", "high", timeperiod=d), d) / d),
    "IMIN": ("IdxMin($low, d)/d", 0, lambda b, d: index_in_window(b.ta("MININDEX", "low", timeperiod=d), d) / d),
    "IMXD": ("(IdxMax($high, d)-IdxMin($low, d))/d", 0,
             lambda b, d: (b.ta("MAXINDEX", "high", timeperiod=d) - b.ta("MININDEX", "low", timeperiod=d)) / d),
    "CORR": ("Corr($close, Log($volume+1), d)", 0,
             lambda b, d: b.ta("CORREL", "close", "log_volume", timeperiod=d)),
    "CORD": ("Corr($close/Ref($close,1), Log($volume/Ref($volume, 1)+1), d)", 1,
             lambda b, d: talib.CORREL(b.close / b.prev_close, np.log(b.volume / lag(b.volume, 1) + 1), timeperiod=d)),
    "CNTP": ("Mean($close>Ref($close, 1), d)", 1, lambda b, d: talib.SMA(up(b), timeperiod=d)),
    "CNTN": ("Mean($close<Ref($close, 1), d)", 1, lambda b, d: talib.SMA(down(b), timeperiod=d)),
    "CNTD": ("Mean($close>Ref($close, 1), d)-Mean($close<Ref($close, 1), d)", 1,
             lambda b, d: talib.SMA(up(b), timeperiod=d) - talib.SMA(down(b), timeperiod=d)),
    "SUMP": ("Sum(Greater($close-Ref($close, 1), 0), d)/(Sum(Abs($close-Ref($close, 1)), d)+1e-12)", 1,
             lambda b, d: gains_share(b.close - b.prev_close, d, "up")),
    "SUMN": ("Sum(Greater(Ref($close, 1)-$close, 0), d)/(Sum(Abs($close-Ref($close, 1)), d)+1e-12)", 1,
             lambda b, d: gains_share(b.close - b.prev_close, d, "down")),
    "SUMD": ("(Sum(Greater($close-Ref($close, 1), 0), d)-Sum(Greater(Ref($close, 1)-$close, 0), d))"
             "/(Sum(Abs($close-Ref($close, 1)), d)+1e-12)", 1,
             lambda b, d: gains_share(b.close - b.prev_close, d, "net")),
    "VMA": ("Mean($volume, d)/($volume+1e-12)", 0, lambda b, d: b.sma("volume", d) / (b.volume + EPS)),
    "VSTD": ("Std($volume, d)/($volume+1e-12) (ddof 1)", 0, lambda b, d: b.sample_std("volume", d) / (b.volume + EPS)),
    "WVMA": ("Std(Abs($close/Ref($close, 1)-1)*$volume, d)/(Mean(Abs($close/Ref($close, 1)-1)*$volume, d)+1e-12)", 1,
             lambda b, d: talib.STDDEV(abs_move_volume(b), timeperiod=d, nbdev=1.0) * np.sqrt(d / (d - 1))
             / (talib.SMA(abs_move_volume(b), timeperiod=d) + EPS)),
    "VSUMP": ("Sum(Greater($volume-Ref($volume, 1), 0), d)/(Sum(Abs($volume-Ref($volume, 1)), d)+1e-12)", 1,
              lambda b, d: gains_share(b.volume - lag(b.volume, 1), d, "up")),
    "VSUMN": ("Sum(Greater(Ref($volume, 1)-$volume, 0), d)/(Sum(Abs($volume-Ref($volume, 1)), d)+1e-12)", 1,
              lambda b, d: gains_share(b.volume - lag(b.volume, 1), d, "down")),
    "VSUMD": ("(Sum(Greater($volume-Ref($volume, 1), 0), d)-Sum(Greater(Ref($volume, 1)-$volume, 0), d))"
              "/(Sum(Abs($volume-Ref($volume, 1)), d)+1e-12)", 1,
              lambda b, d: gains_share(b.volume - lag(b.volume, 1), d, "net")),
}

for _op, (_qlib, _extra, _fn) in ROLLING.items():
    for _d in WINDOWS:
        register(f"{_op}{_d}", "rolling", _d - 1 + _extra, _qlib.replace(", d", f", {_d}").replace("/d", f"/{_d}"),
                 ("alpha158",))(partial(_fn, d=_d))
