"""The checks on params that need the domain: the ones stockcast.params, a leaf, cannot make.

stockcast.params checks types and ranges; here a value is checked against what the library knows: the
feature set and families registered, the ratios the split detector can parse, tickers that are safe
file names, an exchange_calendars name, an embargo at least horizon + the features' longest lookback,
and a walk-forward model the pipeline can declare. `stockcast check-params` and the pipeline's first
stage (stages/params.py) run them all, so a bad value fails before any stage deletes an output; the
stages make the same checks with the same functions when they run alone.
"""

from __future__ import annotations

from pathlib import Path

from stockcast.data.calendar import check_calendar
from stockcast.data.stock_splits import parse_ratio
from stockcast.data.tickers import validate_ticker
from stockcast.features.registry import feature_set
from stockcast.params import SECTIONS, Section, load_all
from stockcast.segments import check_embargo


def check_sections(sections: dict[str, Section], source: str = "params.yaml") -> None:
    """Raise a one-line StockcastError for the first value the domain refuses."""
    ingest, quality, features, split = (sections.get(name) or SECTIONS[name]()
                                        for name in ("ingest", "quality", "features", "split"))
    for ticker in ingest.download.tickers:
        validate_ticker(ticker, f"{source}: ingest.download.tickers")
    for text in quality.split_ratios:
        parse_ratio(text)
    if quality.calendar is not None:
        check_calendar(quality.calendar, f"{source}: quality.calendar")
    chosen = feature_set(features.set, features.families)
    check_embargo(split.embargo_days, split.horizon, max(f.lookback for f in chosen))


def check_file(path: str | Path = "params.yaml") -> dict[str, Section]:
    """Every section of `path`, validated by stockcast.params and then by the domain."""
    sections = load_all(path)
    check_sections(sections, str(path))
    return sections
