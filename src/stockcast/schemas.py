"""Pandera (polars) models of every table a stage writes: the data contracts of DESIGN.md.

`validate(frame, Model)` is called on every table before it is written, so a contract broken by
a code change fails the stage that broke it, naming the column and the check.
"""

from __future__ import annotations

from typing import Annotated, Any, Optional

import pandera.polars as pa
import polars as pl
from pandera.api.polars.types import PolarsData
from pandera.errors import SchemaError, SchemaErrors

from stockcast.errors import StockcastError, shown

SEGMENTS = ("train", "val", "test", "embargo", "short")  # short: too few usable rows there (coverage.py)


class RawOHLCV(pa.DataFrameModel):
    """Daily bars as a source delivered them: types are fixed, values are not yet trusted."""

    ticker: str
    date: pl.Date
    open: float = pa.Field(nullable=True)
    high: float = pa.Field(nullable=True)
    low: float = pa.Field(nullable=True)
    close: float = pa.Field(nullable=True)
    volume: pl.Int64 = pa.Field(nullable=True)
    adj_close: float = pa.Field(nullable=True)

    class Config:
        strict = True
        ordered = True


class OHLCV(RawOHLCV):
    """Clean daily bars: sorted unique (ticker, date), positive prices, consistent OHLC, volume >= 0 (zero only
    where quality.rules.zero_volume warns: a trading halt)."""

    open: float = pa.Field(gt=0)
    high: float = pa.Field(gt=0)
    low: float = pa.Field(gt=0)
    close: float = pa.Field(gt=0)
    volume: pl.Int64 = pa.Field(ge=0)
    adj_close: float = pa.Field(nullable=True, gt=0)

    class Config:
        strict = True
        ordered = True

    @pa.dataframe_check
    def sorted_unique_keys(cls, data: PolarsData) -> pl.LazyFrame:
        """(ticker, date) strictly increasing: sorted, hence unique; one pass, 10x cheaper than hashing keys."""
        run = pl.col("ticker").rle_id()
        return data.lazyframe.select(
            pl.when(run == run.shift(1)).then(pl.col("date") > pl.col("date").shift(1))
            .otherwise(pl.col("ticker") > pl.col("ticker").shift(1)).fill_null(True))

    @pa.dataframe_check
    def finite_prices(cls, data: PolarsData) -> pl.LazyFrame:
        """No NaN or inf: polars orders NaN above every number, so `gt=0` alone would let both through."""
        return data.lazyframe.select(pl.all_horizontal(
            *(pl.col(c).is_finite() for c in ("open", "high", "low", "close")),
            pl.col("adj_close").is_finite() | pl.col("adj_close").is_null()))

    @pa.dataframe_check
    def ohlc_consistent(cls, data: PolarsData) -> pl.LazyFrame:
        """high is the bar's maximum and low its minimum."""
        return data.lazyframe.select(
            (pl.col("high") >= pl.max_horizontal("open", "close"))
            & (pl.col("low") <= pl.min_horizontal("open", "close"))
        )


class Quarantine(RawOHLCV):
    """A rejected input row, unchanged, with the rule that decided (the first to reject it), every rule it
    breaks (`broken`, in the order they run) and why."""

    rule: str
    broken: Annotated[pl.List, pl.String()]
    detail: str

    class Config:
        strict = True
        ordered = True


class Findings(pa.DataFrameModel):
    """What quality found that is not a quarantined row: warnings, missing sessions, splits adjusted."""

    ticker: str
    date: pl.Date
    rule: str
    detail: str

    class Config:
        strict = True
        ordered = True


class Labels(pa.DataFrameModel):
    """Targets and the chronological segment of each (ticker, date)."""

    ticker: str
    date: pl.Date
    fwd_return: float = pa.Field(nullable=True)
    next_return: float = pa.Field(nullable=True)
    label: pl.Int8 = pa.Field(nullable=True, isin=[0, 1, 2])  # 0 down, 1 up, 2 flat (split.dead_zone_mode)
    segment: str = pa.Field(isin=list(SEGMENTS))

    class Config:
        strict = True
        unique = ["ticker", "date"]


