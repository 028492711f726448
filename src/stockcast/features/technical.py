"""Technical family: moving averages, RSI, MACD, Bollinger Bands, ATR, ADX, CCI, SAR, Ichimoku.

TA-Lib is the reference definition of every indicator it has; each is computed by TA-Lib over the
ticker's own history. Model-facing features are unitless: a price-level indicator X enters as
close / X - 1 or X / close; oscillators (RSI, CCI, ADX, DI) are already scores. The raw TA-Lib
values (set `talib`) keep their usual names and units for inspection and cross-checks.
"""

from __future__ import annotations

from functools import partial

import numpy as np

from stockcast.features.bars import Bars, divide, lag
from stockcast.features.registry import register

MACD = {"fastperiod": 12, "slowperiod": 26, "signalperiod": 9}
BBANDS_20 = {"timeperiod": 20, "nbdevup": 2.0, "nbdevdn": 2.0, "matype": 0}

# --- moving averages: distance of close from each ---------------------------------------------

_AVERAGES = {  # TA-Lib function -> (periods, warm-up of period n, description)
    "SMA": ((5, 10, 20, 50), lambda n: n - 1, "simple moving average"),
    "EMA": ((5, 10, 20, 50), lambda n: n - 1, "exponential moving average, alpha 2/(n+1), seeded by the SMA"),
    "WMA": ((20,), lambda n: n - 1, "linearly weighted moving average"),
    "DEMA": ((20,), lambda n: 2 * (n - 1), "double EMA, 2 EMA - EMA(EMA)"),
    "TEMA": ((20,), lambda n: 3 * (n - 1), "triple EMA"),
    "TRIMA": ((20,), lambda n: n - 1, "triangular moving average"),
    "KAMA": ((30,), lambda n: n, "Kaufman adaptive moving average"),
    "MIDPOINT": ((14,), lambda n: n - 1, "(max + min) / 2 of close"),
}


def close_to_average(b: Bars, function: str, n: int) -> np.ndarray:
    """close / AVERAGE_n(close) - 1."""
    return b.close / b.ta(function, "close", timeperiod=n) - 1


def raw_average(b: Bars, function: str, n: int) -> np.ndarray:
    return b.ta(function, "close", timeperiod=n)


for _fn, (_periods, _warm_up, _what) in _AVERAGES.items():
    for _n in _periods:
        _sets = ("basic", "seed95") if _fn == "SMA" and _n in (10, 20, 50) else ("seed95",)
        register(f"close_{_fn.lower()}_{_n}", "technical", _warm_up(_n),
                 f"close / {_fn}({_n}) - 1; {_what} (TA-Lib {_fn})", _sets)(
            partial(close_to_average, function=_fn, n=_n))
        if _fn in ("SMA", "EMA"):
            register(f"{_fn.lower()}_{_n}", "technical", _warm_up(_n), f"{_fn}({_n}) of close (TA-Lib {_fn})",
                     ("talib",), unitless=False)(partial(raw_average, function=_fn, n=_n))


@register("close_t3_5", "technical", 24, "close / T3(5, vfactor 0.7) - 1; Tillson's T3 (TA-Lib T3)", ("seed95",))
def close_t3_5(b: Bars) -> np.ndarray:
    return b.close / b.ta("T3", "close", timeperiod=5, vfactor=0.7) - 1


@register("sma_5_20", "technical", 19, "SMA(5) / SMA(20) - 1: short over long average (TA-Lib SMA)", ("seed95",))
def sma_5_20(b: Bars) -> np.ndarray:
    return b.sma("close", 5) / b.sma("close", 20) - 1


@register("sma_20_50", "technical", 49, "SMA(20) / SMA(50) - 1 (TA-Lib SMA)", ("seed95",))
def sma_20_50(b: Bars) -> np.ndarray:
    return b.sma("close", 20) / b.sma("close", 50) - 1


@register("ema_20_roc_5", "technical", 24, "EMA(20) / EMA(20) 5 sessions earlier - 1: the average's slope",
          ("seed95",))
def ema_20_roc_5(b: Bars) -> np.ndarray:
    ema = b.ta("EMA", "close", timeperiod=20)
    return ema / lag(ema, 5) - 1


