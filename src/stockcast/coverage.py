"""Who takes part in each segment: per ticker, the usable rows in train, val and test, and the rule
that leaves a ticker out of a segment it cannot contribute to.

A row is usable when it has a label and every feature is finite (a feature's warm-up, or a price
that made it NaN, leaves a row out of every window). A ticker with labelled rows in a segment but
fewer than `min_rows` usable ones there is moved out of it (segment "short"), with a finding: eight
training rows teach nothing and a test accuracy on thirty rows is noise. Having no rows at all in
a segment is no finding (a ticker listed late trades only in test, one delisted early only trains).
The split stays by date: "short" rows are simply in no segment of the chronological split.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from stockcast.errors import StockcastError

SEGMENTS = ("train", "val", "test")
SHORT = "short"


def usable_rows(features: pl.LazyFrame) -> pl.DataFrame:
    """ticker, date and `usable`: every feature of the row is finite (not null, NaN or infinite)."""
    names = [c for c in features.collect_schema().names() if c not in ("ticker", "date")]
    finite = [pl.col(c).cast(pl.Float64).is_finite().fill_null(False) for c in names]
    return features.select("ticker", "date", usable=pl.all_horizontal(finite) if finite else pl.lit(True)).collect()


def enforce(labels: pl.DataFrame, usable: pl.DataFrame, min_rows: int) -> tuple[pl.DataFrame, dict[str, Any]]:
    """`labels` with short (ticker, segment) pairs moved to segment "short", and the coverage report:
    usable rows per ticker and segment, what was left out and why, who is in each segment. Raises
    when a segment is left with no ticker: that one line says what is short and what to change."""
    rows = labels.join(usable, on=["ticker", "date"], how="left").with_columns(pl.col("usable").fill_null(False))
    counts = (rows.filter(pl.col("segment").is_in(SEGMENTS) & pl.col("label").is_not_null())
              .group_by("ticker", "segment").agg(labelled=pl.len(), usable=pl.col("usable").sum())
              .sort("ticker", "segment"))
    short = counts.filter(pl.col("usable") < min_rows)
    for segment in SEGMENTS:
        candidates = counts.filter(pl.col("segment") == segment)
        if candidates.filter(pl.col("usable") >= min_rows).is_empty():
            raise StockcastError(_nothing_left(segment, candidates, min_rows))
    out = labels.join(short.select("ticker", "segment", short=pl.lit(True)), on=["ticker", "segment"], how="left") \
        .with_columns(segment=pl.when(pl.col("short")).then(pl.lit(SHORT)).otherwise(pl.col("segment"))).drop("short")
    kept = counts.filter(pl.col("usable") >= min_rows)
    per_ticker = {t: {s: 0 for s in SEGMENTS} for t in labels["ticker"].unique().sort()}
    for ticker, segment, _, n in counts.iter_rows():
        per_ticker[ticker][segment] = n
    report = {
        "min_rows_per_segment": min_rows,
        "usable_rows": per_ticker,
        "left_out": [{"ticker": t, "segment": s, "usable": u, "labelled": n} for t, s, n, u in short.iter_rows()],
        "tickers": {s: kept.filter(pl.col("segment") == s)["ticker"].to_list() for s in SEGMENTS},
        "dropped": sorted(set(per_ticker) - set(kept["ticker"])),
    }
    return out, report


def findings(report: dict[str, Any]) -> list[str]:
    """One line per ticker and segment left out, and per ticker left with no segment."""
    limit = report["min_rows_per_segment"]
    lines = [f"{r['ticker']} left out of {r['segment']}: {r['usable']} usable rows of {r['labelled']} labelled, "
             f"fewer than split.min_rows_per_segment={limit}" for r in report["left_out"]]
    return lines + [f"{t} dropped: it has no segment left" for t in report["dropped"]]


def _nothing_left(segment: str, candidates: pl.DataFrame, min_rows: int) -> str:
    if candidates.is_empty():
        most = "no ticker has a labelled row there"
    else:
        ticker, _, labelled, usable = candidates.sort("usable", descending=True).row(0)
        most = f"the most is {ticker} with {usable} of {labelled} labelled rows usable"
    return (f"split: no ticker has split.min_rows_per_segment={min_rows} usable rows (labelled, every feature finite) "
            f"in {segment}; {most}; add history, lower split.min_rows_per_segment, or move the split "
            f"(split.train_fraction, split.val_fraction, split.embargo_days)")
