"""One self-contained HTML page of a run: plots are PNGs embedded as data URIs, so it renders offline.

Sections: classification against the baselines (95% Wilson intervals, tests), ranking (IC, top/flop),
the backtest (every strategy against the benchmark), position sizing (the sizing policies and the RL
agents in one table with the rules, the agents' spread over seeds, the universe's correlation and
each book's effective number of bets), market regimes, figures (equity, drawdown, ROC,
calibration, confusion, accuracy per year, cumulative IC, feature importance when the model wrote
one), models and experiments side by side, and data quality. The page makes no network request.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from stockcast.card import Section
from stockcast.errors import StockcastError
from stockcast.evaluation.significance import wilson_interval
from stockcast.tables import read_json

EXPERIMENT_METRICS = {"metrics/evaluate.json": ("test.accuracy", "test.auc", "test.ic_mean"),
                      "metrics/backtest.json": ("test.sharpe", "test.annual_return", "test.max_drawdown",
                                                "benchmark.sharpe")}


def read_importance(path: Path) -> dict[str, float]:
    """Feature importance from JSON: {feature: value}, or {kind: {feature: value}} (gain preferred)."""
    data: Any = read_json(path)
    if data and all(isinstance(v, dict) for v in data.values()):
        data = data.get("gain") or next(iter(data.values()))
    if not all(isinstance(v, int | float) for v in data.values()):
        raise StockcastError(f"{path}: expected {{feature: importance}} or {{kind: {{feature: importance}}}}")
    return {str(k): float(v) for k, v in data.items()}


def monitor_rows(report: dict[str, Any], drift: pl.DataFrame, importance: pl.DataFrame, top: int = 10
                 ) -> dict[str, dict[str, dict[str, Any]]]:
    """The monitor's tables: its verdict, the most drifted features and the features the model leans on
    most now (permutation importance), beside the reference's."""
    live, test, d = report["live"], report["test_segment"], report["drift"]
    verdict = {"verdict": {
        "features drifted": f"{d['features_drifted']} of {len(report['features'])} ({d['method']})",
        "current sessions": f"{d['current_from']} .. {d['current_to']}",
        "prediction drifted": report["prediction"]["drifted"],
        "live accuracy [95%]": f"{live['accuracy']:.4f} [{live['accuracy_low']:.4f}, {live['accuracy_high']:.4f}] "
                               f"on {live['n']}",
        "test accuracy [95%]": f"{test['accuracy']:.4f} [{test['accuracy_low']:.4f}, {test['accuracy_high']:.4f}]",
        "retrain": report["retrain"]["reasons"] or "no rule fires"}}
    worst = drift.sort("wasserstein", descending=True, nulls_last=True).head(top)
    leaned = importance.sort("current", descending=True, nulls_last=True).head(top)
    return {"Monitor: verdict": verdict,
            "Monitor: most drifted features (normed Wasserstein against the training reference)":
                {r.pop("feature"): r for r in worst.to_dicts()},
            "Monitor: permutation importance now and on the reference (rise in log loss)":
                {r.pop("feature"): r for r in leaned.to_dicts()}}


