"""The service's request and response bodies (pydantic): what /openapi.json and docs/serving.md describe.

A posted bar is the RawOHLCV contract by its exact column names (the CLI's `stockcast predict` reads
files and accepts their spellings; JSON clients write the names). Prices must be finite numbers:
strict JSON has no NaN, but Python's json module writes `NaN` and `Infinity` tokens, which the
server parses and refuses here, naming the bar and the field. Anything else a bar can get wrong
(a non-positive price, high below low, a duplicate date, a date in the future) is for the pipeline's
quality rules to judge, so the service refuses what the quality stage would quarantine, by the same rule.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, FiniteFloat, field_validator
from pydantic_core import PydanticCustomError

from stockcast.data.tickers import validate_ticker
from stockcast.errors import StockcastError

Price = Annotated[FiniteFloat, Field(description="a finite number (NaN and Infinity are refused)")]

MAX_BARS = 200_000
"""The most bars one request may post (about 100 tickers of 8 years): a bound on a request's memory."""


class Bar(BaseModel):
    """One daily bar of one ticker, as the exchange printed it (unadjusted; adj_close optional)."""

    model_config = ConfigDict(extra="forbid")  # a misspelt column ("Close", "adjclose") is an error, not ignored

    ticker: str = Field(examples=["AAPL"], description="1-32 of A-Z a-z 0-9 . ^ = - _ &, as the pipeline's tickers")
    date: dt.date = Field(description="the session, ISO (2024-05-01)")
    open: Price
    high: Price
    low: Price
    close: Price
    volume: int = Field(description="shares traded")
    adj_close: Price | None = Field(None, description="split- and dividend-adjusted close, when known")

    @field_validator("ticker")
    @classmethod
    def _safe_ticker(cls, value: str) -> str:
        """The symbols the pipeline accepts (data.tickers), the message without its `ticker: ` origin."""
        try:
            return validate_ticker(value, "ticker")
        except StockcastError as err:
            raise PydanticCustomError("ticker", str(err).removeprefix("ticker: ")) from None


class PredictRequest(BaseModel):
    """Each ticker's recent history, oldest bar first or in any order, at least `min_rows` bars per ticker
    (GET /health/ready tells it: the slowest feature's warm-up plus the model's window)."""

    model_config = ConfigDict(extra="forbid")

    bars: list[Bar] = Field(min_length=1, max_length=MAX_BARS)


class Signal(BaseModel):
    """One ticker's signal: the Signals table's columns (see the predict stage). `prob` is P(up) over the
    session(s) after `as_of`; prob_down and prob_flat only for a three-class model (else null)."""

    ticker: str
    as_of: dt.date | None = Field(description="the last bar the window ends at; null when the ticker has no clean bar")
    stale: bool | None = Field(description="as_of is before the latest as_of of the same table or request")
    prob: float | None = Field(ge=0, le=1, description="P(up); null only with a reason")
    prob_down: float | None = Field(None, ge=0, le=1)
    prob_flat: float | None = Field(None, ge=0, le=1)
    call: Literal["down", "up", "flat"] | None = Field(
        description="up when prob > threshold (two classes), else down; three classes: the likeliest")
    rank: int | None = Field(ge=1, description="1 = the highest prob among the tickers of the same as_of")
    model: str
    model_hash: str = Field(description="SHA-256 of the model's sealed config.json (GET /health/ready)")
    reason: str | None = Field(description="why the ticker could not be scored (predict stage's table only)")


class PredictResponse(BaseModel):
    """Every posted ticker, scored (a request with one unscorable ticker is refused whole, with a 422)."""

    signals: list[Signal]


class Live(BaseModel):
    """The process answers."""

    status: Literal["live"] = "live"


class Ready(BaseModel):
    """The loaded model and the signals table: what the service answers with."""

    status: Literal["ready"] = "ready"
    model: str
    model_hash: str = Field(description="SHA-256 of the model's sealed config.json (lists every file's SHA-256)")
    threshold: float = Field(description="P(up) above which the call is up")
    features: int = Field(description="features the model reads")
    seq_len: int = Field(description="window length in sessions")
    min_rows: int = Field(description="bars POST /v1/predict needs per ticker: feature warm-up + seq_len")
    signals_as_of: dt.date | None = Field(description="latest as_of of the signals table; null when none is loaded")
    signals_tickers: int = Field(description="tickers in the signals table (scored or not); 0 when none is loaded")


class ErrorBody(BaseModel):
    """Every 4xx and 5xx answer: one line that says what was wrong and, where it can, what would be accepted."""

    error: str = Field(description="one line, no traceback")
