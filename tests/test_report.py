"""The report is one self-contained page: every image embedded, no network reference, readable."""

import json
import re
import shutil
import subprocess
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from stockcast.charts import (accuracy_by_year_plot, calibration_plot, confusion_plot, drawdown_plot, equity_plot,
                              ic_plot, importance_plot, roc_plot)
from stockcast.report import coverage_rows, experiment_rows, model_rows, read_importance, render

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="module")
def page() -> str:
    days = [date(2020, 1, 1) + timedelta(i) for i in range(30)]
    wealth = 100 * np.cumprod(1 + np.random.default_rng(0).normal(0, 0.01, (30, 2)), axis=0)
    equity = pl.DataFrame({"date": days, "strategy": wealth[:, 0], "benchmark": wealth[:, 1]})
    drawdown = pl.DataFrame({"date": days, "strategy": wealth[:, 0] / np.maximum.accumulate(wealth[:, 0]) - 1,
                             "benchmark": wealth[:, 1] / np.maximum.accumulate(wealth[:, 1]) - 1})
    images = {
        "Equity": equity_plot(equity), "Drawdown": drawdown_plot(drawdown),
        "ROC": roc_plot(pl.DataFrame({"fpr": [0.0, 0.4, 1.0], "tpr": [0.0, 0.5, 1.0]})),
        "Calibration": calibration_plot(pl.DataFrame({"mean_prob": [0.45, 0.5, 0.55], "observed": [0.47, 0.5, 0.52]})),
        "Confusion": confusion_plot(pl.DataFrame({"actual": [0, 0, 1, 1], "predicted": [0, 1, 0, 1],
                                                  "n": [10, 20, 5, 40]})),
        "Accuracy per year": accuracy_by_year_plot(pl.DataFrame({
            "year": [2020, 2021], "accuracy": [0.52, 0.5], "accuracy_low": [0.5, 0.47],
            "accuracy_high": [0.54, 0.53], "up_rate": [0.53, 0.51]})),
        "IC": ic_plot(pl.DataFrame({"date": days, "cumulative_ic": np.arange(30.0),
                                    "cumulative_rank_ic": np.arange(30.0) / 2})),
        "Importance": importance_plot({"logret_1": 3.0, "rsi_14": 1.0}),
    }
    regimes = pl.DataFrame({"regime": ["covid_crash"], "start": [date(2020, 2, 20)], "days": [23],
                            "strategy_sharpe": [-0.9], "benchmark_sharpe": [-1.3]})
    evaluate = {"test": {"accuracy": 0.51, "n": 1000, "null_rate": 0.53, "ic_mean": 0.01},
                "baselines": {"always_up": 0.53, "majority_class": 0.47, "yesterday": 0.49}}
    backtest = {"test": {"sharpe": 0.1, "max_drawdown": -0.2}, "benchmark": {"sharpe": 0.2, "max_drawdown": -0.3},
                "strategies": {"long_flat": {"sharpe": 0.1}}}
    quality = {"rows_in": 3, "rows_clean": 2, "rows_quarantined": 1, "by_rule": {"duplicate": 1}}
    return render("t <x>", evaluate, backtest, quality, images, regimes,
                  {"Models": {"lstm": {"val val_loss": 0.69}}})


def test_every_image_is_embedded_and_nothing_is_fetched(page):
    sources = re.findall(r"""<img[^>]*\bsrc=['"]([^'"]*)['"]""", page)
    assert len(sources) == 8 and all(s.startswith("data:image/png;base64,") for s in sources)
    assert not re.search(r"""(?:src|href)\s*=\s*['"]?(?:https?:)?//""", page)
    assert "http://" not in page and "https://" not in page and "@import" not in page
    assert "t &lt;x&gt;" in page and "covid_crash" in page and "baseline: yesterday" in page


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Chromium not installed (Debian: apt-get install chromium)")
def test_the_page_renders_offline_in_headless_chromium(page, tmp_path):
    from PIL import Image

    html, shot = tmp_path / "index.html", tmp_path / "page.png"
    html.write_text(page)
    done = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                           "--window-size=1200,3000", f"--screenshot={shot}", html.as_uri()],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and shot.exists(), done.stderr[-2000:]
    pixels = np.asarray(Image.open(shot).convert("RGB"))
    plotted = (np.abs(pixels.astype(int) - [31, 119, 180]).sum(axis=2) < 40).sum()  # matplotlib's first blue
    assert plotted > 1000  # the embedded figures were decoded and drawn, not broken-image icons


def test_experiments_are_read_from_dvc_exp_show(tmp_path):
    def run(rev, name, k, sharpe):
        return {"rev": rev, "name": name, "data": {
            "params": {"params.yaml": {"data": {"backtest": {"top_k": k, "cost_bps": 5}}}},
            "metrics": {"metrics/backtest.json": {"data": {"test": {"sharpe": sharpe, "days": 9}}},
                        "metrics/evaluate.json": {"data": {"test": {"accuracy": 0.5}}}}}}
    shown = [run("workspace", None, 2, 1.0) | {"experiments": None},
             run("a" * 40, "main", 2, 1.0) | {"experiments": [{"revs": [run("b" * 40, "k1", 1, 0.5)]}]}]
    rows = experiment_rows(json.loads(json.dumps(shown)))
    assert list(rows) == ["workspace", "main", "k1"]
    assert rows["k1"] == {"backtest.top_k": 1, "backtest test.sharpe": 0.5, "evaluate test.accuracy": 0.5}


