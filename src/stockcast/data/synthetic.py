"""Seeded synthetic markets: one to exercise the data layer, two to test the models' honesty.

`generate(mode, n_tickers, n_days, seed)` returns RawOHLCV bars on real XNYS sessions and a meta dict:

- `realistic`: returns = drift + beta * market + gamma * sector + idiosyncratic, each a GARCH(1,1)
  (volatility clustering) with Student-t(5) shocks (fat tails); late listings and delistings; a few
  sessions missing; splits left unadjusted (raw prices jump by 2:1, 3:1, 1:10 ...; adj_close is null),
  listed in meta["splits"] so split detection can be scored.
- `null`: i.i.d. symmetric Gaussian returns with no drift. P(up) = 1/2 whatever the past: no feature
  can beat a coin flip, so an accuracy above 50% beyond its confidence interval means a leak.
- `planted`: the sign of each close-to-close return repeats the previous day's sign with probability
  Phi(beta * |r_prev| / sigma), magnitudes i.i.d. half-normal. The best achievable accuracy for the
  next day's direction is exactly E[Phi(beta |Z|)] = 1/2 + arctan(beta) / pi (Z standard normal),
  reached by "same direction as today"; beta is chosen so that this equals `bayes_accuracy`.

Open, high, low and volume are independent noise around the closes in `null` and `planted`, so they
carry no information about tomorrow. `stockcast synth` and the ingest stage write the meta beside the
bars as FILE.meta.json (sources.write_meta), e.g. universe.parquet and universe.meta.json.
"""

from __future__ import annotations

import math
from datetime import date
from typing import Any, Literal

import numpy as np
import polars as pl

from stockcast.data.calendar import first_sessions
from stockcast.errors import StockcastError

Mode = Literal["realistic", "null", "planted"]
MODES: tuple[str, ...] = ("realistic", "null", "planted")
START = date(2000, 1, 3)
_SPLIT_RATIOS = np.array([2.0, 3.0, 1.5, 4.0, 10.0])  # forward splits, drawn with _SPLIT_WEIGHTS
_SPLIT_WEIGHTS = np.array([0.6, 0.15, 0.1, 0.1, 0.05])


def generate(mode: Mode, n_tickers: int, n_days: int, seed: int, *, bayes_accuracy: float = 0.55,
             start: date = START) -> tuple[pl.DataFrame, dict[str, Any]]:
    """RawOHLCV bars of `n_tickers` tickers (S0000, S0001, ...) over `n_days` XNYS sessions from `start`.

    Deterministic in `seed`. `bayes_accuracy` (in [0.5, 1)) is used by `planted` only.
    """
    if mode not in MODES:
        raise StockcastError(f"synthetic mode {mode!r} is not one of {', '.join(MODES)}")
    if n_tickers < 1 or n_days < 2:
        raise StockcastError(f"synthetic market needs at least 1 ticker and 2 days (got {n_tickers}, {n_days})")
    if not 0.5 <= bayes_accuracy < 1:
        raise StockcastError(f"bayes_accuracy must be in [0.5, 1) (got {bayes_accuracy})")
    rng = np.random.default_rng(seed)
    dates = first_sessions("XNYS", start, n_days)
    tickers = [f"S{i:04d}" for i in range(n_tickers)]
    meta: dict[str, Any] = {"mode": mode, "seed": seed, "n_tickers": n_tickers, "n_days": n_days,
                            "calendar": "XNYS", "start": str(dates[0]), "end": str(dates[-1])}
    sigma = rng.uniform(0.01, 0.03, n_tickers)
    if mode == "null":
        returns = sigma[:, None] * rng.standard_normal((n_tickers, n_days))
        meta |= {"bayes_accuracy": 0.5, "signal": "none: i.i.d. N(0, sigma^2) returns"}
    elif mode == "planted":
        beta = math.tan(math.pi * (bayes_accuracy - 0.5))
        returns = sigma[:, None] * _planted_shocks(rng, beta, n_tickers, n_days)
        meta |= {"bayes_accuracy": bayes_accuracy, "beta": beta,
                 "signal": "P(sign r[t+1] == sign r[t]) = Phi(beta * |r[t]| / sigma_ticker); "
                           "best rule: predict today's direction"}
    else:
        returns, sigma = _factor_returns(rng, n_tickers, n_days)
    bars = _bars(rng, returns, sigma)
    if mode == "realistic":
        return _realistic(rng, bars, dates, tickers, meta)
    return _frame(bars, dates, tickers, np.ones((n_tickers, n_days), dtype=bool)), meta


