"""Volume family: activity relative to its own recent level, money flow, VWAP, OBV (unitless).

Raw OBV (set `talib`) is a running total in shares, so its level depends on where the history
starts; the model-facing `obv_flow_20` uses only its change over 20 sessions, per share traded.
"""

from __future__ import annotations

import numpy as np
import talib

from stockcast.features.bars import Bars, divide, lag
from stockcast.features.registry import register


@register("log_volume_ratio_5", "volume", 4, "log(volume / SMA(5) of volume) (TA-Lib SMA)", ("seed95",))
def log_volume_ratio_5(b: Bars) -> np.ndarray:
    return np.log(b.volume / b.sma("volume", 5))


@register("log_volume_ratio_20", "volume", 19, "log(volume / SMA(20) of volume) (TA-Lib SMA)", ("basic", "seed95"))
def log_volume_ratio_20(b: Bars) -> np.ndarray:
    return np.log(b.volume / b.sma("volume", 20))


@register("log_volume_5_20", "volume", 19, "log(SMA(5) / SMA(20) of volume) (TA-Lib SMA)", ("seed95",))
def log_volume_5_20(b: Bars) -> np.ndarray:
    return np.log(b.sma("volume", 5) / b.sma("volume", 20))


@register("volume_z_20", "volume", 19,
          "(log(1 + volume) - its 20-session mean) / its 20-session sd (population); 0 when flat",
          ("seed95",))
def volume_z_20(b: Bars) -> np.ndarray:
    return divide(b.log_volume - b.sma("log_volume", 20), b.ta("STDDEV", "log_volume", timeperiod=20, nbdev=1.0), 0.0)


@register("vwap_distance_20", "volume", 19,
          "close / VWAP(20) - 1, VWAP(20) = sum(typical price * volume) / sum(volume) over 20 sessions",
          ("seed95",))
def vwap_distance_20(b: Bars) -> np.ndarray:
    vwap = talib.SUM(b.typical * b.volume, timeperiod=20) / b.ta("SUM", "volume", timeperiod=20)
    return b.close / vwap - 1


@register("obv", "volume", 0, "on-balance volume: running sum of volume signed by the close's move (TA-Lib OBV)",
          ("talib",), unitless=False)
def obv(b: Bars) -> np.ndarray:
    return b.ta("OBV", "close", "volume")


@register("obv_flow_20", "volume", 20, "(OBV - OBV 20 sessions earlier) / volume over those 20 sessions, -1..1",
          ("seed95",))
def obv_flow_20(b: Bars) -> np.ndarray:
    flow = b.ta("OBV", "close", "volume")
    return (flow - lag(flow, 20)) / b.ta("SUM", "volume", timeperiod=20)


@register("cmf_20", "volume", 19, "Chaikin money flow: sum(CLV * volume) / sum(volume) over 20 sessions, -1..1",
          ("seed95",))
def cmf_20(b: Bars) -> np.ndarray:
    return talib.SUM(b.clv * b.volume, timeperiod=20) / b.ta("SUM", "volume", timeperiod=20)


@register("mfi_14", "volume", 14, "money flow index: RSI of typical price * volume over 14 sessions (TA-Lib MFI)",
          ("seed95", "talib"))
def mfi_14(b: Bars) -> np.ndarray:
    return b.ta("MFI", "high", "low", "close", "volume", timeperiod=14)


@register("adosc_norm", "volume", 9, "Chaikin A/D oscillator (EMA3 - EMA10 of the A/D line) / SMA(10) of volume "
          "(TA-Lib ADOSC)", ("seed95",))
def adosc_norm(b: Bars) -> np.ndarray:
    return b.ta("ADOSC", "high", "low", "close", "volume", fastperiod=3, slowperiod=10) / b.sma("volume", 10)


@register("pv_corr_20", "volume", 19, "Pearson correlation of close and volume over 20 sessions (TA-Lib CORREL)",
          ("seed95",))
def pv_corr_20(b: Bars) -> np.ndarray:
    return b.ta("CORREL", "close", "volume", timeperiod=20)
