"""Does the model rank the day's tickers well? Information coefficients and top/flop accuracy.

Accuracy scores each prediction alone; a portfolio trades the cross-section. These metrics score
each date's ranking:
- IC: Pearson correlation, across the tickers of a date, of P(up) with the label's forward return;
  rank IC: Spearman's. ICIR = mean / std of the daily series (qlib's definition, not annualised);
  the t-statistic mean / std * sqrt(days) tests mean IC = 0 (days treated as independent).
- top/flop accuracy: on each date the k most confident "up" calls (highest P(up)) are right when
  the label is 1, the k most confident "down" calls (lowest P(up)) when it is 0 (flat, 2, is
  wrong for both); k_t =
  min(k, floor(N_t / 2)) so a name is never both.
"""

from __future__ import annotations

import numpy as np
import polars as pl

MIN_NAMES = 3  # a correlation of two points is +-1 by construction


def information_coefficients(frame: pl.DataFrame) -> pl.DataFrame:
    """date, ic, rank_ic, n for each date of `frame` (date, prob, fwd_return) with >= MIN_NAMES
    tickers and a defined correlation (not all predictions equal)."""
    return (frame.group_by("date")
            .agg(ic=pl.corr("prob", "fwd_return"), rank_ic=pl.corr("prob", "fwd_return", method="spearman"),
                 n=pl.len())
            .filter((pl.col("n") >= MIN_NAMES) & pl.col("ic").is_not_nan() & pl.col("rank_ic").is_not_nan())
            .sort("date"))


def ic_summary(ic: pl.DataFrame) -> dict[str, float]:
    """Mean, ICIR and t-statistic of the daily IC and rank IC (module doc), and the number of dates."""
    out: dict[str, float] = {"ic_days": ic.height}
    for name in ("ic", "rank_ic"):
        series = ic[name].to_numpy()
        mean = float(series.mean()) if len(series) else float("nan")
        std = float(series.std(ddof=1)) if len(series) > 1 else float("nan")
        ratio = mean / std if std > 0 else float("nan")
        out |= {f"{name}_mean": mean, f"{name}_ir": ratio, f"{name}_tstat": ratio * np.sqrt(len(series))}
    return out


def top_flop_accuracy(frame: pl.DataFrame, k: int) -> dict[str, float]:
    """Accuracy of the k most confident up calls (top), down calls (flop) and both, per date pooled
    over dates, on `frame` (date, prob, label); NaN where no date has two names."""
    n = pl.len().over("date")
    k_t = pl.min_horizontal(pl.lit(k), n // 2)
    ranked = frame.select(
        "label",
        top=pl.col("prob").rank("ordinal", descending=True).over("date") <= k_t,
        flop=pl.col("prob").rank("ordinal").over("date") <= k_t,
    )
    top = ranked.filter("top")["label"]
    flop = ranked.filter("flop")["label"]
    top_hits, flop_hits = float((top == 1).sum()), float((flop == 0).sum())  # a flat label is a miss for both
    hits = top_hits + flop_hits

    def share(part: float, total: int) -> float:
        return part / total if total else float("nan")

    return {"top_accuracy": share(top_hits, top.len()),
            "flop_accuracy": share(flop_hits, flop.len()),
            "top_flop_accuracy": share(hits, top.len() + flop.len()),
            "top_flop_n": top.len() + flop.len()}
