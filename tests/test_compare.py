"""The comparison page: every experiment named, the one validation chose marked (never the test-best),
params that differ, offline."""

from __future__ import annotations

import re
from datetime import date, timedelta

import polars as pl
import pytest

from stockcast.compare import experiments, pick, render, selected, varying_params
from stockcast.errors import StockcastError


def _run(name: str | None, rev: str, leaves: int, val: float, test: float) -> dict:
    return {"rev": rev, "name": name, "data": {
        "params": {"params.yaml": {"data": {"train": {"model": "lightgbm", "lightgbm": {"num_leaves": leaves}}}}},
        "metrics": {"dvclive/metrics.json": {"data": {"best_val_accuracy": val, "best_val_loss": 1 - val}},
                    "metrics/evaluate.json": {"data": {"test": {"accuracy": test, "accuracy_low": test - 0.01,
                                                                "accuracy_high": test + 0.01},
                                                       "baselines": {"always_up": 0.54}}},
                    "metrics/backtest.json": {"data": {"test": {"sharpe": test * 2}}}}}}


def _shown() -> list[dict]:
    """`dvc exp show --json` of a baseline and three experiments: b is val-best, c is test-best."""
    experiments_ = [{"name": n, "revs": [_run(n, rev, leaves, val, test)]}
                    for n, rev, leaves, val, test in (("a", "a" * 40, 4, 0.51, 0.50), ("b", "b" * 40, 7, 0.56, 0.51),
                                                      ("c", "c" * 40, 31, 0.52, 0.60))]
    return [{"rev": "workspace", "name": None, "data": _run(None, "workspace", 15, 0.5, 0.5)["data"]},
            {**_run("main", "f" * 40, 15, 0.50, 0.52), "experiments": experiments_}]


def _curve(level: float) -> pl.DataFrame:
    days = [date(2020, 1, 1) + timedelta(days=i) for i in range(30)]
    return pl.DataFrame({"date": days, "strategy": [1e5 * level ** i for i in range(30)],
                         "benchmark": [1e5 * 1.001 ** i for i in range(30)]})


def test_the_page_names_every_experiment_and_marks_the_val_best_never_the_test_best():
    found = experiments(_shown())
    assert [e.name for e in found] == ["main", "a", "b", "c"]
    assert selected(found, "best_val_accuracy").name == "b" and selected(found, "best_val_loss").name == "b"
    page = render(found, {e.name: _curve(1.001 + i / 1000) for i, e in enumerate(found)}, "best_val_accuracy", [])
    marked = re.findall(r"\u2605 (\w+)", page)
    assert set(marked) == {"b"} and len(marked) == 4  # its row in params, val, test and backtest
    assert "Selected by validation: <strong>b</strong>" in page
    for name in ("main", "a", "c"):
        assert f"<tr><th>{name}" in page
    assert "train.lightgbm.num_leaves" in page and "train.model" not in page  # only the params that differ
    assert not re.search(r"(src|href)=['\"]https?:", page), "the page must render offline"
    assert page.count("data:image/png;base64,") == 1


def test_named_experiments_only_and_an_unknown_name_is_one_line():
    found = experiments(_shown())
    assert [e.name for e in pick(found, ["c", "aaaaaaa"])] == ["c", "a"]
    with pytest.raises(StockcastError, match=r"no experiment 'zz'.*known: main, a, b, c"):
        pick(found, ["zz"])
    with pytest.raises(StockcastError, match="cannot select by 'test.accuracy'"):
        selected(found, "test.accuracy")


def test_params_that_differ():
    found = experiments(_shown())
    assert varying_params(found) == ["train.lightgbm.num_leaves"]
