"""One ticker's history as float64 arrays, and the intermediates its features share.

Every feature of a ticker is computed from one `Bars`, oldest row first, so a window can never
reach into another ticker, and work shared by several features (an SMA, TA-Lib's MACD triple,
log returns) is done once per ticker. All operators here look backwards only: `lag(x, k)` is
x[t - k] with the first k rows NaN, and TA-Lib's functions are trailing windows or recursions.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from functools import cache, cached_property
from typing import Any

import numpy as np
import talib
from talib import abstract


def lag(x: np.ndarray, k: int) -> np.ndarray:
    """x[t - k]; the first k rows are NaN (never filled from later rows)."""
    out = np.full_like(x, np.nan)
    if k < len(x):
        out[k:] = x[: len(x) - k]
    return out


def divide(num: np.ndarray, den: np.ndarray, when_zero: float) -> np.ndarray:
    """num / den, or `when_zero` where den is 0 (a flat window: no range, no spread, no volume)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        out = num / den
    out[den == 0] = when_zero
    return out


@cache
def _talib_function(name: str) -> Callable[..., Any]:
    """TA-Lib's compiled function, without talib's wrapper that looks for pandas and polars inputs."""
    return inspect.unwrap(getattr(talib, name))


@cache
def _talib_lookback(function: str, params: tuple[tuple[str, Any], ...]) -> int:
    """TA-Lib's own warm-up for `function`: rows before its first value."""
    f = abstract.Function(function)
    f.set_parameters(dict(params))
    return int(f.lookback)


class Bars:
    """Open, high, low, close and volume of one ticker, oldest first, with memoised intermediates."""

    def __init__(self, open: np.ndarray, high: np.ndarray, low: np.ndarray, close: np.ndarray,
                 volume: np.ndarray) -> None:
        self.open, self.high, self.low, self.close, self.volume = open, high, low, close, volume
        self._memo: dict[tuple[Any, ...], Any] = {}

    def ta(self, function: str, *inputs: str, **params: Any) -> Any:
        """TA-Lib `function` over the named series (attributes of this object), computed once.

        Integer outputs (candle patterns, MAXINDEX) come back as float with TA-Lib's warm-up NaN,
        where the wrapper would leave zeros that look like values.
        """
        key = (function, inputs, tuple(sorted(params.items())))
        if key not in self._memo:
            result = _talib_function(function)(*(getattr(self, name) for name in inputs), **params)
            if isinstance(result, np.ndarray) and result.dtype.kind == "i":
                warm_up = _talib_lookback(function, key[2])
                result = result.astype(np.float64)
                result[:warm_up] = np.nan
            self._memo[key] = result
        return self._memo[key]

    def sma(self, name: str, n: int) -> np.ndarray:
        """SMA_n of a named series (TA-Lib SMA)."""
        return self.ta("SMA", name, timeperiod=n)

    def sample_std(self, name: str, n: int) -> np.ndarray:
        """Standard deviation of a named series over n rows with ddof 1 (pandas' and polars' default).

        TA-Lib STDDEV is the population value (ddof 0); the factor sqrt(n / (n - 1)) converts it.
        """
        return self.ta("STDDEV", name, timeperiod=n, nbdev=1.0) * np.sqrt(n / (n - 1))

    @cached_property
    def prev_close(self) -> np.ndarray:
        return lag(self.close, 1)

    # Logs of the four prices, taken once; every log ratio below is a difference of them.
    @cached_property
    def log_open(self) -> np.ndarray:
        return np.log(self.open)

    @cached_property
    def log_high(self) -> np.ndarray:
        return np.log(self.high)

    @cached_property
    def log_low(self) -> np.ndarray:
        return np.log(self.low)

    @cached_property
    def log_close(self) -> np.ndarray:
        return np.log(self.close)

    def log_return(self, n: int) -> np.ndarray:
        """log(close_t / close_{t-n})."""
        return self.log_close - lag(self.log_close, n)

    @cached_property
    def logret(self) -> np.ndarray:
        """log(close_t / close_{t-1})."""
        return self.log_return(1)

    @cached_property
    def log_gap(self) -> np.ndarray:
        """log(open_t / close_{t-1}): the overnight move."""
        return self.log_open - lag(self.log_close, 1)

    @cached_property
    def log_hl(self) -> np.ndarray:
        """log(high / low): the session's range in log units."""
        return self.log_high - self.log_low

    @cached_property
    def log_co(self) -> np.ndarray:
        """log(close / open): the session's own move."""
        return self.log_close - self.log_open

    @cached_property
    def rogers_satchell(self) -> np.ndarray:
        """log(H/C) log(H/O) + log(L/C) log(L/O): the session's drift-free variance (Rogers and Satchell 1991)."""
        high, low = self.log_high, self.log_low
        return (high - self.log_close) * (high - self.log_open) + (low - self.log_close) * (low - self.log_open)

    @cached_property
    def log_volume(self) -> np.ndarray:
        """log(1 + volume): finite on a zero-volume day, which would otherwise poison TA-Lib's running sums."""
        return np.log1p(self.volume)

    @cached_property
    def typical(self) -> np.ndarray:
        """(high + low + close) / 3: TA-Lib TYPPRICE, the price a daily bar stands for."""
        return (self.high + self.low + self.close) / 3

    @cached_property
    def clv(self) -> np.ndarray:
        """Close location value ((C - L) - (H - C)) / (H - L) in [-1, 1]; 0 when H == L (as TA-Lib AD)."""
        return divide((self.close - self.low) - (self.high - self.close), self.high - self.low, 0.0)

    @cached_property
    def session(self) -> np.ndarray:
        """0, 1, 2, ...: the time axis of trend-line regressions."""
        return np.arange(len(self.close), dtype=np.float64)
