"""The predict, monitor and report stages' scripts: tomorrow's signals, the drift verdict and the page are what
the library makes of the files dvc.yaml has them read (the folders they run in: tests/model_chain.py). In the
model stages' shard of benchmarks/mutation.py.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import polars as pl
import pytest

from stockcast.artifacts import load_model
from stockcast.card import CardInputs, card_sections, to_markdown
from stockcast.charts import equity_plot
from stockcast.checksums import config_hash
from stockcast.errors import StockcastError
from stockcast.monitor import monitor
from stockcast.params import load_section
from stockcast.predict import Scorer, unscorable
from stockcast.report import coverage_rows, experiment_rows, model_rows, monitor_rows, read_importance, render

from .model_chain import MODEL, charted, copy_before, inside, read_json, same
from .stages import run_stage, set_params, stage


def test_the_predict_stage_scores_every_tickers_latest_window(chain, tmp_path, capsys):
    """Every ticker quality saw gets a row: scored by the model at evaluate.threshold, or listed with why
    not (ZZZZ: every bar quarantined; S0002, with one bar quarantined, is scored)."""
    folder = copy_before(chain, "predict", tmp_path)
    path = folder / "data" / "quarantine" / "ohlcv.parquet"
    clean = pl.read_parquet(folder / "data" / "clean" / "ohlcv.parquet").filter(pl.col("ticker") == "S0001").head(3)
    rejected = clean.with_columns(ticker=pl.Series(["ZZZZ", "ZZZZ", "S0002"]),  # S0002 has clean bars too
                                  rule=pl.Series(["zero_volume", "stale_price", "zero_volume"]),
                                  broken=pl.lit(["zero_volume"]), detail=pl.lit("planted"))
    pl.concat([pl.read_parquet(path), rejected], how="vertical_relaxed").write_parquet(path)
    features = pl.scan_parquet(folder / "data" / "features" / "features.parquet")
    threshold = 0.01  # far from the default 0.5: every scored ticker is called up
    set_params(folder, {"evaluate": {"threshold": threshold}})
    run_stage(folder, "predict", f"models/{MODEL}")
    said = capsys.readouterr().out
    scorer = Scorer.load(folder / "models" / MODEL, threshold)
    signals = scorer.signals(features)
    why = "every bar quarantined by quality (stale_price, zero_volume)"
    reason = pl.DataFrame({"ticker": ["ZZZZ"], "reason": [why]})
    expected = pl.concat([signals, unscorable(reason, scorer)], how="vertical_relaxed").sort("ticker")
    table = pl.read_parquet(folder / "data" / "signals" / "latest.parquet")
    assert table.equals(expected) and table.height == 7
    assert pl.read_csv(folder / "data" / "signals" / "latest.csv", try_parse_dates=True).height == 7
    scored = signals.filter(pl.col("reason").is_null())
    assert scored["call"].to_list() == ["up"] * 6
    assert read_json(folder, "metrics/predict.json") == {
        "as_of": str(scored["as_of"].max()), "tickers": 7, "scored": 6, "unscored": 1,
        "stale": int(scored["stale"].sum()), "calls_up": 6}  # only the calls made are counted
    assert f"predict: {MODEL} {scorer.hash[:12]} -> data/signals/latest.parquet: " in said
    assert f"predict: ZZZZ not scored: {why}\n" in said


def test_the_monitor_stage_reports_drift_and_live_accuracy_by_its_params(chain, tmp_path, capsys):
    folder = copy_before(chain, "monitor", tmp_path)
    run_stage(folder, "monitor", f"models/{MODEL}")
    charted(folder, "monitor")
    said = capsys.readouterr().out
    with inside(folder):
        params, threshold = load_section("monitor"), load_section("evaluate").threshold
    scorer = Scorer.load(folder / "models" / MODEL, threshold)
    gain = read_json(folder, f"models/{MODEL}/model/importance.json")["gain"]
    result = monitor(scorer, pl.scan_parquet(folder / "data" / "features" / "features.parquet"),
                     pl.read_parquet(folder / "data" / "splits" / "labels.parquet"),
                     pl.read_parquet(folder / "data" / "predictions" / "predictions.parquet"),
                     read_json(folder, "data/predictions/scores.json")["test"], params, gain)
    metrics = read_json(folder, "metrics/monitor.json")
    assert json.dumps(metrics, sort_keys=True) == json.dumps(result.metrics, sort_keys=True, default=str)
    assert metrics["drift"]["method"] == "ks"
    assert same(pl.read_csv(folder / "plots" / "monitor_drift.csv"), result.drift)
    importance = pl.read_csv(folder / "plots" / "monitor_importance.csv")
    assert same(importance, result.importance) and "gain_at_training" in importance.columns
    drifted = metrics["drift"]["features_drifted"]
    assert f"monitor: {drifted} of {len(metrics['features'])} features drifted (ks)" in said
    set_params(folder, {"train": {"model": "logreg"}})  # no importance.json: no training gain to compare with
    run_stage(folder, "train")
    run_stage(folder, "monitor", "models/logreg")
    assert "gain_at_training" not in pl.read_csv(folder / "plots" / "monitor_importance.csv").columns


EXPERIMENTS = [{"rev": "workspace", "experiments": None, "data": {
    "params": {"params.yaml": {"data": {"backtest": {"top_k": 1}}}},
    "metrics": {"metrics/backtest.json": {"data": {"test": {"sharpe": 0.25}}}}}}]


def _without_images(page: str) -> str:
    return re.sub(r"src='data:image/png;base64,[^']+'", "src=''", page)


REPORT_TITLES = ["Equity against the benchmark (test segment)", "Drawdown (test segment)",
                 "Capacity: net Sharpe against capital", "Universe: rolling average pairwise correlation (test)",
                 "ROC (test)", "Calibration (test)", "Confusion (test)", "Accuracy per year (test)",
                 "Cumulative information coefficient (test)", f"Feature importance: {MODEL}/model",
                 "Walk-forward equity: logreg retrained on each of 3 folds"]
EXPERIMENTS_TABLE = ("<h2>Experiments (dvc exp show)</h2>\n<table><tr><th></th><th>backtest test.sharpe</th></tr>"
                     "<tr><th>workspace</th><td>0.2500</td></tr></table>")


def _expected_report(folder: Path) -> str:
    """render() of the run's files in `folder`, images left empty, with EXPERIMENTS; checks the model card."""
    bundle = folder / "models" / MODEL / "model"
    _, config = load_model(bundle)
    read = {name: read_json(folder, f"data/{name}.json") for name in ("predictions/scores", "backtest/summary",
                                                                   "quarantine/report", "splits/coverage",
                                                                   "walkforward/summary")}
    card = card_sections(CardInputs(
        config, config_hash(bundle), read["quarantine/report"], read_json(folder, "data/features/manifest.json"),
        read_json(folder, "data/splits/boundaries.json"), read["predictions/scores"], read["backtest/summary"],
        {"strategy": "long_short", "cost_bps": 7.0, "slippage_bps": 3.0, "borrow_bps_per_year": 40.0,
         "max_participation": 0.0001}, read["splits/coverage"]["tickers"]))
    assert (folder / "models" / MODEL / "MODEL_CARD.md").read_text() == to_markdown(
        card, f"Model card: {MODEL} (chain report)")
    plots = folder / "plots"
    walkforward = read["walkforward/summary"]
    scored = dict(pl.read_csv(plots / "accuracy_by_ticker.csv").select("ticker", "n").iter_rows())
    comparisons = {
        "Coverage: who trained (train windows) and who was scored (test predictions)": coverage_rows(
            read["splits/coverage"], config["windows_by_ticker"]["train"], scored),
        "The trained model (best validation scores)": model_rows(MODEL, config),
        "Walk-forward (stitched out-of-sample, net of costs)": {
            "strategy": walkforward["test"], "benchmark": walkforward["benchmark"]},
        "Walk-forward folds": {f"fold {r['fold']}": r for r in pl.read_csv(plots / "walkforward_folds.csv").to_dicts()},
        **monitor_rows(read_json(folder, "metrics/monitor.json"), pl.read_csv(plots / "monitor_drift.csv"),
                       pl.read_csv(plots / "monitor_importance.csv")),
        "Experiments (dvc exp show)": experiment_rows(EXPERIMENTS)}
    return render("chain report", read["predictions/scores"], read["backtest/summary"], read["quarantine/report"],
                  dict.fromkeys(REPORT_TITLES, ""), pl.read_csv(plots / "regimes.csv", try_parse_dates=True),
                  comparisons, card)


