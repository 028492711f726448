"""Price family: log returns over several horizons and the shape of the session's bar (unitless)."""

from __future__ import annotations

from functools import partial

import numpy as np

from stockcast.features.bars import Bars
from stockcast.features.registry import register


def log_return(b: Bars, n: int) -> np.ndarray:
    return b.log_return(n)


for _n in (1, 5, 10, 20, 60):
    register(f"logret_{_n}", "price", _n, f"log(close_t / close_(t-{_n}))",
             ("basic", "seed95") if _n < 60 else ("seed95",))(partial(log_return, n=_n))


@register("oc_return", "price", 0, "log(close / open): the session's own move", ("basic", "seed95"))
def oc_return(b: Bars) -> np.ndarray:
    return b.log_co


@register("gap_return", "price", 1, "log(open / previous close): the overnight gap", ("seed95",))
def gap_return(b: Bars) -> np.ndarray:
    return b.log_gap


@register("upper_shadow", "price", 0, "(high - max(open, close)) / close: the wick above the body", ("seed95",))
def upper_shadow(b: Bars) -> np.ndarray:
    return (b.high - np.maximum(b.open, b.close)) / b.close


@register("lower_shadow", "price", 0, "(min(open, close) - low) / close: the wick below the body", ("seed95",))
def lower_shadow(b: Bars) -> np.ndarray:
    return (np.minimum(b.open, b.close) - b.low) / b.close


@register("close_location", "price", 0,
          "((close - low) - (high - close)) / (high - low) in [-1, 1], 0 when high == low (Chaikin's CLV)",
          ("seed95",))
def close_location(b: Bars) -> np.ndarray:
    return b.clv