def model_rows(name: str, config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The trained model's best validation scores (its verified models/<name>/config.json); only the
    model the stage declares as a dep, so the page never shows a stale folder left from another run."""
    return {name: {"best_epoch": config.get("best_epoch")} | {
        f"val {k}": v for k, v in (config.get("best") or {}).items()}}


def coverage_rows(coverage: dict[str, Any], trained: dict[str, int], scored: dict[str, int]
                  ) -> dict[str, dict[str, Any]]:
    """Per ticker: its usable rows in train, val and test (the split's coverage), the windows it trained
    on (the model's config), its test predictions (evaluate), and what the split left out."""
    limit = coverage.get("min_rows_per_segment")
    notes: dict[str, list[str]] = {}
    for row in coverage.get("left_out", []):
        notes.setdefault(row["ticker"], []).append(f"left out of {row['segment']} ({row['usable']} < {limit} rows)")
    for ticker in coverage.get("dropped", []):
        notes.setdefault(ticker, []).append("dropped: no segment left")
    return {ticker: {f"{s} rows": rows.get(s, 0) for s in ("train", "val", "test")}
            | {"trained on (windows)": trained.get(ticker, 0), "scored (test predictions)": scored.get(ticker, 0),
               "note": "; ".join(notes.get(ticker, []))}
            for ticker, rows in coverage.get("usable_rows", {}).items()}


def experiment_rows(exp_show: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """One row per commit and experiment of `dvc exp show --json`: the params that differ between
    them and the headline metrics (EXPERIMENT_METRICS)."""
    rows: dict[str, dict[str, Any]] = {}
    for commit in exp_show:
        runs = [commit] + [rev for exp in commit.get("experiments") or [] for rev in exp.get("revs") or []]
        for run in runs:
            data = run.get("data") or {}
            params = flatten((data.get("params") or {}).get("params.yaml", {}).get("data") or {})
            files = data.get("metrics") or {}
            metrics = {f"{name.split('/')[-1].removesuffix('.json')} {key}": value
                       for name, keys in EXPERIMENT_METRICS.items()
                       for key, value in flatten((files.get(name) or {}).get("data") or {}).items() if key in keys}
            rev = str(run.get("rev", ""))
            label = run.get("name") or (rev if rev == "workspace" else rev[:7])
            rows[label] = {"params": params, "metrics": metrics}
    varying = sorted({k for row in rows.values() for k in row["params"]
                      if len({json.dumps(r["params"].get(k), default=str) for r in rows.values()}) > 1})
    return {label: {k: row["params"].get(k) for k in varying} | row["metrics"] for label, row in rows.items()}


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out |= flatten(value, f"{prefix}{key}.")
        else:
            out[f"{prefix}{key}"] = value
    return out


def _provenance(provenance: dict[str, Any]) -> list[str]:
    """Which source served which ticker and dates (the download source), and the tickers none served."""
    served = provenance.get("served_by") or {}
    rows = {t: {k: p.get(k) for k in ("source", "first_date", "last_date", "rows")} for t, p in served.items()}
    rows |= {t: {"source": "not served: " + "; ".join(said)} for t, said in (provenance.get("not_served") or {}).items()}
    if not rows:
        return [f"<p class='note'>Data source: {html.escape(str(provenance.get('source', 'unknown')))}.</p>"]
    return ["<h2>Data sources</h2>", html_table(rows)]


def html_table(rows: dict[str, dict[str, Any]], columns: list[str] | None = None) -> str:
    columns = columns or list(dict.fromkeys(k for row in rows.values() for k in row))
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join(
        f"<tr><th>{html.escape(name)}</th>" + "".join(f"<td>{_fmt(row.get(c))}</td>" for c in columns) + "</tr>"
        for name, row in rows.items())
    return f"<table><tr><th></th>{head}</tr>{body}</table>"


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        if np.isnan(value):
            return "n/a"
        return f"{value:.4g}" if abs(value) >= 1e4 or 0 < abs(value) < 1e-3 else f"{value:.4f}"
    if isinstance(value, list | dict):
        return html.escape(json.dumps(value, default=str))
    return html.escape("" if value is None else str(value))


def classification_rows(evaluate: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Model on val and test, and each baseline on test with its Wilson interval on the same n."""
    flat = "p_pesaran_timmermann_up_down" in evaluate.get("test", {})  # a three-class model (down, up, flat)
    keys = ["accuracy", "accuracy_low", "accuracy_high", "precision", "recall", "f1", "auc", "log_loss", "n",
            "p_binomial", "p_pesaran_timmermann_up_down" if flat else "p_pesaran_timmermann"]
    rows = {f"model ({s})": {k: evaluate[s].get(k) for k in keys} for s in ("test", "val") if s in evaluate}
    selection = evaluate.get("selection")
    if selection:  # the scores the model was chosen on; with refit, those of the fit before it
        rows["model (val, selection fit)"] = {"accuracy": selection.get("val_accuracy"),
                                              "log_loss": selection.get("val_loss")}
    n = evaluate.get("test", {}).get("n", 0)
    for name, accuracy in evaluate.get("baselines", {}).items():
        low, high = wilson_interval(round(accuracy * n), n)
        rows[f"baseline: {name}"] = {"accuracy": accuracy, "accuracy_low": float(low), "accuracy_high": float(high),
                                     "n": n}
    return rows


STYLE = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:0.85em}td,th{border:1px solid #ccc;padding:3px 6px;
text-align:right}img{max-width:100%}.note{color:#555}.figures{display:flex;flex-wrap:wrap;gap:1em}
.verdict{font-size:1.05em}.warning{color:#a40000}"""


STRATEGY_KINDS = {"long_flat": "rule", "long_short": "rule", "topk_dropout": "rule", "vol_target": "sizing",
                  "kelly": "sizing", "mean_variance": "sizing", "ppo": "RL (PPO, chosen on val)"}


def strategy_rows(backtest: dict) -> dict[str, dict[str, Any]]:
    """Every strategy run, rules, sizing policies and the RL agent in one table (never the agent alone),
    in that order, with its kind first."""
    run = backtest.get("strategies", {})
    order = [name for name in STRATEGY_KINDS if name in run] + [name for name in run if name not in STRATEGY_KINDS]
    return {name: {"kind": STRATEGY_KINDS.get(name, "")} | run[name] for name in order}


def sizing_section(backtest: dict) -> list[str]:
    """What the sizing policies sized on (the calibrated edge), the RL agents seed by seed with their
    spread, and the universe's average correlation: the parts of the page on position sizing."""
    sizing = backtest.get("sizing")
    if not sizing:
        return []
    calibration = sizing.get("calibration", {})
    edges = ", ".join(f"e({p}) = {_fmt(e)}" for p, e in (calibration.get("edge_at") or {}).items())
    out = ["<h3>Position sizing</h3>",
           f"<p class='note'>kelly and mean_variance size on the edge E[sign of the traded return | P(up)], "
           f"calibrated on val: {html.escape(str(calibration.get('method')))} on {calibration.get('val_rows', 0)} "
           f"rows; {edges}. Average pairwise correlation of the universe over the test segment: "
           f"{_fmt(sizing.get('average_correlation'))}; effective_bets is Meucci's effective number of "
           f"uncorrelated bets of each book. {backtest.get('trials', 'n/a')} strategies and agents tried deflate "
           "every Sharpe ratio.</p>"]
    rl = sizing.get("ppo") or {}
    if not rl.get("run"):
        return out + [f"<p class='note'>ppo was not run: {html.escape(str(rl.get('why')))}.</p>"]
    seeds = {f"seed {seed}" + (" (chosen)" if str(seed) == str(rl.get("chosen_seed")) else ""): row
             for seed, row in rl.get("seeds", {}).items()}
    return out + [
        f"<p class='note'>ppo sizes long_short's book (a multiple from cash to the leverage limits). Its agents "
        f"learned on val from {html.escape(' to '.join(rl.get('learned_on', [])))}, one per seed, "
        f"{rl.get('timesteps')} steps each ({_fmt(rl.get('train_seconds'))} s in all); the one with the best net "
        f"Sharpe on val from {html.escape(' to '.join(rl.get('chosen_on', [])))} was chosen before test was "
        f"scored. Every seed's test Sharpe is shown for the spread: mean {_fmt(rl.get('test_sharpe_mean'))}, "
        f"standard deviation {_fmt(rl.get('test_sharpe_std'))}. Compare ppo with vol_target, the rule that sizes "
        "the same book.</p>",
        html_table(seeds)]


SIGNIFICANT_DSR = 0.95  # the deflated Sharpe of the excess return a strategy needs to "beat" its benchmark


def verdict(evaluate: dict, backtest: dict) -> str:
    """The page's first paragraph: does the model beat its baselines, does the strategy beat its
    benchmark after costs, with the intervals and the deflated Sharpe of the excess return; and what
    makes the backtest untrustworthy (a fill nobody can get, a universe of survivors)."""
    test = evaluate.get("test", {})
    low, high = test.get("accuracy_low", float("nan")), test.get("accuracy_high", float("nan"))
    baselines = evaluate.get("baselines", {})
    best_name, best = max(baselines.items(), key=lambda kv: kv[1]) if baselines else ("none", float("nan"))
    beats_baselines = low > max(best, test.get("null_rate", 0.0))
    model = (f"The model {'beats' if beats_baselines else 'does not beat'} its baselines: test accuracy "
             f"{_fmt(test.get('accuracy'))} (95% interval {_fmt(low)} to {_fmt(high)}) against {_fmt(best)} for "
             f"the best baseline ({html.escape(best_name)}) and a null rate of {_fmt(test.get('null_rate'))}, "
             f"p(binomial) {_fmt(test.get('p_binomial'))}.")
    side = backtest.get("test", {})
    dsr = side.get("excess_deflated_sharpe", float("nan"))
    beats_benchmark = dsr > SIGNIFICANT_DSR
    strategy = (f"The strategy {'beats' if beats_benchmark else 'does not beat'} its benchmark after costs: "
                f"information ratio {_fmt(side.get('information_ratio'))}, excess return "
                f"{_fmt(side.get('excess_return'))} a year, deflated Sharpe of the excess return {_fmt(dsr)} "
                f"({SIGNIFICANT_DSR} needed) over {backtest.get('days', 'n/a')} days; net Sharpe {_fmt(side.get('sharpe'))} "
                f"against the benchmark's {_fmt(backtest.get('benchmark', {}).get('sharpe'))}.")
    warnings = []
    if backtest.get("tradable_fill") is False:
        warnings.append(f"Fills at {html.escape(str(backtest.get('fill')))}: at the close the signal was computed "
                        "from, which nobody can trade. This backtest is research only, not tradable.")
    if backtest.get("delisted_tickers") == 0:
        warnings.append("No ticker in the universe ever delists: the backtest trades the survivors only "
                        "(survivorship bias inflates every return on this page).")
    notes = "".join(f"<p class='warning'><strong>{w}</strong></p>" for w in warnings)
    return f"<h2>Verdict</h2><p class='verdict'>{model} {strategy}</p>{notes}"


def card_html(sections: list[Section]) -> list[str]:
    """The model card (stockcast.card) as the page's last section: the same sections as MODEL_CARD.md."""
    out = ["<h2>Model card</h2>"]
    for section in sections:
        out.append(f"<h3>{html.escape(section.title)}</h3>")
        if section.text:
            out.append(f"<p>{html.escape(section.text)}</p>")
        if section.rows:
            out.append(html_table({k: {"value": v} for k, v in section.rows.items()}))
    return out


def render(title: str, evaluate: dict, backtest: dict, quality: dict, images: dict[str, str],
           regimes: pl.DataFrame | None = None, comparisons: dict[str, dict[str, dict[str, Any]]] | None = None,
           card: list[Section] | None = None) -> str:
    """The page from the metrics files, plot data URIs, the regime table, comparison tables (heading ->
    rows, e.g. model_rows and experiment_rows) and the model card's sections."""
    test = evaluate.get("test", {})
    ranking = {"model (test)": {k: test.get(k) for k in (
        "ic_mean", "ic_ir", "ic_tstat", "rank_ic_mean", "rank_ic_ir", "rank_ic_tstat", "ic_days",
        "top_accuracy", "flop_accuracy", "top_flop_accuracy", "top_flop_n")}}
    sides = {"strategy (test)": backtest.get("test", {}), "benchmark": backtest.get("benchmark", {})}
    metric_names = list(dict.fromkeys(k for side in sides.values() for k in side))
    backtest_rows = {k: {name: side.get(k) for name, side in sides.items()} for k in metric_names}
    quality_rows = {"rows quarantined (deciding rule)": {
                        k: quality.get(k) for k in ("rows_in", "rows_clean", "rows_quarantined")}
                    | (quality.get("by_rule") or {}),
                    "rows breaking the rule": quality.get("broken_by_rule") or {}}
    sections = [
        "<h2>Classification</h2>",
        f"<p class='note'>Null rate (the test segment's majority class): {_fmt(test.get('null_rate'))}. "
        "p_binomial tests accuracy above it; p_pesaran_timmermann tests that called and realised directions "
        "are not independent (with a flat class: _up_down, on rows where neither label nor call is flat).</p>",
        html_table(classification_rows(evaluate)),
        "<h2>Ranking</h2>", html_table(ranking),
        "<h2>Backtest</h2>", html_table(backtest_rows),
        "<h3>Strategies and sizing policies (net of costs)</h3>", html_table(strategy_rows(backtest)),
        *sizing_section(backtest),
    ]
    capacity = backtest.get("capacity") or {}
    if capacity.get("table"):
        sections += [f"<h3>Capacity (edge halves at {_fmt(capacity.get('halving_capital'))} of capital)</h3>",
                     html_table({f"{row['capital']:.0e}": row for row in capacity["table"]})]
    if backtest.get("sectors"):
        sections += ["<h3>Contribution to gross return by sector</h3>",
                     html_table({name: {"contribution": value} for name, value in backtest["sectors"].items()})]
    if evaluate.get("by_sector"):
        sections += ["<h3>Accuracy by sector (test)</h3>", html_table(evaluate["by_sector"])]
    if regimes is not None and regimes.height:
        sections += ["<h2>Market regimes</h2>",
                     html_table({r.pop("regime"): r for r in regimes.with_columns(pl.col(pl.Date).cast(pl.String))
                             .to_dicts()})]
    sections += ["<div class='figures'>"] + [
        f"<figure><figcaption>{html.escape(name)}</figcaption><img alt='{html.escape(name)}' src='{uri}'></figure>"
        for name, uri in images.items()] + ["</div>"]
    for heading, rows in (comparisons or {}).items():
        if rows:
            sections += [f"<h2>{html.escape(heading)}</h2>", html_table(rows)]
    sections += ["<h2>Data quality</h2>", html_table(quality_rows), *_provenance(quality.get("provenance") or {})]
    sections += card_html(card or [])
    body = "\n".join(sections)
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>
{verdict(evaluate, backtest)}
<p class="note">Out-of-sample only: val and test segments the model never trained on. Daily direction is
close to a coin flip: read the model beside its baselines and intervals. Backtest returns are net of
costs, slippage and borrow unless marked gross.</p>
{body}
</body></html>
"""
