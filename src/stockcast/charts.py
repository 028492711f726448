"""The report's charts: matplotlib figures as PNG data URIs, so the page that embeds them renders offline."""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Iterable

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import polars as pl  # noqa: E402


def figure_to_data_uri(fig: plt.Figure) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _lines(frame: pl.DataFrame, columns: Iterable[str], ylabel: str, log: bool = False) -> str:
    fig, ax = plt.subplots(figsize=(9, 4))
    dates = frame["date"].to_list()
    for column in columns:
        ax.plot(dates, frame[column].to_numpy(), label=column, linewidth=1.6 if column == "strategy" else 1.0)
    if log:
        ax.set_yscale("log")
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return figure_to_data_uri(fig)


def equity_plot(equity: pl.DataFrame) -> str:
    """Every equity column (chosen strategy, its gross curve, benchmark, other strategies), log scale."""
    return _lines(equity, [c for c in equity.columns if c != "date"], "portfolio value (net of costs)", log=True)


def drawdown_plot(drawdown: pl.DataFrame) -> str:
    return _lines(drawdown, [c for c in drawdown.columns if c != "date"], "drawdown from running peak")


def capacity_plot(capacity: pl.DataFrame) -> str:
    """Net Sharpe of the chosen strategy against the book's starting capital (log scale)."""
    fig, ax = plt.subplots(figsize=(4.5, 3.6))
    ax.plot(capacity["capital"].to_numpy(), capacity["sharpe"].to_numpy(), marker="o")
    ax.set_xscale("log")
    ax.set_xlabel("starting capital ($)")
    ax.set_ylabel("net Sharpe (participation cap)")
    return figure_to_data_uri(fig)


def correlation_plot(correlation: pl.DataFrame) -> str:
    """The universe's rolling average pairwise correlation over the test segment."""
    return _lines(correlation, ["average_correlation"], "average pairwise correlation (rolling window)")


def roc_plot(roc: pl.DataFrame) -> str:
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.plot(roc["fpr"].to_numpy(), roc["tpr"].to_numpy(), label="model")
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="chance")
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.legend()
    return figure_to_data_uri(fig)


def calibration_plot(calibration: pl.DataFrame) -> str:
    """Observed share of ups against mean predicted probability per equal-count bin."""
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    x, y = calibration["mean_prob"].to_numpy(), calibration["observed"].to_numpy()
    low, high = min(x.min(), y.min(), 0.4), max(x.max(), y.max(), 0.6)
    ax.plot([low, high], [low, high], linestyle="--", color="grey", label="calibrated")
    ax.plot(x, y, marker="o", label="model")
    ax.set_xlabel("mean predicted P(up)")
    ax.set_ylabel("observed share of ups")
    ax.legend()
    return figure_to_data_uri(fig)


def confusion_plot(confusion: pl.DataFrame) -> str:
    """The 2 x 2 (or 3 x 3 with flat) counts (rows actual, columns predicted) as a heat map with the
    counts written in."""
    k = math.isqrt(confusion.height)
    counts = np.zeros((k, k), dtype=int)
    counts[confusion["actual"].to_numpy(), confusion["predicted"].to_numpy()] = confusion["n"].to_numpy()
    fig, ax = plt.subplots(figsize=(4, 3.6))
    ax.imshow(counts, cmap="Blues")
    for (i, j), n in np.ndenumerate(counts):
        ax.text(j, i, f"{n:,}", ha="center", va="center", color="white" if n > counts.max() / 2 else "black")
    names = ("down", "up", "flat")[:k]  # labels 0, 1, 2 (stockcast.labels.CLASSES)
    ax.set_xticks(range(k), names)
    ax.set_yticks(range(k), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("actual")
    return figure_to_data_uri(fig)


def accuracy_by_year_plot(by_year: pl.DataFrame) -> str:
    """Accuracy per year with its 95% Wilson interval, beside always-up (the year's share of ups)."""
    fig, ax = plt.subplots(figsize=(9, 3.5))
    years, accuracy = by_year["year"].to_numpy(), by_year["accuracy"].to_numpy()
    error = [accuracy - by_year["accuracy_low"].to_numpy(), by_year["accuracy_high"].to_numpy() - accuracy]
    ax.errorbar(years, accuracy, yerr=error, fmt="o", capsize=3, label="model (95% interval)")
    ax.plot(years, by_year["up_rate"].to_numpy(), "x", color="grey", label="always up")
    ax.axhline(0.5, color="grey", linewidth=0.8, linestyle="--")
    ax.set_ylabel("accuracy")
    ax.legend(fontsize=8)
    return figure_to_data_uri(fig)


def ic_plot(ic: pl.DataFrame) -> str:
    return _lines(ic, ["cumulative_ic", "cumulative_rank_ic"], "running sum of daily IC")


def importance_plot(importance: dict[str, float], top: int = 20) -> str:
    """The `top` most important features, largest first."""
    items = sorted(importance.items(), key=lambda kv: kv[1], reverse=True)[:top][::-1]
    fig, ax = plt.subplots(figsize=(7, 0.3 * len(items) + 1))
    ax.barh([k for k, _ in items], [v for _, v in items])
    ax.set_xlabel("importance")
    return figure_to_data_uri(fig)
