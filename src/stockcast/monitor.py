"""Is the model still looking at the market it was trained on? Drift, live accuracy, importance, the retrain rule.

Reference: the features of the rows the model was fitted on (config.json's `dates.train`, so the
reference stays put while new bars arrive), a sample of about `reference_rows` of them (read_sides).
Current: every row of the universe's last `monitor.window` sessions. NaN (warm-up) is dropped.

Per feature, the statistics Evidently computes for numeric columns (evidently's stattests, written
here with numpy and scipy instead of its 26 runtime dependencies):
- PSI, the population stability index, on `psi_bins` reference quantile bins:
  sum_i (c_i - r_i) * ln(c_i / r_i) over the bins' shares, each clipped below at 0.0001
  (Evidently's psi_stat_test; Yurdakul 2018, "Statistical properties of population stability index");
- KS: the two-sample Kolmogorov-Smirnov p-value (scipy.stats.ks_2samp; Kolmogorov's limit beyond
  10,000 rows a side, _ks_and_wasserstein);
- normed Wasserstein: W1(reference, current) / max(std(reference), 0.001) (Evidently's
  wasserstein_stat_test; scipy.stats.wasserstein_distance).
`method: auto` flags drift as Evidently does: by KS (p below ks_p_value) when the reference has at
most 1,000 rows, by normed Wasserstein (above its threshold) beyond. The predicted probability gets
the same statistics: the val segment's predictions (the test's before the current window with a
train+val refit) against the current window's.

Live accuracy and IC are those of the labelled predictions in the current window, with a 95%
Wilson interval and a normal interval on the mean daily IC, beside the test segment's. Permutation
importance (the rise in log loss when one feature is shuffled across the windows' rows; Breiman
2001) is measured on reference windows (the val dates, else the last train dates) and on current
windows; LightGBM's training gain is shown beside it. The retrain rule fires on either of
RetrainParams' conditions and says why in one line.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import polars as pl
from scipy import stats

from stockcast.dataset import Panel
from stockcast.errors import StockcastError
from stockcast.evaluation.classification import calls
from stockcast.evaluation.cross_section import ic_summary, information_coefficients
from stockcast.evaluation.significance import Z_95, wilson_interval
from stockcast.models import Windows
from stockcast.params import MonitorParams
from stockcast.predict import WINDOWS, Scorer

KS_MAX_REFERENCE = 1000  # Evidently's auto rule: KS up to this many reference rows, Wasserstein beyond
PSI_FLOOR = 1e-4         # empty bins' share, so ln() stays finite (Evidently's choice)
STD_FLOOR = 1e-3         # the Wasserstein norm of a constant reference (Evidently's choice)


@dataclass
class MonitorResult:
    metrics: dict[str, Any]        # metrics/monitor.json
    drift: pl.DataFrame            # feature, psi, ks_p, wasserstein, drifted (plots/monitor_drift.csv)
    importance: pl.DataFrame       # feature, reference, current[, gain_at_training]


def column_drift(reference: np.ndarray, current: np.ndarray, params: MonitorParams, n_reference: int | None = None,
                 blocks: list[np.ndarray] | None = None) -> dict[str, float | bool]:
    """PSI, KS p-value, normed Wasserstein and the drifted flag of one column (module doc).
    `n_reference`: the reference's size before sampling (it picks the test under `auto`); `blocks`:
    the reference's own window-length blocks, which calibrate the `calibrated` method."""
    r, c = np.sort(reference[np.isfinite(reference)]), current[np.isfinite(current)]
    if len(r) == 0 or len(c) == 0:
        return {"psi": float("nan"), "ks_p": float("nan"), "wasserstein": float("nan"),
                "wasserstein_limit": float("nan"), "drifted": False}
    c = np.sort(c)
    edges = np.unique(_sorted_quantile(r, np.linspace(0, 1, params.psi_bins + 1)[1:-1]))
    # bin i holds edges[i-1] <= v < edges[i]: counts from where the edges fall in the sorted values
    shares = [np.maximum(np.diff(np.r_[0, np.searchsorted(v, edges, side="left"), len(v)]) / len(v), PSI_FLOOR)
              for v in (r, c)]
    psi = float(np.sum((shares[1] - shares[0]) * np.log(shares[1] / shares[0])))
    ks_p, distance = _ks_and_wasserstein(r, c)
    scale = max(float(np.std(r)), STD_FLOOR)
    wasserstein = distance / scale
    limit = params.wasserstein_threshold
    method = params.method
    if method == "auto":
        method = "ks" if (n_reference or len(r)) <= KS_MAX_REFERENCE else "wasserstein"
    if method == "calibrated":
        finite = [b[np.isfinite(b)] for b in blocks or []]
        typical = np.median([len(b) for b in finite]) if finite else 0
        sized = [b for b in finite if len(b) >= typical / 2]  # warm-up blocks are mostly NaN: left out
        size = min([len(c), *(len(b) for b in sized)])
        distances = _quantile_wasserstein(r, np.stack([_spaced(v, size) for v in (*sized, c)])) / scale
        limit = max([limit, *distances[:-1]])  # the blocks' own, then the current's last
        drifted = distances[-1] > limit
    else:
        drifted = {"ks": ks_p < params.ks_p_value, "wasserstein": wasserstein > limit,
                   "psi": psi > params.psi_threshold}[method]
    return {"psi": psi, "ks_p": ks_p, "wasserstein": wasserstein, "wasserstein_limit": float(limit),
            "drifted": bool(drifted)}


