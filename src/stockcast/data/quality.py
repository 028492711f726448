"""Quality checks: every input row ends in the clean table or in quarantine with a reason.

Rules are polars expressions evaluated over the whole long table at once. A row breaking several
rules is quarantined under the first one in RULES order, so counts per rule add up to the total.
Duplicates keep their first occurrence. Ticker-level rules (too short a history) are applied to
what the row-level rules left, so a ticker is judged on its usable rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

PRICES = ("open", "high", "low", "close")


@dataclass(frozen=True)
class Rule:
    """A named row-level check: `broken` is true where the row is rejected, `detail` says why."""

    name: str
    broken: pl.Expr
    detail: pl.Expr


def _fmt(col: str) -> pl.Expr:
    return pl.format(f"{col}={{}}", pl.col(col))


RULES: tuple[Rule, ...] = (
    Rule(
        "missing_value",
        pl.any_horizontal(*(pl.col(c).is_null() | pl.col(c).is_nan() for c in PRICES), pl.col("volume").is_null()),
        pl.lit("null or NaN in open/high/low/close/volume"),
    ),
    Rule(
        "duplicate",
        ~pl.struct("ticker", "date").is_first_distinct(),
        pl.format("repeats ticker {} on {}; the first row is kept", pl.col("ticker"), pl.col("date")),
    ),
    Rule(
        "non_positive_price",
        pl.any_horizontal(*(pl.col(c) <= 0 for c in PRICES)),
        pl.format("min(open, high, low, close)={}", pl.min_horizontal(*PRICES)),
    ),
    Rule(
        "ohlc_inconsistent",
        (pl.col("high") < pl.max_horizontal("open", "close")) | (pl.col("low") > pl.min_horizontal("open", "close")),
        pl.format("open={} high={} low={} close={}", *(pl.col(c) for c in PRICES)),
    ),
    Rule("non_positive_volume", pl.col("volume") <= 0, _fmt("volume")),
)


@dataclass(frozen=True)
class QualityResult:
    clean: pl.DataFrame
    quarantine: pl.DataFrame
    report: dict


def check(raw: pl.DataFrame, min_history_days: int) -> QualityResult:
    """Split `raw` (RawOHLCV, sorted) into clean rows and quarantined rows with a rule and detail."""
    rule = pl.lit(None, dtype=pl.String)
    detail = pl.lit(None, dtype=pl.String)
    for r in reversed(RULES):
        rule = pl.when(r.broken.fill_null(False)).then(pl.lit(r.name)).otherwise(rule)
        detail = pl.when(r.broken.fill_null(False)).then(r.detail).otherwise(detail)
    tagged = raw.with_columns(rule=rule, detail=detail.fill_null(""))

    passed = tagged.filter(pl.col("rule").is_null())
    history = passed.group_by("ticker").agg(rows=pl.len())
    short = history.filter(pl.col("rows") < min_history_days)
    short_rows = passed.join(short, on="ticker", how="semi").with_columns(
        rule=pl.lit("short_history"),
        detail=pl.format(f"ticker has {{}} usable rows, fewer than min_history_days={min_history_days}",
                         pl.len().over("ticker")),
    )
    clean = passed.join(short, on="ticker", how="anti").drop("rule", "detail")
    quarantine = pl.concat([tagged.filter(pl.col("rule").is_not_null()), short_rows]).sort(
        "ticker", "date", maintain_order=True)
    return QualityResult(clean, quarantine, _report(raw, clean, quarantine))


def _report(raw: pl.DataFrame, clean: pl.DataFrame, quarantine: pl.DataFrame) -> dict:
    by_rule = dict(quarantine.group_by("rule").len().sort("rule").iter_rows())
    years = clean.group_by("ticker").agg(
        years=(pl.col("date").max() - pl.col("date").min()).dt.total_days() / 365.25)
    kept = set(clean["ticker"].unique().to_list())
    return {
        "rows_in": raw.height,
        "rows_clean": clean.height,
        "rows_quarantined": quarantine.height,
        "by_rule": {r.name: by_rule.get(r.name, 0) for r in RULES} | {"short_history": by_rule.get("short_history", 0)},
        "tickers_in": raw["ticker"].n_unique(),
        "tickers_kept": len(kept),
        "tickers_dropped": sorted(set(raw["ticker"].unique().to_list()) - kept),
        "coverage": {
            "years_per_ticker": {t: round(y, 2) for t, y in years.sort("ticker").iter_rows()},
            "tickers_20y_plus": int((years["years"] >= 20).sum()),
        },
    }
