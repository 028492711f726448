"""The experiments side by side on one offline page (`stockcast compare`), the one validation chose marked.

Input is what `dvc exp show --json` prints (the caller runs it; this module knows only its JSON) and
each experiment's equity curve (plots/equity.csv at its commit). The page shows the params that
differ, then the val scores selection used (dvclive's best_val_*: the selection fit's, also for a
model refit on train+val), then test accuracy with its interval beside the baselines, then the
backtest net of costs, and every equity curve on one plot. The marked experiment is the one with
the best `by` score on val; the test columns are there to read, never to choose by (choosing on test
would make it one more validation set). Plots are PNG data URIs as in report.py: no network request.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import polars as pl  # noqa: E402

from stockcast.errors import StockcastError  # noqa: E402
from stockcast.charts import figure_to_data_uri  # noqa: E402
from stockcast.report import STYLE, flatten, html_table  # noqa: E402

SELECTION = "dvclive/metrics.json"
SELECTORS = {"best_val_accuracy": max, "best_val_loss": min}  # score -> which end is best
VAL = {SELECTION: ("best_val_accuracy", "best_val_loss", "best_epoch"),
       "metrics/evaluate.json": ("selection.refit", "val.accuracy", "val.auc")}
TEST = {"metrics/evaluate.json": ("test.accuracy", "test.accuracy_low", "test.accuracy_high", "test.null_rate",
                                  "test.p_binomial", "test.auc", "baselines.always_up", "baselines.majority_class",
                                  "baselines.yesterday", "test.n")}
BACKTEST = {"metrics/backtest.json": ("test.sharpe", "test.annual_return", "test.max_drawdown",
                                      "test.information_ratio", "test.excess_deflated_sharpe", "test.mean_turnover",
                                      "benchmark.sharpe", "benchmark.annual_return")}


@dataclass(frozen=True)
class Experiment:
    name: str                  # the experiment's name, or the baseline commit's branch or short rev
    rev: str                   # its commit
    baseline: bool
    params: dict[str, Any]     # params.yaml, flattened (train.hidden_size)
    metrics: dict[str, Any]    # "<metrics file>:<flattened key>" -> value


def experiments(exp_show: list[dict[str, Any]]) -> list[Experiment]:
    """Every committed baseline and every experiment run on it, in `dvc exp show --json` order
    (the workspace, an uncommitted state, is left out)."""
    found = []
    for commit in exp_show:
        if commit.get("rev") == "workspace":
            continue
        found.append(_experiment(commit, baseline=True))
        found += [_experiment(rev, baseline=False)
                  for exp in commit.get("experiments") or [] for rev in exp.get("revs") or []]
    return found


def _experiment(run: dict[str, Any], baseline: bool) -> Experiment:
    data = run.get("data") or {}
    rev = str(run.get("rev", ""))
    params = flatten((data.get("params") or {}).get("params.yaml", {}).get("data") or {})
    metrics = {f"{name}:{key}": value for name, file in (data.get("metrics") or {}).items()
               for key, value in flatten((file or {}).get("data") or {}).items()}
    return Experiment(run.get("name") or rev[:7], rev, baseline, params, metrics)


def pick(found: list[Experiment], wanted: list[str]) -> list[Experiment]:
    """The experiments named (by name or a prefix of the commit), in the order asked; all when none are."""
    if not wanted:
        return found
    chosen = []
    for name in wanted:
        match = [e for e in found if name in (e.name, e.rev) or (len(name) >= 4 and e.rev.startswith(name))]
        if not match:
            raise StockcastError(f"compare: no experiment {name!r} in `dvc exp show` "
                                 f"(known: {', '.join(e.name for e in found) or 'none'})")
        chosen.append(match[0])
    return chosen


def selected(found: list[Experiment], by: str) -> Experiment:
    """The experiment validation chose: the best `by` (a SELECTORS score of dvclive/metrics.json)."""
    if by not in SELECTORS:
        raise StockcastError(f"compare: cannot select by {by!r} (choose one of {', '.join(SELECTORS)}: "
                             "validation scores; test metrics never select)")
    scored = [e for e in found if isinstance(e.metrics.get(f"{SELECTION}:{by}"), int | float)]
    if not scored:
        raise StockcastError(f"compare: no experiment has {SELECTION}:{by} (has the train stage run?)")
    return SELECTORS[by](scored, key=lambda e: e.metrics[f"{SELECTION}:{by}"])


def varying_params(found: list[Experiment]) -> list[str]:
    """The params keys whose values are not the same in every experiment."""
    keys = sorted({k for e in found for k in e.params})
    return [k for k in keys if len({repr(e.params.get(k)) for e in found}) > 1]


def equity_plot(curves: dict[str, pl.DataFrame], chosen: str) -> str:
    """Each experiment's chosen strategy, net of costs (plots/equity.csv `strategy`), on one log-scale
    plot with the benchmark of the selected one; the selected experiment drawn thick."""
    fig, ax = plt.subplots(figsize=(10, 4.5))
    for name, frame in curves.items():
        mine = name == chosen
        ax.plot(frame["date"].to_list(), frame["strategy"].to_numpy(), linewidth=2.4 if mine else 1.0,
                label=f"{name} (selected by validation)" if mine else name, zorder=3 if mine else 2)
    if chosen in curves:
        ax.plot(curves[chosen]["date"].to_list(), curves[chosen]["benchmark"].to_numpy(), color="grey",
                linestyle="--", label="benchmark (equal-weight buy and hold)")
    ax.set_yscale("log")
    ax.set_ylabel("portfolio value (net of costs)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return figure_to_data_uri(fig)


def _rows(found: list[Experiment], chosen: str, columns: dict[str, tuple[str, ...]]) -> dict[str, dict[str, Any]]:
    return {_label(e, chosen): {key: e.metrics.get(f"{name}:{key}") for name, keys in columns.items() for key in keys}
            for e in found}


def _label(experiment: Experiment, chosen: str) -> str:
    kind = " (baseline)" if experiment.baseline else ""
    return f"\u2605 {experiment.name}{kind}: selected by validation" if experiment.name == chosen \
        else f"{experiment.name}{kind}"


def render(found: list[Experiment], curves: dict[str, pl.DataFrame], by: str, missing: list[str]) -> str:
    """The page: verdict line, params that differ, val, test, backtest, equity curves (see module doc)."""
    chosen = selected(found, by).name
    params = {_label(e, chosen): {k: e.params.get(k) for k in varying_params(found)} for e in found}
    best = "highest" if SELECTORS[by] is max else "lowest"
    sections = [
        (f"<p class='verdict'>Selected by validation: <strong>{html.escape(chosen)}</strong> ({best} "
         f"<code>{html.escape(by)}</code> of {len(found)} experiments). The test and backtest columns are "
         "reported, never chosen by.</p>"),
        "<h2>Params that differ</h2>",
        html_table(params) if any(params.values()) else "<p class='note'>All experiments share their params.</p>",
        "<h2>Validation (what selection used)</h2>",
        ("<p class='note'>dvclive's best_val_*: the selection fit's val scores, also when the saved model was "
         "refit on train+val (selection.refit = 1; its own val would be in-sample and is not scored).</p>"),
        html_table(_rows(found, chosen, VAL)),
        "<h2>Test: accuracy with its 95% Wilson interval, beside the baselines on the same rows</h2>",
        html_table(_rows(found, chosen, TEST)),
        "<h2>Backtest on test, net of costs, slippage and borrow</h2>",
        html_table(_rows(found, chosen, BACKTEST)),
        "<h2>Equity curves (test segment, net of costs)</h2>",
        f"<img alt='equity curves' src='{equity_plot(curves, chosen)}'>" if curves else "",
    ]
    if missing:
        sections.append(f"<p class='warning'>No equity curve (plots/equity.csv) at: {html.escape(', '.join(missing))}</p>")
    body = "\n".join(sections)
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>stockcast: experiments compared</title>
<style>{STYLE}</style></head><body><h1>Experiments compared</h1>
{body}
</body></html>
"""