def feature_drift(reference: np.ndarray, current: np.ndarray, names: list[str], params: MonitorParams,
                  n_reference: int, block_of: np.ndarray | None = None) -> pl.DataFrame:
    """column_drift of every feature: (rows, F) arrays, one column per name; `block_of`: each
    reference row's block (consecutive runs of `window` sessions) for the calibrated method."""
    groups = [] if block_of is None else [np.flatnonzero(block_of == b) for b in np.unique(block_of) if b >= 0]
    one = lambda j: column_drift(reference[:, j], current[:, j], params, n_reference,  # noqa: E731
                                 [reference[g, j] for g in groups])
    with ThreadPoolExecutor(len(os.sched_getaffinity(0))) as pool:  # numpy's sorts let go of the GIL
        rows = [{"feature": name} | row for name, row in zip(names, pool.map(one, range(len(names))))]
    return pl.DataFrame(rows, schema={"feature": pl.String, "psi": pl.Float64, "ks_p": pl.Float64,
                                      "wasserstein": pl.Float64, "wasserstein_limit": pl.Float64,
                                      "drifted": pl.Boolean})


def _spaced(values: np.ndarray, size: int) -> np.ndarray:
    """`size` evenly spaced values of `values` (all of them when it has no more)."""
    return values if len(values) <= size else values[np.linspace(0, len(values) - 1, size).astype(np.int64)]


def _quantile_wasserstein(sorted_reference: np.ndarray, samples: np.ndarray) -> np.ndarray:
    """W1 between each row of `samples` (equal-sized samples, one per row) and the reference's
    quantile function: mean |x_(i) - Q((i - 1/2) / n)|, Q as np.quantile's default (linear) reads it
    off the sorted reference. One sort and one quantile function for all rows."""
    x = np.sort(samples, axis=-1).astype(np.float64)
    n = x.shape[-1]
    return np.mean(np.abs(x - _sorted_quantile(sorted_reference, (np.arange(n) + 0.5) / n)), axis=-1)


def _sorted_quantile(sorted_values: np.ndarray, q: np.ndarray) -> np.ndarray:
    """np.quantile's default (linear) of already sorted values, without its partition: the value at
    position q (n - 1), interpolated between its two neighbours."""
    position = q * (len(sorted_values) - 1)
    low = np.floor(position).astype(np.int64)
    high = np.minimum(low + 1, len(sorted_values) - 1)
    v = sorted_values.astype(np.float64)
    return v[low] + (position - low) * (v[high] - v[low])


