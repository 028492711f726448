"""One self-contained HTML page: plots are PNGs embedded as data URIs, so it renders offline."""

from __future__ import annotations

import base64
import html
import io
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import polars as pl  # noqa: E402


def figure_to_data_uri(fig: plt.Figure) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def equity_plot(equity: pl.DataFrame) -> str:
    """Strategy against benchmark, log scale, as a data URI."""
    fig, ax = plt.subplots(figsize=(9, 4))
    dates = equity["date"].to_list()
    ax.plot(dates, equity["strategy"].to_numpy(), label="strategy (net of costs)")
    ax.plot(dates, equity["benchmark"].to_numpy(), label="benchmark (equal weight)", alpha=0.8)
    ax.set_yscale("log")
    ax.set_ylabel("portfolio value")
    ax.legend()
    ax.grid(alpha=0.3)
    return figure_to_data_uri(fig)


def roc_plot(roc: pl.DataFrame) -> str:
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.plot(roc["fpr"].to_numpy(), roc["tpr"].to_numpy(), label="model")
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="chance")
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.legend()
    return figure_to_data_uri(fig)


def _table(rows: dict[str, dict[str, Any]]) -> str:
    columns = sorted({k for row in rows.values() for k in row})
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join(
        f"<tr><th>{html.escape(name)}</th>" + "".join(f"<td>{_fmt(row.get(c))}</td>" for c in columns) + "</tr>"
        for name, row in rows.items())
    return f"<table><tr><th></th>{head}</tr>{body}</table>"


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return html.escape("" if value is None else str(value))


STYLE = """body{font-family:system-ui,sans-serif;max-width:1000px;margin:2em auto;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}
img{max-width:100%}.note{color:#555}"""


def render(title: str, evaluate: dict, backtest: dict, quality: dict, images: dict[str, str]) -> str:
    """The report page from the metrics files and the plot data URIs."""
    model_rows = {"model (test)": evaluate["test"]} | {
        f"baseline: {name}": {"accuracy": acc} for name, acc in evaluate["baselines"].items()}
    backtest_rows = {"strategy (test)": backtest["test"], "benchmark": backtest["benchmark"]}
    quality_rows = {"rows": {k: quality[k] for k in ("rows_in", "rows_clean", "rows_quarantined")} | quality["by_rule"]}
    figures = "".join(f"<h2>{html.escape(name)}</h2><img alt='{html.escape(name)}' src='{uri}'>"
                      for name, uri in images.items())
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>
<p class="note">Out-of-sample test segment only. Daily direction is close to a coin flip: read the
model beside its baselines.</p>
<h2>Classification</h2>{_table(model_rows)}
<h2>Backtest</h2>{_table(backtest_rows)}
<h2>Data quality</h2>{_table(quality_rows)}
{figures}</body></html>
"""