@register("close_linreg_14", "technical", 13,
          "close / LINEARREG(14) - 1: distance from the 14-session least-squares line's end (TA-Lib LINEARREG)",
          ("seed95",))
def close_linreg_14(b: Bars) -> np.ndarray:
    return b.close / b.ta("LINEARREG", "close", timeperiod=14) - 1


# --- RSI -------------------------------------------------------------------------------------

def rsi(b: Bars, n: int) -> np.ndarray:
    """Wilder's RSI: 100 - 100 / (1 + avg gain / avg loss), Wilder-smoothed over n (TA-Lib RSI)."""
    return b.ta("RSI", "close", timeperiod=n)


for _n in (6, 14, 28):
    register(f"rsi_{_n}", "technical", _n, f"Wilder's RSI over {_n} sessions, 0..100 (TA-Lib RSI)",
             ("seed95", "talib") if _n == 14 else ("seed95",))(partial(rsi, n=_n))


# --- MACD (12, 26, 9) ---------------------------------------------------------------------------

def macd_part(b: Bars, part: int, per_close: bool) -> np.ndarray:
    """TA-Lib MACD(12, 26, 9) output `part` (0 line, 1 signal, 2 histogram), raw or divided by close."""
    value = b.ta("MACD", "close", **MACD)[part]
    return value / b.close if per_close else value


for _i, (_name, _what) in enumerate((("macd", "EMA12(close) - EMA26(close)"),
                                     ("macd_signal", "EMA9 of the MACD line"),
                                     ("macd_hist", "MACD line - signal"))):
    register(_name, "technical", 33, f"{_what} (TA-Lib MACD 12/26/9)", ("talib",), unitless=False)(
        partial(macd_part, part=_i, per_close=False))
    register(f"{_name}_norm", "technical", 33, f"{_name} / close (TA-Lib MACD 12/26/9)", ("seed95",))(
        partial(macd_part, part=_i, per_close=True))


# --- Bollinger Bands (20, 2 sd) -----------------------------------------------------------------

