"""Params of evaluate, backtest and report: validated, and listed key by key in dvc.yaml."""

from datetime import date

import pytest
import yaml

from stockcast.errors import StockcastError
from stockcast.params import BacktestParams, EvaluateParams, ReportParams, load_section, parse_section

from .conftest import ROOT


def test_regimes_are_read_from_quoted_or_plain_iso_dates(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("backtest:\n  regimes:\n    - {name: a, start: '2020-02-20', end: 2020-03-23}\n")
    (regime,) = load_section("backtest", path).regimes
    assert (regime.name, regime.start, regime.end) == ("a", date(2020, 2, 20), date(2020, 3, 23))


def test_a_regime_that_ends_before_it_starts_is_named():
    with pytest.raises(StockcastError, match=r"backtest\.regimes\.0: .*'crash' ends \(2020-01-01\) before it starts"):
        parse_section("backtest", {"regimes": [{"name": "crash", "start": "2020-03-01", "end": "2020-01-01"}]})


def test_regime_names_are_distinct_and_strategies_known():
    twice = [{"name": "a", "start": "2020-01-01", "end": "2020-02-01"}] * 2
    with pytest.raises(StockcastError, match="distinct"):
        parse_section("backtest", {"regimes": twice})
    with pytest.raises(StockcastError, match=r"backtest\.strategy: .*'long_flat', 'long_short', 'topk_dropout', "
                                             r"'vol_target', 'kelly', 'mean_variance' or 'ppo'"):
        parse_section("backtest", {"strategy": "long_only"})
    with pytest.raises(StockcastError, match=r"strategy ppo needs at least one of ppo.seeds"):
        parse_section("backtest", {"strategy": "ppo", "ppo": {"seeds": []}})
    with pytest.raises(StockcastError, match=r"backtest\.ppo.*distinct"):
        parse_section("backtest", {"ppo": {"seeds": [1, 1]}})
    with pytest.raises(StockcastError, match=r"evaluate\.top_k"):
        parse_section("evaluate", {"top_k": 0})


@pytest.mark.parametrize("section, model", [("evaluate", EvaluateParams), ("backtest", BacktestParams),
                                            ("report", ReportParams)])
def test_each_stage_lists_every_key_of_its_section(section, model):
    stage = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"][section]
    assert {f"{section}.{key}" for key in model.model_fields} <= set(stage["params"])
