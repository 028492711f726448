"""Tomorrow's signals: each ticker's latest window through the trained model, as the pipeline scores.

The predict stage, `stockcast predict` and the HTTP service all go through `Scorer.signals`, which
reads the features table exactly as the features stage writes it, takes each ticker's last
`seq_len` rows (the window that ends at its last bar, `as_of`), normalises them with the model's
own normaliser and asks the model for class probabilities: the probability of a move over the
session(s) after `as_of`. `Scorer.score_bars` is the same from raw bars: the quality checks, the
features and then `signals`, so a posted history gets the numbers the pipeline would give it.

A ticker that cannot be scored keeps its row with a reason (too short a history, a NaN in its
window, quarantined by quality), never silently left out. Features are causal (a value at t reads
bars up to t), so the signal at t is the one evaluate scored at t: tests/test_predict.py checks it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from stockcast.artifacts import bundle_dir, load_model
from stockcast.checksums import config_hash
from stockcast.data.quality import check
from stockcast.errors import StockcastError
from stockcast.evaluation.classification import predicted_class
from stockcast.features.registry import Feature, all_features, compute
from stockcast.models import Model, Windows, probability_columns
from stockcast.normalize import Normalizer, normalizer_from_dict
from stockcast.params import QualityParams

CALLS = ("down", "up", "flat")  # label order: 0 down, 1 up, 2 flat
WINDOWS = "windows"  # the one segment of Scorer.windows


@dataclass(frozen=True)
class Scorer:
    """A trained model with everything it needs to score new bars: its features, normaliser, window."""

    model: Model
    config: dict[str, Any]
    normalizer: Normalizer
    features: list[Feature]
    name: str
    hash: str  # SHA-256 of the sealed config.json, which lists the SHA-256 of every model file
    threshold: float

    @classmethod
    def load(cls, directory: str | Path, threshold: float = 0.5) -> Scorer:
        """The verified model of `directory` (models/<model> or the bundle inside it); `threshold`
        makes the two-class call (prob > threshold), as evaluate.threshold does for the scores."""
        bundle = bundle_dir(directory)
        model, config = load_model(bundle)
        registry = {f.name: f for f in all_features()}
        unknown = [n for n in config["features"] if n not in registry]
        if unknown:
            raise StockcastError(f"{bundle}: feature {unknown[0]!r} is not in this version's feature registry; "
                                 "retrain the model with this version")
        return cls(model, config, normalizer_from_dict(config["normalizer"]), [registry[n] for n in config["features"]],
                   config["model"], config_hash(bundle), threshold)

    @property
    def seq_len(self) -> int:
        return int(self.config["params"]["seq_len"])

    @property
    def lookback(self) -> int:
        """Sessions before a feature's first value: the warm-up of the slowest feature."""
        return max(f.lookback for f in self.features)

    @property
    def min_rows(self) -> int:
        """Bars a ticker needs for one finite window: the warm-up, then seq_len rows."""
        return self.lookback + self.seq_len

    def signals(self, features: pl.DataFrame | pl.LazyFrame, last_date: date | None = None) -> pl.DataFrame:
        """One Signals row per ticker of the features table (ticker, date, one column per feature; a
        lazy scan reads only the rows the windows need): the latest window scored, or the reason it
        cannot be. `last_date` (default: the table's last date) is the universe's last session; a
        ticker whose as_of is before it is `stale`."""
        names = [f.name for f in self.features]
        scan = features.lazy()
        missing = [n for n in ("ticker", "date", *names) if n not in scan.collect_schema().names()]
        if missing:
            raise StockcastError(f"features table: lacks column {missing[0]!r}, one of the {len(names)} features "
                                 f"the model was trained on; rerun the features stage with the set it was trained on")
        tails, context = _window_rows(scan.select("ticker", "date", *names), self.seq_len,
                                      cross_section=self.normalizer.kind == "rank")
        verdict = _verdicts(_with_first_nan(tails, names), self.seq_len, self.min_rows)
        ok = verdict.filter(pl.col("reason").is_null())
        rows = tails.filter(pl.col("ticker").is_in(ok["ticker"].implode()))
        proba = self._predict(rows, names, context) if rows.height else np.empty((0, self.model.n_classes), np.float32)
        last_date = last_date or tails["date"].max()
        return self._table(ok.with_columns(**probability_columns(proba)),
                           verdict.filter(pl.col("reason").is_not_null()), last_date)

    def score_bars(self, bars: pl.DataFrame, now: datetime | None = None) -> tuple[pl.DataFrame, pl.DataFrame]:
        """Signals from raw bars (ticker, date, open, high, low, close, volume[, adj_close]) and the rows
        quality quarantined: the pipeline's quality checks (serving_quality), features and model. A
        ticker with a quarantined bar is not scored (its window would skip that bar): its reason says why."""
        result = check(bars, serving_quality(), origin="bars", now=now)
        quarantined = result.quarantine.group_by("ticker").agg(reason=pl.format(
            "{} bar(s) quarantined by quality, the first on {} ({})", pl.len(), pl.col("date").min(),
            pl.col("rule").sort_by("date").first()))
        clean = result.clean.filter(~pl.col("ticker").is_in(quarantined["ticker"].implode()))
        scored = self.signals(compute(clean, self.features)) if clean.height else None
        listed = unscorable(quarantined, self)
        both = listed if scored is None else pl.concat([scored, listed], how="vertical_relaxed")
        return both.sort("ticker"), result.quarantine

    def _predict(self, rows: pl.DataFrame, names: list[str], context: pl.DataFrame | None) -> np.ndarray:
        """(tickers, n_classes) probabilities of the windows in `rows` (seq_len rows per ticker, in order);
        `context`: every row of the window dates, for a normaliser that ranks within a date."""
        x = rows.select(pl.col(names).cast(pl.Float32)).to_numpy(order="c")
        if context is not None:
            x = _ranked(context, rows, names, self.normalizer)
        else:
            self.normalizer.transform(x, rows["date"].to_numpy())
        return self.model.predict_proba(self.windows(x, np.full(len(x) // self.seq_len, np.nan)), WINDOWS)

    def windows(self, x: np.ndarray, y: np.ndarray) -> Windows:
        """Windows (segment WINDOWS) over consecutive blocks of seq_len normalised rows, one block per
        window, labelled `y`: the whole block for a sequence model, its last row for a tabular one."""
        ends = np.arange(self.seq_len - 1, len(x), self.seq_len)
        if not self.model.reads_sequences:
            return Windows(np.ascontiguousarray(x[ends]), y.astype(np.float32), 1, {WINDOWS: np.arange(len(ends))})
        labels = np.full(len(x), np.nan, dtype=np.float32)
        labels[ends] = y
        return Windows(x, labels, self.seq_len, {WINDOWS: ends})

    def _table(self, scored: pl.DataFrame, unscored: pl.DataFrame, last_date: date) -> pl.DataFrame:
        """The Signals table: calls, ranks within as_of, stale flags, model name and hash; unscored rows keep a reason.
        Its contract (schemas.Signals) is checked where it is written (tables.write_table) and where it is
        served (serve.schemas.Signal), not here: on one ticker the pandera check would be a fifth of a request."""
        scored = scored.with_columns(call=_call(scored, self.threshold),
                                     rank=pl.col("prob").rank("min", descending=True).over("as_of").cast(pl.Int32))
        both = pl.concat([scored, unscored], how="diagonal_relaxed").with_columns(
            stale=pl.col("as_of") < last_date, model=pl.lit(self.name), model_hash=pl.lit(self.hash))
        return both.sort("ticker").select(signals_columns(self))


def signals_columns(scorer: Scorer) -> list[str]:
    """The Signals table's columns in order; prob_down and prob_flat only with three classes."""
    three = ["prob_down", "prob_flat"] if scorer.model.n_classes == 3 else []
    return ["ticker", "as_of", "stale", "prob", *three, "call", "rank", "model", "model_hash", "reason"]


def serving_quality() -> QualityParams:
    """The quality rules a posted history is held to: the stage's row rules (missing, non-finite,
    non-positive, inconsistent OHLC, negative or zero volume, future dates, duplicates, stale runs),
    without the ones a short request cannot meet (a full history, every session of a calendar)."""
    params = QualityParams()
    rules = params.rules.model_copy(update={
        "short_history": params.rules.short_history.model_copy(update={"enabled": False}),
        "missing_session": params.rules.missing_session.model_copy(update={"enabled": False}),
        "non_session": params.rules.non_session.model_copy(update={"enabled": False})})
    return params.model_copy(update={"calendar": None, "rules": rules})


def unscorable(tickers: pl.DataFrame, scorer: Scorer) -> pl.DataFrame:
    """Signals rows for tickers with no clean bar (ticker, reason): listed, never dropped."""
    return tickers.select("ticker", "reason").with_columns(
        as_of=pl.lit(None, pl.Date), stale=pl.lit(None, pl.Boolean), prob=pl.lit(None, pl.Float32),
        **({"prob_down": pl.lit(None, pl.Float32), "prob_flat": pl.lit(None, pl.Float32)}
           if scorer.model.n_classes == 3 else {}),
        call=pl.lit(None, pl.String), rank=pl.lit(None, pl.Int32), model=pl.lit(scorer.name),
        model_hash=pl.lit(scorer.hash)).select(signals_columns(scorer))


def _window_rows(scan: pl.LazyFrame, seq_len: int, cross_section: bool) -> tuple[pl.DataFrame, pl.DataFrame | None]:
    """Each ticker's last seq_len rows (ticker, date order) with its row count, read from the scan
    without the rest of the table; with `cross_section`, also every row of those rows' dates."""
    counts = scan.select("ticker", "date").group_by("ticker").agg(
        rows=pl.len(), cutoff=pl.col("date").sort().tail(seq_len).first()).collect()
    tails = (scan.join(counts.lazy(), on="ticker").filter(pl.col("date") >= pl.col("cutoff")).drop("cutoff")
             .sort("ticker", "date").collect(engine="streaming"))
    if not cross_section:
        return tails, None
    dates = tails["date"].unique().implode()
    return tails, scan.filter(pl.col("date").is_in(dates)).sort("ticker", "date").collect(engine="streaming")


def _with_first_nan(tails: pl.DataFrame, names: list[str]) -> pl.DataFrame:
    """Each row's first feature (in model order) that is null or NaN."""
    return tails.with_columns(nan_feature=pl.coalesce(
        [pl.when(pl.col(n).is_null() | pl.col(n).is_nan()).then(pl.lit(n)) for n in names]))


def _verdicts(tails: pl.DataFrame, seq_len: int, min_rows: int) -> pl.DataFrame:
    """Per ticker: as_of, and why its latest window cannot be scored (null when it can)."""
    bad = pl.col("nan_feature").is_not_null()
    per_ticker = tails.group_by("ticker", maintain_order=True).agg(
        as_of=pl.col("date").last(), rows=pl.col("rows").first(),
        nan_feature=pl.col("nan_feature").filter(bad).first(), nan_date=pl.col("date").filter(bad).first())
    history = pl.format("too short a history: {} sessions, the model needs {} (feature warm-up {} + window {})",
                        pl.col("rows"), pl.lit(min_rows), pl.lit(min_rows - seq_len), pl.lit(seq_len))
    gap = pl.format("NaN in feature {} on {}, inside the latest window of {} sessions",
                    pl.col("nan_feature"), pl.col("nan_date"), pl.lit(seq_len))
    reason = (pl.when(pl.col("rows") < min_rows).then(history)
              .when(pl.col("nan_feature").is_not_null()).then(gap).otherwise(None))
    return per_ticker.select("ticker", "as_of", reason.alias("reason"))


def _ranked(dates: pl.DataFrame, rows: pl.DataFrame, names: list[str], normalizer: Normalizer) -> np.ndarray:
    """`rows`' features ranked as the pipeline ranks them: among every ticker of the same date (`dates`)."""
    x = dates.select(pl.col(names).cast(pl.Float32).fill_null(float("nan"))).to_numpy(order="c")
    normalizer.transform(x, dates["date"].to_numpy())
    at = dates.select("ticker", "date").with_row_index("_at").join(rows.select("ticker", "date"), on=["ticker", "date"],
                                                                    how="right")["_at"].to_numpy()
    return np.ascontiguousarray(x[at])


def _call(scored: pl.DataFrame, threshold: float) -> pl.Expr:
    """The call as evaluate makes it (evaluation.classification.predicted_class), named."""
    return predicted_class(scored, threshold).replace_strict(dict(enumerate(CALLS)), return_dtype=pl.String)
