"""Volatility family: close-to-close and range-based estimators of daily volatility (unitless).

Values are per session (not annualised). Range estimators use the session's open, high, low and
close, which carry more information than closes alone: Parkinson (1980), Garman and Klass (1980),
Rogers and Satchell (1991), Yang and Zhang (2000).
"""

from __future__ import annotations

from functools import partial

import numpy as np
import talib

from stockcast.features.bars import Bars
from stockcast.features.registry import register


@register("hl_range", "volatility", 0, "(high - low) / close: the session's range", ("basic", "seed95"))
def hl_range(b: Bars) -> np.ndarray:
    return (b.high - b.low) / b.close


def realized_vol(b: Bars, n: int) -> np.ndarray:
    """Sample standard deviation (ddof 1) of daily log returns over n sessions."""
    return b.sample_std("logret", n)


for _n in (5, 20, 60):
    register(f"realized_vol_{_n}", "volatility", _n, f"std of 1-session log returns over {_n} sessions (ddof 1)",
             ("basic", "seed95") if _n == 20 else ("seed95",))(partial(realized_vol, n=_n))


@register("parkinson_vol_20", "volatility", 19, "sqrt(mean of log(high/low)^2 over 20 / (4 ln 2)) (Parkinson 1980)",
          ("seed95",))
def parkinson_vol_20(b: Bars) -> np.ndarray:
    return np.sqrt(np.maximum(talib.SMA(b.log_hl**2, timeperiod=20), 0.0) / (4 * np.log(2)))


@register("garman_klass_vol_20", "volatility", 19,
          "sqrt(mean of 0.5 log(H/L)^2 - (2 ln 2 - 1) log(C/O)^2 over 20) (Garman and Klass 1980)", ("seed95",))
def garman_klass_vol_20(b: Bars) -> np.ndarray:
    term = 0.5 * b.log_hl**2 - (2 * np.log(2) - 1) * b.log_co**2
    return np.sqrt(np.maximum(talib.SMA(term, timeperiod=20), 0.0))


@register("rogers_satchell_vol_20", "volatility", 19,
          "sqrt(mean of log(H/C) log(H/O) + log(L/C) log(L/O) over 20) (Rogers and Satchell 1991)", ("seed95",))
def rogers_satchell_vol_20(b: Bars) -> np.ndarray:
    return np.sqrt(np.maximum(b.sma("rogers_satchell", 20), 0.0))


@register("yang_zhang_vol_20", "volatility", 20,
          "sqrt(var overnight + k var open-to-close + (1 - k) mean RS term), k = 0.34 / (1.34 + 21/19), "
          "variances ddof 1 over 20 sessions (Yang and Zhang 2000)", ("seed95",))
def yang_zhang_vol_20(b: Bars) -> np.ndarray:
    n = 20
    k = 0.34 / (1.34 + (n + 1) / (n - 1))
    overnight = b.sample_std("log_gap", n) ** 2
    open_close = b.sample_std("log_co", n) ** 2
    return np.sqrt(overnight + k * open_close + (1 - k) * np.maximum(b.sma("rogers_satchell", n), 0.0))


@register("downside_vol_20", "volatility", 20, "sqrt(mean of min(log return, 0)^2 over 20 sessions): semideviation",
          ("seed95",))
def downside_vol_20(b: Bars) -> np.ndarray:
    return np.sqrt(np.maximum(talib.SMA(np.minimum(b.logret, 0.0) ** 2, timeperiod=20), 0.0))


@register("vol_ratio_5_60", "volatility", 60, "realized_vol_5 / realized_vol_60: is volatility rising?",
          ("seed95",))
def vol_ratio_5_60(b: Bars) -> np.ndarray:
    return realized_vol(b, 5) / realized_vol(b, 60)
