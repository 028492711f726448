"""What the quality tests share: hand-made bars on XNYS sessions, the params they check them under, and the
(ticker, date) pairs a rule quarantined or found. Imported by tests/test_quality*.py, which the quality
mutation shard runs."""

from __future__ import annotations

from datetime import UTC, date, datetime

import polars as pl

from stockcast.data.synthetic import generate
from stockcast.params import QualityParams, parse_section

from .conftest import warm_calendars

# The span these tests build outside calendar.WINDOW (XNYS inside it is one build): once, at import
warm_calendars(spans=(("XNYS", 2000, 2099),))

NOW = datetime(2026, 12, 2, 1, 0, tzinfo=UTC)  # after XNYS's close of Tuesday 2026-12-01


def quality_params(**changes) -> QualityParams:
    return parse_section("quality", changes)


def rule_actions(**actions: str) -> dict:
    return {"rules": {name: {"action": action} for name, action in actions.items()}}


def quarantined_rows(result, rule: str) -> set[tuple[str, date]]:
    return set(result.quarantine.filter(pl.col("rule") == rule).select("ticker", "date").iter_rows())


def found_rows(result, rule: str) -> set[tuple[str, date]]:
    return set(result.findings.filter(pl.col("rule") == rule).select("ticker", "date").iter_rows())


def returns_of(clean: pl.DataFrame, ticker: str) -> pl.DataFrame:
    return clean.filter(pl.col("ticker") == ticker).with_columns(ret=pl.col("close").pct_change())


def null_bars(days: int = 300) -> pl.DataFrame:
    """Two tickers of a driftless random walk on `days` XNYS sessions."""
    return generate("null", 2, days, seed=4)[0]


def with_prices(bars: pl.DataFrame, at: int, **prices: float) -> pl.DataFrame:
    """`bars` with row `at` set to the given open/high/low/close (the others unchanged)."""
    i = pl.int_range(pl.len()) == at
    return bars.with_columns(pl.when(i).then(pl.lit(v)).otherwise(pl.col(c)).alias(c) for c, v in prices.items())


def zigzag(closes: dict[int, float], n: int = 300) -> pl.DataFrame:
    """One ticker on n XNYS sessions whose close alternates 10.0 / 10.1 (never a stale run nor a
    split-sized move), with `closes` overriding rows by index; open, high and low equal the close."""
    days = null_bars(n).filter(pl.col("ticker") == "S0000")["date"]
    close = [closes.get(i, 10.0 if i % 2 == 0 else 10.1) for i in range(n)]
    return pl.DataFrame({"ticker": "S0000", "date": days, "open": close, "high": close, "low": close, "close": close,
                         "volume": pl.Series([1000] * n, dtype=pl.Int64),
                         "adj_close": pl.Series([None] * n, dtype=pl.Float64)})
