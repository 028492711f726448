"""Shared fixtures: small, real-shaped OHLCV frames and the bundled sample; hypothesis profiles."""

from __future__ import annotations

import os
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, Phase, settings

# Property tests are deterministic unless asked otherwise: "ci" (the default) derandomises, so a run
# that passes passes again and a failure reproduces; "dev" explores new random examples each run.
# Pick one with HYPOTHESIS_PROFILE=dev. A test's own @settings(max_examples=...) still applies.
settings.register_profile("ci", derandomize=True, max_examples=50, deadline=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", derandomize=False, max_examples=200, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
# "mutation" (benchmarks/mutation.py): ci's examples, no shrinking. A mutant is killed by the first failing
# example; shrinking it (thousands more runs) only makes it readable, and held a core per mutant for minutes.
settings.register_profile("mutation", settings.get_profile("ci"), phases=[Phase.explicit, Phase.reuse, Phase.generate])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample" / "ohlcv.parquet"
TRACE = "params-read"  # beside the `reproduced` project: the params keys each stage read


def random_bars(tickers: dict[str, int], seed: int = 0, start: date = date(2000, 1, 3)) -> pl.DataFrame:
    """Random-walk daily bars (RawOHLCV columns) for tickers -> number of weekdays."""
    rng = np.random.default_rng(seed)
    frames = []
    for ticker, n in tickers.items():
        days = [d for d in (start + timedelta(i) for i in range(n * 2)) if d.weekday() < 5][:n]
        close = 50 * np.exp(np.cumsum(rng.normal(0, 0.02, n)))
        open_ = close * np.exp(rng.normal(0, 0.005, n))
        high = np.maximum(open_, close) * (1 + rng.uniform(0, 0.01, n))
        low = np.minimum(open_, close) * (1 - rng.uniform(0, 0.01, n))
        frames.append(pl.DataFrame({
            "ticker": ticker, "date": days, "open": open_, "high": high, "low": low, "close": close,
            "volume": rng.integers(1_000, 1_000_000, n), "adj_close": pl.Series([None] * n, dtype=pl.Float64),
        }))
    return pl.concat(frames).with_columns(pl.col("date").cast(pl.Date), pl.col("volume").cast(pl.Int64))


@pytest.fixture
def bars() -> pl.DataFrame:
    return random_bars({"AAA": 300, "BBB": 260})


@pytest.fixture(scope="session")
def sample() -> pl.DataFrame:
    return pl.read_parquet(SAMPLE)


@pytest.fixture(scope="session")
def reproduced(tmp_path_factory) -> Path:
    """The project reproduced once with tiny params (tests/project.py), shared by the end-to-end modules:
    each takes its own copy (project.copy_of) before changing anything. The params every stage read
    are traced (stockcast.section) into the folder TRACE beside it."""
    from stockcast.section import TRACE_ENV

    from .project import reproduced_project

    base = tmp_path_factory.mktemp("reproduced")
    return reproduced_project(base / "repo", {TRACE_ENV: str(base / TRACE)})


def warm_calendars(*names: str, spans: tuple[tuple[str, int, int], ...] = ()) -> None:
    """Import exchange_calendars and build these exchanges' calendars (XNYS always) over calendar.WINDOW, and
    these other (calendar, first year, last year) spans, now, at import, in the test files of the quality
    mutation shard: mutmut forks every mutant's run from the process that imported them, so the import (~1 s)
    and each build (~0.2 s, XKRX ~2.8 s) are paid once per shard, not once per mutant. Pandas only: polars'
    thread pool must not start here."""
    from stockcast.data import calendar

    for name in ("XNYS", *names):
        calendar._calendar(name, *calendar.WINDOW)
    for span in spans:
        calendar._calendar(*span)


@pytest.fixture(scope="session")
def chain(tmp_path_factory):
    """The model stages' project folders (tests/model_chain.py), each built on first use in the session and
    shared by the files that test those stages."""
    from .model_chain import Chain

    return Chain(tmp_path_factory.mktemp("model-chain"))