def test_models_and_feature_importance_are_read_from_their_files(tmp_path):
    assert model_rows("lstm", {"best_epoch": 3, "best": {"val_loss": 0.69}}) == {
        "lstm": {"best_epoch": 3, "val val_loss": 0.69}}
    flat, nested = tmp_path / "flat.json", tmp_path / "nested.json"
    flat.write_text(json.dumps({"a": 2, "b": 1.5}))
    nested.write_text(json.dumps({"split": {"a": 1}, "gain": {"a": 0.3}}))
    assert read_importance(flat) == {"a": 2.0, "b": 1.5} and read_importance(nested) == {"a": 0.3}


def _verdict_inputs(accuracy_low: float, excess_dsr: float, **backtest) -> tuple[dict, dict]:
    evaluate = {"test": {"accuracy": accuracy_low + 0.01, "accuracy_low": accuracy_low,
                         "accuracy_high": accuracy_low + 0.02, "null_rate": 0.52, "p_binomial": 0.3},
                "baselines": {"always_up": 0.52, "majority_class": 0.48, "yesterday": 0.5}}
    return evaluate, {"test": {"excess_deflated_sharpe": excess_dsr, "information_ratio": 0.1, "sharpe": 1.0},
                      "benchmark": {"sharpe": 0.9}, "days": 300, **backtest}


def test_the_page_opens_with_a_verdict_against_the_baselines_and_the_benchmark():
    evaluate, backtest = _verdict_inputs(0.51, 0.4, fill="next_open", tradable_fill=True, delisted_tickers=3)
    page = render("t", evaluate, backtest, {}, {})
    first = page.index("<h2>Verdict</h2>")
    assert first < page.index("<h2>Classification</h2>") and first < page.index('class="note"')
    assert "The model does not beat its baselines" in page and "always_up" in page
    assert "The strategy does not beat its benchmark after costs" in page and "survivor" not in page
    evaluate, backtest = _verdict_inputs(0.56, 0.99, fill="next_open", tradable_fill=True, delisted_tickers=3)
    page = render("t", evaluate, backtest, {}, {})
    assert "The model beats its baselines" in page and "The strategy beats its benchmark" in page


def test_a_same_close_fill_and_a_survivor_universe_are_called_out():
    evaluate, backtest = _verdict_inputs(0.5, 0.5, fill="same_close", tradable_fill=False, delisted_tickers=0)
    page = render("t", evaluate, backtest, {}, {})
    assert "not tradable" in page and "survivor" in page


def test_coverage_shows_who_trained_who_was_scored_and_who_was_left_out():
    coverage = {"min_rows_per_segment": 60,
                "usable_rows": {"AAA": {"train": 500, "val": 200, "test": 200}, "SSS": {"train": 8, "val": 90, "test": 0},
                                "OLD": {"train": 30, "val": 0, "test": 0}},
                "left_out": [{"ticker": "OLD", "segment": "train", "usable": 30, "labelled": 30},
                             {"ticker": "SSS", "segment": "train", "usable": 8, "labelled": 8}],
                "tickers": {"train": ["AAA"], "val": ["AAA", "SSS"], "test": ["AAA"]}, "dropped": ["OLD"]}
    rows = coverage_rows(coverage, {"AAA": 481}, {"AAA": 199})
    assert rows["AAA"] == {"train rows": 500, "val rows": 200, "test rows": 200, "trained on (windows)": 481,
                           "scored (test predictions)": 199, "note": ""}
    assert rows["SSS"]["trained on (windows)"] == 0 and rows["SSS"]["note"] == "left out of train (8 < 60 rows)"
    assert rows["OLD"]["note"] == "left out of train (30 < 60 rows); dropped: no segment left"
    page = render("t", {}, {}, {}, {}, comparisons={"Coverage": rows})
    assert "<h2>Coverage</h2>" in page and "left out of train (8 &lt; 60 rows)" in page


def test_rl_is_shown_in_one_table_with_the_simple_policies_and_with_its_seeds_spread():
    strategies = {name: {"sharpe": s, "effective_bets": 1.5} for name, s in
                  (("long_short", 0.3), ("vol_target", 0.25), ("kelly", 0.1), ("ppo", 0.2))}
    rl = {"run": True, "chosen_seed": 1, "timesteps": 4000, "train_seconds": 6.5,
          "learned_on": ["2010-01-04", "2011-06-30"], "chosen_on": ["2011-07-01", "2012-06-29"],
          "test_sharpe_mean": 0.15, "test_sharpe_std": 0.07,
          "seeds": {"0": {"val_sharpe": 0.1, "test_sharpe": 0.08}, "1": {"val_sharpe": 0.4, "test_sharpe": 0.2}}}
    sizing = {"calibration": {"method": "isotonic", "val_rows": 7000, "edge_at": {"0.5": -0.04}},
              "average_correlation": 0.58, "ppo": rl}
    evaluate, backtest = _verdict_inputs(0.5, 0.5, strategies=strategies, sizing=sizing, trials=9)
    page = render("t", evaluate, backtest, {}, {})
    table = page[page.index("<h3>Strategies and sizing policies"):page.index("<h3>Position sizing")]
    rows = re.findall(r"<tr><th>(\w+)</th><td>([^<]*)</td>", table)
    assert rows == [("long_short", "rule"), ("vol_target", "sizing"), ("kelly", "sizing"),
                    ("ppo", "RL (PPO, chosen on val)")]
    sizing_part = page[page.index("<h3>Position sizing"):]
    assert "seed 1 (chosen)" in sizing_part and "seed 0<" in sizing_part
    assert "standard deviation 0.0700" in sizing_part and "0.5800" in sizing_part
    assert "9 strategies and agents tried" in sizing_part and "e(0.5) = -0.0400" in sizing_part
    backtest["sizing"]["ppo"] = {"run": False, "why": "no val predictions to learn on"}
    assert "ppo was not run: no val predictions to learn on" in render("t", evaluate, backtest, {}, {})
