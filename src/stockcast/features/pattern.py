"""Pattern family: support and resistance, trend lines, breakouts and candlestick patterns.

Support and resistance are the trailing extremes of low and high; the trend line is the trailing
least-squares line of log close (TA-Lib LINEARREG); candle patterns are TA-Lib's recognisers,
scaled from -100/0/100 to -1/0/1. All look back only: a breakout compares today's close with the
range of the sessions before today.
"""

from __future__ import annotations

from functools import partial

import numpy as np

from stockcast.features.bars import Bars, lag
from stockcast.features.registry import register


def support_distance(b: Bars, n: int) -> np.ndarray:
    """close / MIN(low, n) - 1 >= 0: how far above the n-session support."""
    return b.close / b.ta("MIN", "low", timeperiod=n) - 1


def resistance_distance(b: Bars, n: int) -> np.ndarray:
    """close / MAX(high, n) - 1 <= 0: how far below the n-session resistance."""
    return b.close / b.ta("MAX", "high", timeperiod=n) - 1


for _n in (20, 60):
    register(f"support_distance_{_n}", "pattern", _n - 1, f"close / MIN(low, {_n}) - 1 (TA-Lib MIN)", ("seed95",))(
        partial(support_distance, n=_n))
    register(f"resistance_distance_{_n}", "pattern", _n - 1, f"close / MAX(high, {_n}) - 1 (TA-Lib MAX)",
             ("seed95",))(partial(resistance_distance, n=_n))


@register("breakout_20", "pattern", 20,
          "+1 if close > the previous 20 sessions' MAX(high), -1 if close < their MIN(low), else 0", ("seed95",))
def breakout_20(b: Bars) -> np.ndarray:
    upper = lag(b.ta("MAX", "high", timeperiod=20), 1)
    lower = lag(b.ta("MIN", "low", timeperiod=20), 1)
    out = np.where(b.close > upper, 1.0, np.where(b.close < lower, -1.0, 0.0))
    out[np.isnan(upper)] = np.nan
    return out


@register("trend_slope_20", "pattern", 19,
          "slope of the least-squares line of log close over 20 sessions, per session (TA-Lib LINEARREG_SLOPE)",
          ("seed95",))
def trend_slope_20(b: Bars) -> np.ndarray:
    return b.ta("LINEARREG_SLOPE", "log_close", timeperiod=20)


@register("trend_r2_20", "pattern", 19, "R^2 of that line: CORREL(session, log close, 20)^2 (TA-Lib CORREL)",
          ("seed95",))
def trend_r2_20(b: Bars) -> np.ndarray:
    return b.ta("CORREL", "session", "log_close", timeperiod=20) ** 2


@register("trend_residual_20", "pattern", 19,
          "log close - the 20-session line's value today (TA-Lib LINEARREG of log close)", ("seed95",))
def trend_residual_20(b: Bars) -> np.ndarray:
    return b.log_close - b.ta("LINEARREG", "log_close", timeperiod=20)


@register("cdl_engulfing", "pattern", 2, "engulfing candle: +1 bullish, -1 bearish, else 0 (TA-Lib CDLENGULFING)",
          ("seed95",))
def cdl_engulfing(b: Bars) -> np.ndarray:
    return b.ta("CDLENGULFING", "open", "high", "low", "close") / 100


@register("cdl_doji", "pattern", 10, "doji: body <= 10% of the range vs the last 10 sessions' (TA-Lib CDLDOJI), 1 or 0",
          ("seed95",))
def cdl_doji(b: Bars) -> np.ndarray:
    return b.ta("CDLDOJI", "open", "high", "low", "close") / 100