def _ks_and_wasserstein(r: np.ndarray, c: np.ndarray) -> tuple[float, float]:
    """Two-sample KS p-value and W1 from the two sorted samples' empirical CDFs on every value, as
    scipy computes them (ks_2samp; wasserstein_distance's CDF integral), without sorting them again.
    The KS p-value is scipy's exact one up to 10,000 rows a side; beyond, Kolmogorov's limiting law
    (kstwobign at D sqrt(mn / (m + n))), within 2% of scipy's asymptotic ks_2samp there (its finite-n
    kstwo law), which costs ~0.15 s a call once p is below ~0.05: 95 features would take 14 s."""
    both = np.concatenate([r, c])
    order = np.argsort(both, kind="stable")  # timsort: one linear merge of the two sorted runs
    values = both[order]
    in_r = np.cumsum(order < len(r))
    gap = np.abs(in_r / len(r) - (np.arange(1, len(both) + 1) - in_r) / len(c))
    wasserstein = float(np.sum(gap[:-1] * np.diff(values.astype(np.float64))))  # ties add 0 (no width)
    gap = gap[np.r_[values[1:] != values[:-1], True]]  # the CDFs at the last of each run of equal values
    if max(len(r), len(c)) <= 10_000:
        return float(stats.ks_2samp(r, c).pvalue), wasserstein
    m, n = float(len(r)), float(len(c))
    return float(stats.kstwobign.sf(gap.max() * np.sqrt(m * n / (m + n)))), wasserstein


def live_scores(rows: pl.DataFrame, threshold: float) -> dict[str, float]:
    """Accuracy with its 95% Wilson interval and the mean daily IC with a normal 95% interval, of
    labelled predictions (ticker, date, label, prob[, prob_down, prob_flat], fwd_return)."""
    n = rows.height
    hits = int((calls(rows, threshold) == rows["label"].to_numpy()).sum()) if n else 0
    low, high = wilson_interval(hits, n) if n else (float("nan"), float("nan"))
    ic = information_coefficients(rows)
    summary = ic_summary(ic)
    half = Z_95 * float(ic["ic"].std(ddof=1)) / np.sqrt(ic.height) if ic.height > 1 else float("nan")
    return {"n": n, "accuracy": hits / n if n else float("nan"), "accuracy_low": float(low),
            "accuracy_high": float(high), "ic_mean": summary["ic_mean"], "ic_low": summary["ic_mean"] - half,
            "ic_high": summary["ic_mean"] + half, "ic_days": summary["ic_days"]}


def retrain_reasons(drifted_share: float, live: dict[str, float], test: dict[str, float],
                    params: MonitorParams) -> list[str]:
    """Why the model should be retrained, one line per rule that fires (none: keep it)."""
    rule, reasons = params.retrain, []
    if drifted_share > rule.max_drifted_share:
        reasons.append(f"{drifted_share:.0%} of the features drifted (retrain.max_drifted_share "
                       f"{rule.max_drifted_share:.0%})")
    if rule.accuracy_below_test and live["n"] >= rule.min_live_rows and live["accuracy_high"] < test["accuracy_low"]:
        reasons.append(f"live accuracy {live['accuracy']:.4f} [{live['accuracy_low']:.4f}, {live['accuracy_high']:.4f}] "
                       f"on {live['n']} predictions is below the test's {test['accuracy']:.4f} "
                       f"[{test['accuracy_low']:.4f}, {test['accuracy_high']:.4f}]")
    return reasons


def permutation_importance(scorer: Scorer, data: Windows, segment: str, rng: np.random.Generator) -> np.ndarray:
    """Per feature, the rise in log loss when that feature is shuffled across the rows the windows read."""
    ends = data.ends[segment]
    y = data.y[ends].astype(np.int64)
    used = np.unique((ends[:, None] + np.arange(-data.seq_len + 1, 1)).ravel())
    base = _log_loss(scorer.model.predict_proba(data, segment), y)
    rises = np.empty(data.x.shape[1])
    for j in range(data.x.shape[1]):
        x = data.x.copy()
        x[used, j] = x[rng.permutation(used), j]
        rises[j] = _log_loss(scorer.model.predict_proba(Windows(x, data.y, data.seq_len, data.ends), segment), y) - base
    return rises