def _planted_shocks(rng: np.random.Generator, beta: float, n_tickers: int, n_days: int) -> np.ndarray:
    """Unit-variance shocks D * |eps| (tickers x days) whose sign repeats with probability Phi(beta * |eps_prev|)."""
    from scipy.special import ndtr  # scipy costs 0.2 s to import: only the planted market needs it

    size = np.abs(rng.standard_normal((n_tickers, n_days)))
    keep = np.empty((n_tickers, n_days), dtype=np.int8)
    keep[:, 0] = np.where(rng.random(n_tickers) < 0.5, 1, -1)  # first day's sign: a fair coin
    keep[:, 1:] = np.where(rng.random((n_tickers, n_days - 1)) < ndtr(beta * size[:, :-1]), 1, -1)
    return np.cumprod(keep, axis=1, dtype=np.int8) * size


def _garch(rng: np.random.Generator, n_days: int, daily_sd: np.ndarray, alpha: float, beta: float) -> np.ndarray:
    """GARCH(1,1) paths with Student-t(5) shocks scaled to unit variance, one row per entry of daily_sd.

    h[t] = omega + alpha * x[t-1]^2 + beta * h[t-1], omega set so the unconditional sd is daily_sd.
    """
    shocks = rng.standard_t(5, (n_days, len(daily_sd))) / math.sqrt(5 / 3)
    omega = daily_sd**2 * (1 - alpha - beta)
    out = np.empty_like(shocks)
    h = daily_sd**2
    for t in range(n_days):  # the recursion is over days; each step is vectorised over series
        out[t] = np.sqrt(h) * shocks[t]
        h = omega + alpha * out[t] ** 2 + beta * h
    return out.T


def _factor_returns(rng: np.random.Generator, n_tickers: int, n_days: int) -> tuple[np.ndarray, np.ndarray]:
    """Market + sector + idiosyncratic log returns (tickers x days), and each ticker's typical daily sd."""
    n_sectors = 11
    sector = rng.integers(0, n_sectors, n_tickers)
    idio_sd = rng.uniform(0.01, 0.025, n_tickers)
    paths = _garch(rng, n_days, np.concatenate([[0.011], np.full(n_sectors, 0.007), idio_sd]), 0.08, 0.90)
    market, sectors, idio = paths[:1], paths[1:1 + n_sectors], paths[1 + n_sectors:]
    loading = np.clip(rng.normal(1.0, 0.3, n_tickers), 0.2, 2.0)
    drift = rng.normal(0.0003, 0.0003, n_tickers)
    returns = idio + drift[:, None] + loading[:, None] * market + sectors[sector]
    return returns, np.sqrt((loading * 0.011) ** 2 + 0.007**2 + idio_sd**2)


def _bars(rng: np.random.Generator, returns: np.ndarray, sigma: np.ndarray) -> dict[str, np.ndarray]:
    """Closes from log returns; open, high, low and volume as noise around them (tickers x days)."""
    shape = returns.shape
    first = np.exp(rng.uniform(math.log(5), math.log(200), shape[0]))[:, None]
    close = first * np.exp(np.cumsum(returns, axis=1))
    previous = np.hstack([first, close[:, :-1]])
    sigma = sigma[:, None]
    open_ = previous * np.exp(0.2 * sigma * rng.standard_normal(shape))
    high = np.maximum(open_, close) * np.exp(0.5 * sigma * np.abs(rng.standard_normal(shape)))
    low = np.minimum(open_, close) * np.exp(-0.5 * sigma * np.abs(rng.standard_normal(shape)))
    volume = np.exp(rng.normal(13.5, 1.0, (shape[0], 1)) + 0.3 * rng.standard_normal(shape))
    return {"open": open_, "high": high, "low": low, "close": close, "volume": volume}