DRAWN_FROM = {"equity_plot": "equity", "drawdown_plot": "drawdown", "capacity_plot": "capacity",
          "correlation_plot": "correlation", "roc_plot": "roc", "calibration_plot": "calibration",
          "confusion_plot": "confusion", "accuracy_by_year_plot": "accuracy_by_year", "ic_plot": "ic"}


def test_the_report_stage_puts_each_chart_of_its_own_file_under_its_title(chain, tmp_path, monkeypatch):
    """The report stage with its chart functions replaced by stand-ins that record what they were given: each
    chart is drawn from its own plots/*.csv (the importance chart from the bundle's importance.json, the last
    from the walk-forward equity) and lands under its title, and the page is otherwise render() of the run's
    files. Quick (no matplotlib): the test below checks the real images."""
    folder = copy_before(chain, "report", tmp_path)
    (folder / "exps.json").write_text(json.dumps(EXPERIMENTS))
    module, drawn = stage("report"), []
    for name in [*DRAWN_FROM, "importance_plot"]:
        monkeypatch.setattr(module, name, lambda data, name=name: drawn.append((name, data)) or
                            f"data:image/png;base64,{name}{len(drawn)}")
    run_stage(folder, "report", f"models/{MODEL}", "exps.json", module=module)
    page = (folder / "reports" / "index.html").read_text()
    assert _without_images(page) == _without_images(_expected_report(folder))
    read = lambda path: pl.read_csv(folder / path, try_parse_dates=True)  # noqa: E731
    expected = [*((name, read(f"plots/{file}.csv")) for name, file in DRAWN_FROM.items()),
                ("importance_plot", read_importance(folder / "models" / MODEL / "model" / "importance.json")),
                ("equity_plot", read("plots/walkforward_equity.csv"))]
    assert [name for name, _ in drawn] == [name for name, _ in expected]
    for (_, given), (name, data) in zip(drawn, expected):
        assert given == data if isinstance(data, dict) else given.equals(data), name
    figures = re.findall(r"<figcaption>([^<]+)</figcaption><img alt='[^']*' src='data:image/png;base64,(\w+)'", page)
    assert figures == [(title, f"{name}{i}") for i, (title, (name, _)) in enumerate(zip(REPORT_TITLES, drawn), 1)]