def monitor(scorer: Scorer, features: pl.LazyFrame, labels: pl.DataFrame, predictions: pl.DataFrame,
            test: dict[str, float], params: MonitorParams, gain: dict[str, float] | None = None) -> MonitorResult:
    """Everything the monitor stage reports (module doc); `gain`: LightGBM's per-feature training gain."""
    names = [f.name for f in scorer.features]
    dates = scorer.config.get("dates", {})
    if "train" not in dates:
        raise StockcastError(f"{scorer.name}: its config.json has no `dates` (the train segment's dates); "
                             "retrain it with this version (`dvc repro -f train`)")
    train_from, train_to = (date.fromisoformat(dates["train"][k]) for k in ("first", "last"))
    sessions = features.select("date").unique().sort("date").collect()["date"]
    current_from = sessions[max(len(sessions) - params.window, 0)]
    reference, block, n_reference, current = read_sides(features, names, (train_from, train_to), current_from,
                                                        params.reference_rows, params.window)
    drift = feature_drift(reference, current, names, params, n_reference, block)

    live_rows = predictions.filter(pl.col("date") >= current_from)
    before = predictions.filter(pl.col("segment") == "val")
    if before.is_empty():
        before = predictions.filter(pl.col("date") < current_from)
    prediction = column_drift(before["prob"].to_numpy(), live_rows["prob"].to_numpy(), params)
    live = live_scores(live_rows, scorer.threshold)

    importance = _importance(scorer, features, labels, dates, current_from, params, gain)
    drifted_share = float(drift["drifted"].mean()) if drift.height else 0.0
    reasons = retrain_reasons(drifted_share, live, test, params)
    correlation = stats.spearmanr(importance["reference"], importance["current"]).statistic
    metrics = {
        "features": {r["feature"]: {k: r[k] for k in ("psi", "ks_p", "wasserstein", "drifted")}
                     for r in drift.iter_rows(named=True)},
        "drift": {"method": params.method, "features_drifted": int(drift["drifted"].sum()),
                  "drifted_share": drifted_share, "reference_rows": n_reference, "current_rows": len(current),
                  "current_from": str(current_from), "current_to": str(sessions[-1])},
        "prediction": prediction,
        "live": live,
        "test_segment": {k: test[k] for k in ("accuracy", "accuracy_low", "accuracy_high", "ic_mean")},
        "importance": {"rank_correlation": float(correlation), "windows_reference": importance.height and
                       int(importance["windows_reference"][0]), "windows_current": importance.height and
                       int(importance["windows_current"][0])},
        "retrain": {"fires": bool(reasons), "reasons": "; ".join(reasons)},
    }
    return MonitorResult(metrics, drift, importance.drop("windows_reference", "windows_current"))