def _realistic(rng: np.random.Generator, bars: dict[str, np.ndarray], dates: np.ndarray, tickers: list[str],
               meta: dict[str, Any]) -> tuple[pl.DataFrame, dict[str, Any]]:
    """Listings, delistings, missing sessions and unadjusted splits on top of economic prices."""
    n_tickers, n_days = bars["close"].shape
    listed = np.where(rng.random(n_tickers) < 0.3, rng.integers(0, int(0.8 * n_days), n_tickers), 0)
    delist = rng.random(n_tickers) < 0.12
    last = np.where(delist, listed + (rng.random(n_tickers) * (n_days - listed)).astype(int), n_days - 1)
    last = np.clip(last, np.minimum(listed + 250, n_days - 1), n_days - 1)
    day, listed, last = np.arange(n_days)[None, :], listed[:, None], last[:, None]
    present = (day >= listed) & (day <= last)
    missing = present & (day > listed) & (day < last) & (rng.random((n_tickers, n_days)) < 2e-4)
    splits = _splits(rng, bars["close"], listed[:, 0], last[:, 0])
    factor = np.ones((n_tickers, n_days))
    for t, i, ratio in splits:
        factor[i, t:] *= ratio
    for name in ("open", "high", "low", "close"):
        bars[name] = bars[name] / factor
    bars["volume"] = bars["volume"] * factor
    meta |= {
        "splits": [{"ticker": tickers[i], "date": str(dates[t]), "ratio": ratio} for t, i, ratio in splits],
        "delisted": [tickers[i] for i in np.flatnonzero(last[:, 0] < n_days - 1)],
        "missing_sessions": int(missing.sum()),
        "signal": "factor model (market, 11 sectors, GARCH, t(5)); no planted signal",
    }
    return _frame(bars, dates, tickers, present & ~missing), meta


def _splits(rng: np.random.Generator, close: np.ndarray, listed: np.ndarray,
            last: np.ndarray) -> list[tuple[int, int, float]]:
    """(day, ticker, ratio) of splits: on ~1 candidate day a year, a raw price above $150 splits forward
    (2:1 mostly) and one below $1 splits 1:10 (ratio 0.1); otherwise nothing happens."""
    names, days = np.nonzero(rng.random(close.shape) < 1 / 252)  # ticker-major, days ascending
    n_tickers = close.shape[0]
    scale = np.ones(n_tickers)
    events = []
    for i, t in zip(names, days, strict=True):  # tens of thousands of candidate days, not rows
        if not listed[i] < t <= last[i]:
            continue
        raw = close[i, t - 1] / scale[i]
        ratio = float(rng.choice(_SPLIT_RATIOS, p=_SPLIT_WEIGHTS)) if raw > 150 else 0.1 if raw < 1 else None
        if ratio is not None:
            scale[i] *= ratio
            events.append((int(t), int(i), ratio))
    return events


def _frame(bars: dict[str, np.ndarray], dates: np.ndarray, tickers: list[str], keep: np.ndarray) -> pl.DataFrame:
    """Tickers x days arrays -> a long RawOHLCV frame, ticker-major (already sorted)."""
    n_tickers, n_days = keep.shape
    mask = keep.ravel()
    column = {name: values.ravel()[mask] for name, values in bars.items()}
    ticker_index = np.repeat(np.arange(n_tickers, dtype=np.uint32), n_days)[mask]
    return pl.DataFrame({
        "ticker": pl.Series(tickers, dtype=pl.String).gather(ticker_index),
        "date": np.tile(dates, n_tickers)[mask],
        **{name: column[name] for name in ("open", "high", "low", "close")},
        "volume": np.maximum(np.rint(column["volume"]), 1).astype(np.int64),
        "adj_close": pl.repeat(None, int(mask.sum()), dtype=pl.Float64, eager=True),
    })