class Predictions(pa.DataFrameModel):
    """Out-of-sample probabilities beside the truth they are judged on.

    `prob` is P(up) (label 1) for every model, so backtests and IC read it whatever the labels;
    prob_down and prob_flat are present only with three classes (label 2 is flat).
    """

    ticker: str
    date: pl.Date
    segment: str = pa.Field(isin=["val", "test"])
    label: pl.Int8 = pa.Field(isin=[0, 1, 2])
    fwd_return: float
    next_return: float = pa.Field(nullable=True)
    prob: pl.Float32 = pa.Field(ge=0, le=1)
    prob_down: Optional[pl.Float32] = pa.Field(ge=0, le=1)
    prob_flat: Optional[pl.Float32] = pa.Field(ge=0, le=1)

    class Config:
        strict = True
        unique = ["ticker", "date"]


class Signals(pa.DataFrameModel):
    """Tomorrow's calls: one row per ticker the predict stage was given, scored or not.

    A scored row has prob (P(up)), call and rank (1 = the highest P(up) of its as_of date) and no
    reason; a ticker that cannot be scored keeps its row with the reason and no probability, so no
    ticker is ever silently left out. `stale`: its last bar is older than the universe's last date.
    """

    ticker: str
    as_of: pl.Date = pa.Field(nullable=True)  # null: no clean bar at all (quarantined by quality)
    stale: bool = pa.Field(nullable=True)
    prob: pl.Float32 = pa.Field(ge=0, le=1, nullable=True)
    prob_down: Optional[pl.Float32] = pa.Field(ge=0, le=1, nullable=True)
    prob_flat: Optional[pl.Float32] = pa.Field(ge=0, le=1, nullable=True)
    call: str = pa.Field(isin=["down", "up", "flat"], nullable=True)
    rank: pl.Int32 = pa.Field(ge=1, nullable=True)
    model: str
    model_hash: str = pa.Field(str_matches=r"^[0-9a-f]{64}$")
    reason: str = pa.Field(nullable=True)

    class Config:
        strict = True
        unique = ["ticker"]

    @pa.dataframe_check
    def scored_or_explained(cls, data: PolarsData) -> pl.LazyFrame:
        """Exactly one of prob and reason: a probability, or why there is none."""
        return data.lazyframe.select(pl.col("prob").is_null() != pl.col("reason").is_null())


class Returns(pa.DataFrameModel):
    """Daily portfolio returns of the strategy and its benchmark, net of costs."""

    date: pl.Date = pa.Field(unique=True)
    strategy: float
    benchmark: float
    turnover: float = pa.Field(ge=0)

    class Config:
        strict = True


def features_schema(names: list[str]) -> pa.DataFrameSchema:
    """Features table: keys plus float columns that are finite or null (warm-up), never inf."""
    finite = pa.Check(lambda data: data.lazyframe.select(pl.col(data.key).is_finite() | pl.col(data.key).is_null()),
                      name="finite_or_null")
    columns: dict[str, Any] = {
        "ticker": pa.Column(str),
        "date": pa.Column(pl.Date),
        **{name: pa.Column(pl.Float32, checks=[finite], nullable=True) for name in names},
    }
    return pa.DataFrameSchema(columns, strict=True, unique=["ticker", "date"])


def validate(frame: pl.DataFrame, schema: Any, what: str) -> pl.DataFrame:
    """Validate `frame` against a model or schema; a violation is a one-line error naming `what`."""
    try:
        return schema.validate(frame)
    except (SchemaError, SchemaErrors) as err:
        first = shown(str(err).strip().splitlines()[0], 200)
        raise StockcastError(f"{what}: breaks the {getattr(schema, 'name', None) or schema.__name__} contract: {first}") from None
