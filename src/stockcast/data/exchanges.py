"""Which exchange calendar judges each ticker: the universe file's `exchange` column, or one in the data.

One calendar for a mixed universe is wrong both ways: a Korean stock judged by XNYS has its real KRX
sessions quarantined as non_session and its KRX holidays pass unseen. So a ticker may name its exchange
(an exchange_calendars name or alias: XKRX, XNAS, NYSE, LSE); quality.calendar judges the tickers that
name none. When the universe file and the data both name one and disagree, that is an error, not a guess.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import polars as pl

from stockcast.data.calendar import check_calendar
from stockcast.data.columns import contract_names
from stockcast.errors import StockcastError, shown

_NAMES = ("exchange", "mic")  # a data column spelled so (any case, spaces, underscores) names the exchange


def exchange_column(frame: pl.DataFrame) -> str | None:
    """The frame's exchange column (`exchange`, `Exchange`, `MIC`), if it has one."""
    return next((c for c in frame.columns if re.sub(r"[^a-z0-9]", "", c.lower()) in _NAMES), None)


def exchanges_in(frame: pl.DataFrame, origin: str, ticker: str | None = None) -> dict[str, str]:
    """{ticker: exchange} from a raw frame's exchange column ({} without one); `ticker` names a one-ticker
    file's rows. A ticker on two exchanges is a one-line error naming both."""
    column = exchange_column(frame)
    if column is None:
        return {}
    symbol = next((old for old, new in contract_names(frame, origin).items() if new == "ticker"), None)
    pairs = frame.select(ticker=pl.col(symbol).cast(pl.String).str.strip_chars() if symbol else pl.lit(ticker),
                         exchange=pl.col(column).cast(pl.String).str.strip_chars())
    pairs = pairs.filter(pl.col("ticker").is_not_null() & pl.col("exchange").is_not_null()
                         & (pl.col("exchange") != "")).unique().sort("ticker", "exchange")
    twice = pairs.filter(pl.col("ticker").is_duplicated())
    if twice.height:
        raise StockcastError(f"{origin}: ticker {shown(twice['ticker'][0])} is on two exchanges in column "
                             f"{shown(column)}: {twice['exchange'][0]}, {twice['exchange'][1]}")
    return dict(pairs.iter_rows())


def merge(known: Mapping[str, str], more: Mapping[str, str], origin: str,
          known_from: str = "the data's exchange column") -> dict[str, str]:
    """`known` exchanges and those `origin` adds (`more`); a ticker they place differently is an error."""
    for ticker in sorted(known.keys() & more.keys()):
        if known[ticker] != more[ticker]:
            raise StockcastError(f"{origin}: ticker {shown(ticker)} is on exchange {more[ticker]!r} there, "
                                 f"but on {known[ticker]!r} in {known_from}")
    return dict(sorted({**known, **more}.items()))


def of_universe(table: pl.DataFrame | None) -> dict[str, str]:
    """{ticker: exchange} of a universe table (stockcast.data.universe), rows without an exchange left out."""
    if table is None:
        return {}
    return dict(table.filter(pl.col("exchange").is_not_null()).select("ticker", "exchange").iter_rows())


def calendars(tickers: Sequence[str], exchanges: Mapping[str, str], default: str | None,
              origin: str = "exchange") -> list[str | None]:
    """Each ticker's calendar name: its exchange, else `default` (None: no session rules for it)."""
    for name in sorted(set(exchanges.values())):
        owner = next(t for t, e in exchanges.items() if e == name)
        check_calendar(name, f"{origin} of ticker {owner}")
    return [exchanges.get(t, default) for t in tickers]