def test_the_report_stage_writes_the_page_and_card_of_this_runs_files(chain, tmp_path, capsys):
    """The page is render() of this run's files: every plot under its title, the comparison tables (and
    the experiments when `dvc exp show --json` output is given), the model card, also written beside the model."""
    folder = copy_before(chain, "report", tmp_path)
    (folder / "exps.json").write_text(json.dumps(EXPERIMENTS))
    run_stage(folder, "report", f"models/{MODEL}", "exps.json")
    said = capsys.readouterr().out
    page = (folder / "reports" / "index.html").read_text()
    expected = _expected_report(folder)
    plots = folder / "plots"
    assert _without_images(page) == _without_images(expected)
    uris = re.findall(r"src='(data:image/png;base64,[^']+)'", page)
    assert len(uris) == len(REPORT_TITLES)
    assert uris[0] == equity_plot(pl.read_csv(plots / "equity.csv", try_parse_dates=True))
    assert uris[-1] == equity_plot(pl.read_csv(plots / "walkforward_equity.csv", try_parse_dates=True))  # dates
    assert EXPERIMENTS_TABLE in page
    page_path = (folder / "reports" / "index.html").resolve()
    assert said.splitlines()[-1] == f"report: {page_path}; model card: models/{MODEL}/MODEL_CARD.md"
    run_stage(folder, "report", f"models/{MODEL}")  # as the dvc stage runs it: no experiments; reports/ is there
    assert _without_images((folder / "reports" / "index.html").read_text()) == _without_images(expected).replace(
        EXPERIMENTS_TABLE + "\n", "")


def test_the_report_stage_refuses_an_edited_model(chain, tmp_path):
    folder = copy_before(chain, "report", tmp_path)
    path = folder / "models" / MODEL / "model" / "config.json"
    path.write_text(path.read_text().replace('"best_epoch"', '"best_epoch" ', 1))
    with pytest.raises(StockcastError, match="config.json"):
        run_stage(folder, "report", f"models/{MODEL}")
    assert not (folder / "reports" / "index.html").exists()