def bbands(b: Bars) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Upper, middle, lower: SMA20 -/+ 2 population standard deviations (TA-Lib BBANDS)."""
    return b.ta("BBANDS", "close", **BBANDS_20)


@register("bb_upper_20", "technical", 19, "SMA(20) + 2 sd (population) of close (TA-Lib BBANDS)",
          ("talib",), unitless=False)
def bb_upper_20(b: Bars) -> np.ndarray:
    return bbands(b)[0]


@register("bb_lower_20", "technical", 19, "SMA(20) - 2 sd (population) of close (TA-Lib BBANDS)",
          ("talib",), unitless=False)
def bb_lower_20(b: Bars) -> np.ndarray:
    return bbands(b)[2]


@register("bb_percent_20", "technical", 19,
          "%B: (close - lower) / (upper - lower) of Bollinger(20, 2); 0.5 when the bands touch (TA-Lib BBANDS)",
          ("seed95",))
def bb_percent_20(b: Bars) -> np.ndarray:
    upper, _, lower = bbands(b)
    return divide(b.close - lower, upper - lower, 0.5)


@register("bb_width_20", "technical", 19, "(upper - lower) / middle of Bollinger(20, 2) (TA-Lib BBANDS)",
          ("seed95",))
def bb_width_20(b: Bars) -> np.ndarray:
    upper, middle, lower = bbands(b)
    return (upper - lower) / middle


# --- true range, directional movement, CCI --------------------------------------------------------

@register("atr_14", "technical", 14, "Wilder's average true range over 14 sessions (TA-Lib ATR)",
          ("talib",), unitless=False)
def atr_14(b: Bars) -> np.ndarray:
    return b.ta("ATR", "high", "low", "close", timeperiod=14)


@register("natr_14", "technical", 14, "100 * ATR(14) / close (TA-Lib NATR)", ("seed95",))
def natr_14(b: Bars) -> np.ndarray:
    return b.ta("NATR", "high", "low", "close", timeperiod=14)


@register("keltner_position_20", "technical", 19,
          "(close - EMA(20)) / (2 ATR(10)): place in the Keltner channel, 0 on the EMA (TA-Lib EMA, ATR)",
          ("seed95",))
def keltner_position_20(b: Bars) -> np.ndarray:
    return (b.close - b.ta("EMA", "close", timeperiod=20)) / (2 * b.ta("ATR", "high", "low", "close", timeperiod=10))


@register("cci_20", "technical", 19,
          "commodity channel index: (TP - SMA20(TP)) / (0.015 mean deviation), TP = typical price (TA-Lib CCI)",
          ("seed95", "talib"))
def cci_20(b: Bars) -> np.ndarray:
    return b.ta("CCI", "high", "low", "close", timeperiod=20)


@register("adx_14", "technical", 27, "Wilder's average directional index over 14 sessions, 0..100 (TA-Lib ADX)",
          ("seed95", "talib"))
def adx_14(b: Bars) -> np.ndarray:
    return b.ta("ADX", "high", "low", "close", timeperiod=14)


@register("adxr_14", "technical", 40, "(ADX + ADX 13 sessions earlier) / 2 (TA-Lib ADXR)", ("seed95",))
def adxr_14(b: Bars) -> np.ndarray:
    return b.ta("ADXR", "high", "low", "close", timeperiod=14)


@register("plus_di_14", "technical", 14, "+DI: Wilder-smoothed up-move over true range, 0..100 (TA-Lib PLUS_DI)",
          ("seed95",))
def plus_di_14(b: Bars) -> np.ndarray:
    return b.ta("PLUS_DI", "high", "low", "close", timeperiod=14)


@register("minus_di_14", "technical", 14, "-DI: Wilder-smoothed down-move over true range (TA-Lib MINUS_DI)",
          ("seed95",))
def minus_di_14(b: Bars) -> np.ndarray:
    return b.ta("MINUS_DI", "high", "low", "close", timeperiod=14)


@register("aroon_osc_25", "technical", 25, "Aroon up - Aroon down over 25 sessions, -100..100 (TA-Lib AROONOSC)",
          ("seed95",))
def aroon_osc_25(b: Bars) -> np.ndarray:
    return b.ta("AROONOSC", "high", "low", timeperiod=25)


@register("sar_distance", "technical", 1, "close / parabolic SAR(0.02, 0.2) - 1 (TA-Lib SAR)", ("seed95",))
def sar_distance(b: Bars) -> np.ndarray:
    return b.close / b.ta("SAR", "high", "low", acceleration=0.02, maximum=0.2) - 1


@register("donchian_width_20", "technical", 19, "(MAX(high, 20) - MIN(low, 20)) / close (TA-Lib MAX, MIN)",
          ("seed95",))
def donchian_width_20(b: Bars) -> np.ndarray:
    return (b.ta("MAX", "high", timeperiod=20) - b.ta("MIN", "low", timeperiod=20)) / b.close


# --- Ichimoku: midpoints of the high-low range ---------------------------------------------------

def ichimoku_line(b: Bars, n: int) -> np.ndarray:
    """(MAX(high, n) + MIN(low, n)) / 2: Ichimoku's conversion (9) and base (26) lines (TA-Lib MIDPRICE)."""
    return b.ta("MIDPRICE", "high", "low", timeperiod=n)


@register("tenkan_distance_9", "technical", 8, "close / Ichimoku conversion line (9) - 1 (TA-Lib MIDPRICE)",
          ("seed95",))
def tenkan_distance_9(b: Bars) -> np.ndarray:
    return b.close / ichimoku_line(b, 9) - 1


@register("kijun_distance_26", "technical", 25, "close / Ichimoku base line (26) - 1 (TA-Lib MIDPRICE)",
          ("seed95",))
def kijun_distance_26(b: Bars) -> np.ndarray:
    return b.close / ichimoku_line(b, 26) - 1


@register("tenkan_kijun", "technical", 25, "conversion line (9) / base line (26) - 1 (TA-Lib MIDPRICE)",
          ("seed95",))
def tenkan_kijun(b: Bars) -> np.ndarray:
    return ichimoku_line(b, 9) / ichimoku_line(b, 26) - 1
