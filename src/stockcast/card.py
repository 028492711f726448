"""The model card (Mitchell et al. 2019, "Model Cards for Model Reporting"), generated, never written by hand.

Every value comes from a file the pipeline wrote for this model: its sealed config.json, the quality
report, the features manifest, the split's boundaries, the evaluate scores with their intervals and
baselines, and the backtest with its fills and costs. The report stage writes it to
models/<model>/MODEL_CARD.md, beside the bundle, and shows the same sections on the report page.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Rows = dict[str, Any]
CARD = "MODEL_CARD.md"  # models/<model>/MODEL_CARD.md


@dataclass(frozen=True)
class CardInputs:
    """What the card is made of: the files of one run (see the module doc)."""

    config: dict[str, Any]
    model_hash: str
    quality: dict[str, Any]
    manifest: dict[str, Any]
    boundaries: dict[str, Any]
    scores: dict[str, Any]
    backtest: dict[str, Any]
    costs: dict[str, Any]
    tickers: dict[str, list[str]] = field(default_factory=dict)  # segment -> tickers (the split's coverage)


@dataclass(frozen=True)
class Section:
    title: str
    rows: Rows = field(default_factory=dict)
    text: str = ""


def card_sections(c: CardInputs) -> list[Section]:
    """The card's sections, in the order a reader decides whether to use the model."""
    test, baselines = c.scores.get("test", {}), c.scores.get("baselines", {})
    params = c.config.get("params", {})
    base_rate = max([test.get("up_rate", 0.5), 1 - test.get("up_rate", 0.5)])
    return [
        Section("Model", {"name": c.config["model"], "sha256 (sealed config.json)": c.model_hash,
                          "classes": c.config.get("n_classes", 2), "inputs": f"{c.config['n_features']} features x "
                          f"{params.get('seq_len')} sessions", "refit": c.config.get("refit", {}).get("mode", "none"),
                          "best epoch (val)": c.config.get("best_epoch"),
                          **({"export": _export(c.config["export"])} if c.config.get("export") else {})}),
        Section("Intended use", text=(
            "Research: ranking and sizing daily long/short candidates by the probability that a stock's close "
            f"rises over the next {c.boundaries.get('horizon', 1)} session(s), inside a backtest with costs. "
            "Not a trading system on its own, and not investment advice.")),
        Section("Data", {"tickers in": c.quality.get("tickers_in"), "tickers kept": c.quality.get("tickers_kept"),
                         "first date": c.boundaries.get("train_start"), "last date": c.boundaries.get("end"),
                         "rows in": c.quality.get("rows_in"), "rows clean": c.quality.get("rows_clean"),
                         "rows quarantined": c.quality.get("rows_quarantined"),
                         "quarantined by rule": {k: v for k, v in (c.quality.get("by_rule") or {}).items() if v},
                         "source": (c.quality.get("provenance") or {}).get("source"),
                         **{f"tickers in {s}": len(t) for s, t in c.tickers.items()}}),
        Section("Features", {"set": c.manifest.get("set"), "families": c.manifest.get("families") or "all",
                             "count": len(c.manifest.get("features", [])),
                             "longest lookback (sessions)": c.manifest.get("max_lookback"),
                             "normaliser (fitted on train only)": params.get("normalize")}),
        Section("Label and split", {"label": c.boundaries.get("label"), "horizon (sessions)": c.boundaries.get("horizon"),
                                    "train from": c.boundaries.get("train_start"),
                                    "val from": c.boundaries.get("val_start"),
                                    "test from": c.boundaries.get("test_start"),
                                    "embargo (sessions before val and test)": c.boundaries.get("embargo_days"),
                                    "windows": c.config.get("windows")}),
        Section("Training params", {k: v for k, v in params.items() if not isinstance(v, dict)}),
        Section("Metrics on test (95% Wilson interval) beside the baselines", {
            "accuracy": f"{_f(test.get('accuracy'))} [{_f(test.get('accuracy_low'))}, {_f(test.get('accuracy_high'))}]",
            **{f"baseline: {k}": _f(v) for k, v in baselines.items()},
            "beats every baseline beyond the interval": _beats(test, baselines),
            "rows scored": test.get("n"), "AUC": _f(test.get("auc")), "log loss": _f(test.get("log_loss")),
            "IC (mean daily Spearman)": _f(test.get("ic_mean")), "p (binomial, accuracy above the null rate)":
                _f(test.get("p_binomial"))}),
        Section("Backtest on test (net of costs)", _backtest(c.backtest, c.costs)),
        Section("Limits", text=(
            f"Daily direction is close to a coin flip: on the test segment {_f(base_rate)} of the labels are the "
            "commoner direction, so accuracy means something only beside that rate and its interval. The scores "
            "above are from one chronological split of one universe; regimes outside it (see the report's regime "
            "table) are untested. The model sees only price and volume features: news, earnings and index changes "
            "are invisible to it. Signals for a stale ticker (its last bar before the universe's last date) are "
            "about a session that may already have passed.")),
    ]


def to_markdown(sections: list[Section], title: str) -> str:
    """The card as markdown: a heading per section, a two-column table or a paragraph."""
    lines = [f"# {title}", "", "Generated by the report stage from this run's files; edit the pipeline, not this file.", ""]
    for section in sections:
        lines += [f"## {section.title}", ""]
        if section.text:
            lines += [section.text, ""]
        if section.rows:
            lines += ["| | |", "|---|---|", *(f"| {k} | {_cell(v)} |" for k, v in section.rows.items()), ""]
    return "\n".join(lines)


def _backtest(summary: dict[str, Any], costs: dict[str, Any]) -> Rows:
    test, benchmark = summary.get("test", {}), summary.get("benchmark", {})
    return {"strategy": costs.get("strategy"), "fill": summary.get("fill"),
            "commission + slippage (bps per side)": f"{costs.get('cost_bps')} + {costs.get('slippage_bps')}",
            "borrow on shorts (bps a year)": costs.get("borrow_bps_per_year"),
            "max participation (of median dollar volume)": costs.get("max_participation"),
            "Sharpe (benchmark)": f"{_f(test.get('sharpe'))} ({_f(benchmark.get('sharpe'))})",
            "annual return (benchmark)": f"{_f(test.get('annual_return'))} ({_f(benchmark.get('annual_return'))})",
            "max drawdown": _f(test.get("max_drawdown")), "deflated Sharpe (excess)": _f(test.get("excess_deflated_sharpe")),
            "days": summary.get("days"), "capital where the edge halves": (summary.get("capacity") or {}).get(
                "halving_capital")}


def _beats(test: dict[str, Any], baselines: dict[str, Any]) -> str:
    """yes when the interval's lower end clears the best baseline, as the report's verdict reads it."""
    best = max(baselines.values(), default=None)
    if best is None or test.get("accuracy_low") is None:
        return "n/a"
    return "yes" if test["accuracy_low"] > best else f"no (best baseline {_f(best)})"


def _export(export: dict[str, Any]) -> str:
    return ", ".join(f"{k}: {v}" for k, v in export.items() if not isinstance(v, (dict, list)))


def _f(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def _cell(value: Any) -> str:
    if isinstance(value, dict):
        value = ", ".join(f"{k}={_cell(v)}" for k, v in value.items()) or "none"
    return str(value).replace("|", "\\|").replace("\n", " ")
