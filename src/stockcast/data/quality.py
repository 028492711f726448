"""Quality checks: every input row ends in the clean table or in quarantine with its rule and why.

`check` validates the input against RawOHLCV (types), sorts it by ticker and date, then applies the
rules in the order of params.QualityRules; each rule is defined where it is computed, below or, for the
rules a calendar judges, in session_rules.py. ledger.py applies each rule's action.

- Row rules look at one row: missing_value, non_finite_value, non_positive_price, ohlc_inconsistent,
  non_positive_volume, future_date, non_session.
- Sequence rules compare a row with the previous usable row of its ticker (one not quarantined by an
  earlier rule): duplicate, stale_price, extreme_move. Unadjusted splits are found between the two.
- Series rules judge a ticker: missing_session, short_history.

Actions: `quarantine_row` moves the row to quarantine; `quarantine_ticker` moves every remaining row
of the ticker; `warn` keeps the row and records a finding. A row is quarantined under the first
rule that rejects it, so rows_in == rows_clean + rows_quarantined and counts per rule add up.
Missing sessions are not rows: each is a finding (ticker, the missing date), and the rule's action
decides whether the ticker is kept. The clean table is adjusted for corporate actions (adjust.py,
stock_splits.py); quarantined rows are kept exactly as they came in.

Everything is vectorised over the whole table (numpy on the usable rows, polars for text), so ten
million rows take seconds; per-row Python only ever touches the rows a rule flags.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import polars as pl

from stockcast.data.adjust import PRICES, adj_close_factor, restate
from stockcast.data.columns import sort_bars
from stockcast.data.ledger import RULES, SPLIT_RULE, Ledger, Usable
from stockcast.data.session_rules import Calendars, Sessions, future_dates, non_sessions, session_index
from stockcast.data.stock_splits import find_splits, parse_ratio, restatement
from stockcast.params import QualityParams
from stockcast.schemas import RawOHLCV, validate

SPLIT_NOTE = "split_adjusted"    # a finding: a split detected and restated (splits: adjust)
ROUNDING_NOTE = "ohlc_rounded"   # a finding: high or low off open/close by less than ohlc_tolerance, corrected
FINDINGS_SCHEMA = {"ticker": pl.String, "date": pl.Date, "rule": pl.String, "detail": pl.String}


@dataclass(frozen=True)
class QualityResult:
    clean: pl.DataFrame       # OHLCV contract, adjusted for corporate actions
    quarantine: pl.DataFrame  # Quarantine contract: the original rows, rule, detail
    findings: pl.DataFrame    # Findings contract: warnings, missing sessions, splits adjusted
    report: dict[str, Any]    # metrics/quality.json


def check(raw: pl.DataFrame, params: QualityParams, origin: str = "input", now: datetime | None = None,
          exchanges: Mapping[str, str] | None = None) -> QualityResult:
    """Split `raw` (RawOHLCV) into clean adjusted rows, quarantined rows and findings, with a report.

    `now` (timezone-aware; default: the clock) decides which dates are in the future; tests pass their own.
    `exchanges` ({ticker: exchange_calendars name}, see exchanges.py) picks each ticker's calendar;
    quality.calendar judges the others.
    """
    bars = sort_bars(validate(raw, RawOHLCV, origin))
    ledger = Ledger(bars, params.rules)
    _row_rules(ledger, params.ohlc_tolerance)
    judges = Calendars.of(ledger, exchanges or {}, params.calendar, now or datetime.now(UTC))
    future_dates(ledger, judges)
    future = params.rules.future_date
    sessions = session_index(ledger, judges, future.enabled and future.action != "warn")
    if sessions is not None:
        non_sessions(ledger, sessions)
    _duplicates(ledger)
    _stale_prices(ledger, params.stale_run)
    adjusted, splits = _corporate_actions(ledger, params)
    _extreme_moves(ledger, adjusted, params.extreme_move)
    missing = _missing_sessions(ledger, sessions, params.max_missing_fraction) if sessions is not None else None
    _short_histories(ledger, params.min_history_days)
    usable = ledger.usable
    clean = adjusted if usable.all() else adjusted.filter(pl.Series(usable))  # no copy when nothing went
    clean, rounded = _ohlc_rounding(clean)
    breaks = ledger.breaks()
    quarantine = ledger.quarantine(breaks)
    findings = pl.concat([pl.DataFrame(schema=FINDINGS_SCHEMA), *ledger.findings, rounded]).sort(
        "ticker", "date", "rule", maintain_order=True)
    report = _report(bars, quarantine, ledger, missing, splits, params) | {
        "broken_by_rule": dict(zip(RULES, np.bincount(breaks["code"].to_numpy(), minlength=len(RULES)).tolist())),
        "ohlc_rounded": rounded.height, "last_completed_session": str(judges.default_until),
        "calendars": judges.summary()}
    return QualityResult(clean, quarantine, findings, report)


def _row_rules(ledger: Ledger, tolerance: float) -> None:
    """Rules that need nothing but the row itself: each runs on every row, so a row is listed under all it breaks."""
    price = [pl.col(c) for c in PRICES]
    every = [*price, pl.col("adj_close")]  # adj_close may be null (no adjustment), never anything else bad
    flags = ledger.bars.select(
        # missing_value: a null open/high/low/close or volume (an empty cell)
        missing_value=pl.any_horizontal(*(p.is_null() for p in price), pl.col("volume").is_null()),
        # non_finite_value: NaN, inf or -inf in open/high/low/close or adj_close. Polars orders NaN above
        # every number, so NaN and inf would pass `> 0` and `high >= close`: this rule runs before those
        non_finite_value=pl.any_horizontal(*(~p.is_finite() for p in every)),
        # non_positive_price: any of open/high/low/close, or adj_close, <= 0 (a price is never zero or negative)
        non_positive_price=pl.any_horizontal(*(p <= 0 for p in every)),
        # ohlc_inconsistent: high below max(open, close) or low above min(open, close) by more than
        # `tolerance` of it (relative): closer is rounding (_ohlc_rounding). Finite prices only: NaN compares high
        ohlc_inconsistent=pl.all_horizontal(*(p.is_finite() for p in price))
        & ((pl.col("high") < pl.max_horizontal("open", "close") * (1 - tolerance))
           | (pl.col("low") > pl.min_horizontal("open", "close") * (1 + tolerance))),
        # negative_volume: fewer than zero shares traded: never real
        negative_volume=pl.col("volume") < 0,
        # zero_volume: no trade that day: a feed's placeholder bar, or a real trading halt (action warn keeps those)
        zero_volume=pl.col("volume") == 0,
    ).fill_null(False)
    columns = (*PRICES, "volume", "adj_close")
    shown = {c: pl.col(c).cast(pl.String).fill_null("null") for c in columns}  # format() drops nulls
    details = {
        "missing_value": pl.format("open={} high={} low={} close={} volume={}", *(shown[c] for c in columns[:5])),
        "non_finite_value": pl.format("open={} high={} low={} close={} adj_close={}",
                                      *(shown[c] for c in (*PRICES, "adj_close"))),
        "non_positive_price": pl.format("min(open, high, low, close, adj_close)={}",
                                        pl.min_horizontal(*PRICES, "adj_close")),
        "ohlc_inconsistent": pl.format("open={} high={} low={} close={}", *(shown[c] for c in PRICES)),
        "negative_volume": pl.format("volume={}", shown["volume"]),
        "zero_volume": pl.format("volume={}", shown["volume"]),
    }
    for name, detail in details.items():
        ledger.rows(name, np.flatnonzero(flags[name].to_numpy()), detail)


def _repeats(values: np.ndarray, same: np.ndarray) -> np.ndarray:
    """Per usable row: it follows a row of its ticker with an equal value."""
    repeat = np.zeros(len(values), dtype=bool)
    repeat[1:] = same[1:] & (values[1:] == values[:-1])
    return repeat


def _duplicates(ledger: Ledger) -> None:
    # duplicate: the same (ticker, date) as the previous usable row; the first usable row is kept
    view = ledger.view()
    repeat = _repeats(ledger.days[view.at], view.same)
    ledger.rows("duplicate", view.positions(np.flatnonzero(repeat)),
                pl.lit("(ticker, date) seen before; the first usable row is kept"))


def _stale_prices(ledger: Ledger, run: int) -> None:
    # stale_price: a close equal to the previous usable close, in a run of at least `run` equal closes;
    # the run's first row is the real print and stays, its repeats are the stale ones
    view = ledger.view()
    repeats = np.flatnonzero(_repeats(ledger.close[view.at], view.same))  # rare: only these are looked at
    first = np.flatnonzero(np.diff(repeats, prepend=-2) != 1)  # each group of consecutive repeats is a run
    lengths = np.diff(np.append(first, len(repeats)))           # repeats per run: the run has one row more
    of_run = np.repeat(np.arange(len(first)), lengths)
    long = (lengths >= run - 1)[of_run]
    stale, group = repeats[long], of_run[long]
    size, since = lengths[group] + 1, repeats[first[group]] - 1  # since: the run's first row, the real print
    ledger.rows("stale_price", view.positions(stale), pl.format(
        "close={} for {} sessions in a row from {}", pl.col("close"), pl.col("run"), pl.col("since")),
        run=size, since=ledger.bars["date"].gather(view.positions(since)).to_numpy())


def _corporate_actions(ledger: Ledger, params: QualityParams) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Every row adjusted (for the unadjusted splits found, and by adj_close/close), and the splits found.

    Split detection (stock_splits.py) runs only on tickers that adj_close leaves alone (no adj_close, or one
    equal to close): where adj_close differs from close it already carries the splits.
    """
    bars, view = ledger.bars, ledger.view()
    factor = None
    if params.adjust_with_adj_close and bars["adj_close"].null_count() < bars.height:
        factor = bars.select(adj_close_factor()).to_series().to_numpy()
    candidates = view
    if factor is not None:  # leave out the tickers whose adj_close carries an adjustment
        tid = ledger.tid[view.at]
        keep = np.flatnonzero(~np.isin(tid, np.unique(tid[np.abs(factor[view.at] - 1) > 1e-9])))
        candidates = Usable(view.positions(keep), view.same[keep])
    labels = {parse_ratio(text): text for text in params.split_ratios}
    found, ratios = find_splits(ledger.close[candidates.at], ledger.open[candidates.at], candidates.same,
                                list(labels), params.split_tolerance)
    splits = bars[candidates.positions(found)].select("ticker", "date", "open").with_columns(
        ratio=pl.Series([labels[r] for r in ratios], dtype=pl.String),
        prev_close=pl.Series(ledger.close[candidates.positions(found - 1)], dtype=pl.Float64))
    detail = pl.format("{} split: open {} after a close of {}", "ratio", "open", "prev_close")
    scale = None
    if params.splits == "quarantine":
        if len(found):
            ledger.broken.append((RULES.index(SPLIT_RULE), candidates.positions(found)))  # the jumps break it
        ledger.tickers(SPLIT_RULE, splits.group_by("ticker", maintain_order=True).agg(detail=pl.format(
            "ticker quarantined: {} unadjusted splits, first {}: {}", pl.len(), pl.col("date").first(),
            detail.first())), "quarantine_ticker", rows_break=False)
    elif len(found):
        ledger.findings.append(splits.select("ticker", "date", rule=pl.lit(SPLIT_NOTE),
                                             detail=pl.format("{}; earlier rows restated", detail)))
        scale = np.ones(bars.height)
        restated, factors = restatement(candidates.same, found, ratios)
        scale[candidates.positions(restated)] = factors
    total = factor if scale is None else scale if factor is None else scale * factor
    if total is not None:
        _unrepresentable(ledger, total)
        total = np.where(ledger.usable, total, 1.0)  # quarantined rows stay as they came
    adjusted = bars if total is None else restate(bars, total, adj_close=scale)
    return adjusted, splits


