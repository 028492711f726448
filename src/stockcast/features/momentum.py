"""Momentum family: rates of change, stochastics, Williams %R and other oscillators (TA-Lib)."""

from __future__ import annotations

from functools import partial

import numpy as np

from stockcast.features.bars import Bars, divide, lag
from stockcast.features.registry import register

STOCH_14 = {"fastk_period": 14, "slowk_period": 3, "slowk_matype": 0, "slowd_period": 3, "slowd_matype": 0}


def roc(b: Bars, n: int) -> np.ndarray:
    """100 * (close / close_{t-n} - 1) (TA-Lib ROC)."""
    return b.ta("ROC", "close", timeperiod=n)


for _n in (5, 10, 20):
    register(f"roc_{_n}", "momentum", _n, f"100 * (close / close {_n} sessions earlier - 1) (TA-Lib ROC)",
             ("seed95", "talib") if _n == 10 else ("seed95",))(partial(roc, n=_n))


@register("stoch_k_14", "momentum", 17,
          "slow %K: SMA3 of 100 (close - MIN(low, 14)) / (MAX(high, 14) - MIN(low, 14)) (TA-Lib STOCH 14, 3, 3)",
          ("seed95", "talib"))
def stoch_k_14(b: Bars) -> np.ndarray:
    return b.ta("STOCH", "high", "low", "close", **STOCH_14)[0]


@register("stoch_d_14", "momentum", 17, "slow %D: SMA3 of slow %K (TA-Lib STOCH 14, 3, 3)", ("seed95", "talib"))
def stoch_d_14(b: Bars) -> np.ndarray:
    return b.ta("STOCH", "high", "low", "close", **STOCH_14)[1]


@register("stochf_k_14", "momentum", 15, "fast %K over 14 sessions, as aligned by TA-Lib STOCHF(14, 3)",
          ("seed95",))
def stochf_k_14(b: Bars) -> np.ndarray:
    return b.ta("STOCHF", "high", "low", "close", fastk_period=14, fastd_period=3, fastd_matype=0)[0]


@register("stochrsi_14", "momentum", 20, "fast %K(5) of RSI(14), 0..100 (TA-Lib STOCHRSI 14, 5, 3)", ("seed95",))
def stochrsi_14(b: Bars) -> np.ndarray:
    return b.ta("STOCHRSI", "close", timeperiod=14, fastk_period=5, fastd_period=3, fastd_matype=0)[0]


@register("willr_14", "momentum", 13,
          "Williams %R: -100 (MAX(high, 14) - close) / (MAX(high, 14) - MIN(low, 14)) (TA-Lib WILLR)",
          ("seed95", "talib"))
def willr_14(b: Bars) -> np.ndarray:
    return b.ta("WILLR", "high", "low", "close", timeperiod=14)


@register("cmo_14", "momentum", 14, "Chande momentum oscillator over 14 sessions, -100..100 (TA-Lib CMO)",
          ("seed95",))
def cmo_14(b: Bars) -> np.ndarray:
    return b.ta("CMO", "close", timeperiod=14)


@register("ultosc", "momentum", 28, "ultimate oscillator over 7, 14, 28 sessions, 0..100 (TA-Lib ULTOSC)",
          ("seed95",))
def ultosc(b: Bars) -> np.ndarray:
    return b.ta("ULTOSC", "high", "low", "close", timeperiod1=7, timeperiod2=14, timeperiod3=28)


@register("trix_15", "momentum", 43, "1-session % rate of change of a triple EMA(15) of close (TA-Lib TRIX)",
          ("seed95",))
def trix_15(b: Bars) -> np.ndarray:
    return b.ta("TRIX", "close", timeperiod=15)


@register("ppo_12_26", "momentum", 25, "100 (EMA12 - EMA26) / EMA26 of close (TA-Lib PPO, matype EMA)",
          ("seed95",))
def ppo_12_26(b: Bars) -> np.ndarray:
    return b.ta("PPO", "close", fastperiod=12, slowperiod=26, matype=1)


@register("bop", "momentum", 0, "balance of power: (close - open) / (high - low), 0 when high == low (TA-Lib BOP)",
          ("seed95",))
def bop(b: Bars) -> np.ndarray:
    return b.ta("BOP", "open", "high", "low", "close")


@register("mom_60_5", "momentum", 60,
          "log(close 5 sessions earlier / close 60 sessions earlier): momentum that skips the last week",
          ("seed95",))
def mom_60_5(b: Bars) -> np.ndarray:
    return lag(b.log_close, 5) - lag(b.log_close, 60)


@register("mom_z_20", "momentum", 20,
          "log(close / close 20 earlier) / (sqrt(20) sd of daily log returns over 20, ddof 1), 0 if flat",
          ("seed95",))
def mom_z_20(b: Bars) -> np.ndarray:
    return divide(b.log_return(20), np.sqrt(20) * b.sample_std("logret", 20), 0.0)