def read_sides(scan: pl.LazyFrame, names: list[str], train: tuple[date, date], current_from: date, at_most: int,
               window: int) -> tuple[np.ndarray, np.ndarray, int, np.ndarray]:
    """A sample of about `at_most` of the rows dated in `train`, each sampled row's block
    (block_ids), the rows there were, and every row from `current_from` on: the keys (ticker, date)
    are read first to size the sample, then the features of both sides in one pass.

    The sample keeps 1 row in k: each ticker's rows on every k-th session, the tickers' offsets spread
    over the k phases, so every session and every ticker is sampled alike (not one session in k: that
    would keep whole days). The filter reads only the row's own ticker and date, so polars applies it
    while it decodes and the other columns of the rows it drops are never built."""
    in_train = pl.col("date").is_between(*train)
    keys = scan.select("ticker", "date").collect()
    total = int(keys.filter(in_train).height)
    step = max(1, -(-total // at_most))
    sampled = in_train
    if step > 1:
        sessions, tickers = keys["date"].unique().sort(), keys["ticker"].unique().sort()
        session = pl.col("date").replace_strict(sessions, pl.int_range(len(sessions), eager=True), return_dtype=pl.Int64)
        phase = pl.col("ticker").replace_strict(tickers, pl.int_range(len(tickers), eager=True) % step,
                                                return_dtype=pl.Int64)
        sampled = in_train & ((session + phase) % step == 0)
    is_current = pl.col("date") >= current_from
    rows = (scan.filter(sampled | is_current).with_columns(_sampled=sampled, _current=is_current)
            .select("date", *names, "_sampled", "_current").collect())
    reference = rows.filter(pl.col("_sampled"))
    current = rows.filter(pl.col("_current"))
    return (reference.select(names).to_numpy(), block_ids(reference["date"], window), total,
            current.select(names).to_numpy())


def block_ids(dates: pl.Series, window: int) -> np.ndarray:
    """Each row's block of `window` consecutive sessions (in the dates present), -1 in the last partial one."""
    rank = dates.rank("dense").cast(pl.Int64).to_numpy() - 1
    block = rank // window
    block[block >= (rank.max() + 1) // window] = -1
    return block


def _importance(scorer: Scorer, features: pl.LazyFrame, labels: pl.DataFrame, dates: dict[str, Any],
                current_from: date, params: MonitorParams, gain: dict[str, float] | None) -> pl.DataFrame:
    """Permutation importance on reference and current windows, LightGBM's training gain beside it."""
    names = [f.name for f in scorer.features]
    rng = np.random.default_rng(params.seed)
    span = dates.get("val") or dates["train"]
    sides = {"reference": (date.fromisoformat(span["first"]), date.fromisoformat(span["last"])),
             "current": (current_from, None)}
    values, counts = {}, {}
    for side, (start, end) in sides.items():
        data = _windows(scorer, features, labels, start, end, params.importance_windows, rng)
        counts[side] = len(data.ends[WINDOWS]) if data is not None else 0
        values[side] = (permutation_importance(scorer, data, WINDOWS, rng) if counts[side]
                        else np.full(len(names), np.nan))
    table = pl.DataFrame({"feature": names, "reference": values["reference"], "current": values["current"],
                          "windows_reference": counts["reference"], "windows_current": counts["current"]})
    return table.with_columns(gain_at_training=pl.Series([gain.get(n) for n in names], dtype=pl.Float64)) \
        if gain else table


def _windows(scorer: Scorer, features: pl.LazyFrame, labels: pl.DataFrame, start: date, end: date | None,
             at_most: int, rng: np.random.Generator) -> Windows | None:
    """Up to `at_most` labelled windows ending between start and end (None: open), each its own block
    of seq_len rows (Scorer.windows), normalised by the model's normaliser. A rank normaliser ranks
    among the sampled rows of each date here, not the whole cross-section: importance only."""
    lead = (features.select("date").unique().sort("date").filter(pl.col("date") < start)
            .tail(scorer.seq_len).collect())
    first = lead["date"].min() if lead.height else start
    in_range = pl.col("date").is_between(first, end) if end is not None else pl.col("date") >= first
    rows = features.filter(in_range).collect()
    if rows.is_empty():
        return None
    panel = Panel.from_tables(rows, labels.with_columns(segment=pl.lit("monitor")), [f.name for f in scorer.features])
    ends = panel.window_ends(scorer.seq_len, "monitor")
    ends = ends[panel.keys["date"].to_numpy()[ends] >= np.datetime64(start)]
    if len(ends) > at_most:
        ends = np.sort(rng.choice(ends, at_most, replace=False))
    if len(ends) == 0:
        return None
    block = (ends[:, None] + np.arange(-scorer.seq_len + 1, 1)).ravel()
    x = np.ascontiguousarray(panel.x[block])
    scorer.normalizer.transform(x, panel.keys["date"].to_numpy()[block])
    return scorer.windows(x, panel.y[ends])


def _log_loss(proba: np.ndarray, y: np.ndarray) -> float:
    """Mean negative log probability of the true class (clipped at 1e-7)."""
    return float(-np.mean(np.log(np.clip(proba[np.arange(len(y)), y], 1e-7, 1.0))))