def _unrepresentable(ledger: Ledger, factor: np.ndarray) -> None:
    # non_finite_value, after adjustment: restating by the row's factor would make its high infinite, its low
    # zero or its volume too large for int64 (adj_close 1e308 against a close of 100, or 1e-300)
    bars = ledger.bars
    with np.errstate(over="ignore", under="ignore", divide="ignore", invalid="ignore"):
        high, low = bars["high"].to_numpy() * factor, bars["low"].to_numpy() * factor
        volume = bars["volume"].to_numpy() / factor
    broken = ledger.usable & ~(np.isfinite(high) & (low > 0) & (volume < 9e18))
    rows = np.flatnonzero(broken)
    ledger.rows("non_finite_value", rows, pl.format(
        "restating by adj_close/close={} (adj_close={}, close={}) leaves high={} low={} volume={}", pl.col("factor"),
        "adj_close", "close", pl.col("new_high"), pl.col("new_low"), pl.col("new_volume")),
        factor=factor[rows], new_high=high[rows], new_low=low[rows], new_volume=volume[rows])


def _ohlc_rounding(clean: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The clean rows with high a hair below max(open, close) or low a hair above min(open, close) (within
    ohlc_tolerance, or the row would be quarantined): floating point after a back-adjustment leaves ~1e-16.
    Their high (low) is set to that max (min), so the OHLCV contract holds, and each is an `ohlc_rounded` finding."""
    top, bottom = pl.max_horizontal("open", "close"), pl.min_horizontal("open", "close")
    off = clean.filter((pl.col("high") < top) | (pl.col("low") > bottom))
    findings = off.select("ticker", "date", rule=pl.lit(ROUNDING_NOTE), detail=pl.format(
        "open={} high={} low={} close={}: within ohlc_tolerance, high and low set to max and min(open, close)",
        *(pl.col(c).cast(pl.String) for c in PRICES)))
    if off.is_empty():
        return clean, findings
    return clean.with_columns(high=pl.max_horizontal("high", "open", "close"),
                              low=pl.min_horizontal("low", "open", "close")), findings


def _extreme_moves(ledger: Ledger, adjusted: pl.DataFrame, threshold: float) -> None:
    # extreme_move: |close / previous close - 1| or |open / previous close - 1| >= threshold, on prices
    # adjusted for corporate actions, so what is left is not explained by a split or dividend
    view = ledger.view()
    close = adjusted["close"].to_numpy()[view.at] if adjusted is not ledger.bars else ledger.close[view.at]
    open_ = adjusted["open"].to_numpy()[view.at] if adjusted is not ledger.bars else ledger.open[view.at]
    with np.errstate(divide="ignore", invalid="ignore"):
        move, gap = close[1:] / close[:-1], open_[1:] / close[:-1]
    up, down = 1 + threshold, 1 - threshold
    broken = 1 + np.flatnonzero(view.same[1:] & ((move >= up) | (move <= down) | (gap >= up) | (gap <= down)))
    ledger.rows("extreme_move", view.positions(broken), pl.format(
        "close {}%, open {}% from the previous close {} (adjusted prices)",
        pl.col("move").round(1), pl.col("gap").round(1), pl.col("before").round(6)),
        move=100 * (move[broken - 1] - 1), gap=100 * (gap[broken - 1] - 1), before=close[broken - 1])


def _missing_sessions(ledger: Ledger, sessions: Sessions, max_fraction: float) -> pl.DataFrame:
    """Sessions inside a ticker's first..last session that have no input row: each one is a finding.

    missing_session: a ticker missing more than `max_fraction` of the sessions in its range.
    Any input row marks its session present, quarantined or not: a zero-volume day is not also missing.
    Returns (ticker, expected, missing) for every ticker with at least one session row.
    """
    at = slice(None) if (sessions.index >= 0).all() else np.flatnonzero(sessions.index >= 0)
    tid, index = ledger.tid[at], sessions.index[at]
    step = np.diff(index)  # sessions from the previous row; more than 1 inside a ticker is a gap
    holes = 1 + np.flatnonzero((step > 1) & (tid[1:] == tid[:-1]))
    count = step[holes - 1] - 1
    offsets = np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
    missing_at = np.repeat(index[holes] - count, count) + offsets  # the sessions after the previous row
    missing = pl.DataFrame({"ticker": ledger.names.gather(np.repeat(tid[holes], count)),
                            "date": sessions.dates[missing_at]})
    first = np.flatnonzero(np.diff(tid, prepend=-1)) if len(tid) else np.zeros(0, dtype=np.int64)
    last = np.append(first[1:] - 1, len(tid) - 1) if len(tid) else first
    per_ticker = pl.DataFrame({
        "ticker": ledger.names.gather(tid[first]),
        "expected": index[last] - index[first] + 1,
        "missing": np.bincount(np.searchsorted(first, holes, side="right") - 1, count, len(first)).astype(np.int64),
    })
    settings = ledger.rules.missing_session
    if not settings.enabled:
        return per_ticker.clear()
    judge = pl.DataFrame({"ticker": ledger.names, "judge": pl.Series(sessions.calendar, dtype=pl.String)})
    ledger.findings.append(missing.join(judge, on="ticker", maintain_order="left").select(
        "ticker", "date", rule=pl.lit("missing_session"), detail=pl.format("no row for this {} session", "judge")))
    flagged = per_ticker.filter(pl.col("missing") > max_fraction * pl.col("expected"))
    if settings.action == "warn":
        ledger.warned["missing_session"] += int(flagged["missing"].sum())
    else:
        ledger.tickers("missing_session", flagged.join(judge, on="ticker", maintain_order="left").select(
            "ticker", detail=pl.format(
                "ticker quarantined: {} of its {} {} sessions have no row (more than max_missing_fraction={})",
                "missing", "expected", "judge", pl.lit(max_fraction))))
    return per_ticker


def _short_histories(ledger: Ledger, min_days: int) -> None:
    # short_history: fewer than min_history_days usable rows left in the ticker after every other rule
    view = ledger.view()
    usable = np.bincount(ledger.tid[view.at], minlength=len(ledger.names))
    short = np.flatnonzero((usable > 0) & (usable < min_days))
    ledger.tickers("short_history", pl.DataFrame({"ticker": ledger.names.gather(short), "rows": usable[short]})
                   .select("ticker", detail=pl.format("{} usable rows, fewer than min_history_days={}",
                                                      "rows", pl.lit(min_days))))


def _years(ledger: Ledger) -> pl.DataFrame:
    """(ticker, years) from each kept ticker's first to last clean date: the seed audit's coverage."""
    view = ledger.view()
    first = np.flatnonzero(~view.same)
    last = np.append(first[1:] - 1, len(view.same) - 1) if len(first) else first
    return pl.DataFrame({"ticker": ledger.names.gather(ledger.tid[view.positions(first)]),
                         "years": (ledger.days[view.positions(last)] - ledger.days[view.positions(first)]) / 365.25})


def _report(bars: pl.DataFrame, quarantine: pl.DataFrame, ledger: Ledger, missing: pl.DataFrame | None,
            splits: pl.DataFrame, params: QualityParams) -> dict[str, Any]:
    """Everything the checks found (data/quarantine/report.json, `stockcast audit --json`); every rule
    listed (0 included) so diffs line up. `headline` picks what metrics/quality.json keeps."""
    counts = dict(quarantine.group_by("rule").len().iter_rows())
    years = _years(ledger)
    kept = years["ticker"]
    dropped = quarantine.filter(~pl.col("ticker").is_in(kept.implode())).group_by("ticker", "rule").len().sort(
        "ticker", "len", "rule", descending=[False, True, False]).group_by("ticker", maintain_order=True).first()
    gaps = missing.filter(pl.col("missing") > 0) if missing is not None else pl.DataFrame(
        schema={"ticker": pl.String, "missing": pl.Int64})
    return {
        "rows_in": bars.height,
        "rows_clean": int(ledger.usable.sum()),
        "rows_quarantined": quarantine.height,
        "by_rule": {rule: counts.get(rule, 0) for rule in RULES},  # rows quarantined, each under the rule that decided
        "warnings": dict(ledger.warned),
        "tickers_in": len(ledger.names),
        "tickers_kept": kept.len(),
        "tickers_dropped": dropped["ticker"].to_list(),
        "dropped_by_rule": dict(dropped.select("ticker", "rule").iter_rows()),
        "missing_sessions": {
            "calendar": params.calendar,
            "total": int(gaps["missing"].sum()),
            "by_ticker": dict(gaps.select("ticker", "missing").sort("ticker").iter_rows()),
        },
        "splits": {"handling": params.splits, "found": splits.height, "tickers": splits["ticker"].n_unique()},
        "coverage": {
            "years_per_ticker": {t: round(y, 2) for t, y in years.iter_rows()},
            "tickers_20y_plus": int((years["years"] >= 20).sum()),
        },
    }


def headline(report: dict[str, Any]) -> dict[str, Any]:
    """metrics/quality.json: row and ticker counts, rows per deciding rule (`quarantined`) and per rule broken
    (`broken`, a row under every rule it breaks), warnings in total; per-rule warnings and per-ticker detail
    stay in the report (metrics must stay small enough for `dvc exp show`)."""
    return {key: report[key] for key in ("rows_in", "rows_clean", "rows_quarantined", "tickers_in", "tickers_kept",
                                         "ohlc_rounded")} | {
        "tickers_dropped": len(report["tickers_dropped"]), "missing_sessions": report["missing_sessions"]["total"],
        "splits_found": report["splits"]["found"], "warned": sum(report["warnings"].values()),
        "quarantined": report["by_rule"], "broken": report["broken_by_rule"]}
