import re
from datetime import date

import polars as pl

from stockcast.report import equity_plot, render, roc_plot


def test_report_is_self_contained():
    equity = pl.DataFrame({"date": [date(2020, 1, 1), date(2020, 1, 2)], "strategy": [100.0, 101.0],
                           "benchmark": [100.0, 99.0]})
    roc = pl.DataFrame({"fpr": [0.0, 1.0], "tpr": [0.0, 1.0]})
    page = render("t <x>", {"test": {"accuracy": 0.51}, "baselines": {"always_up": 0.52}},
                  {"test": {"sharpe": 0.1}, "benchmark": {"sharpe": 0.2}},
                  {"rows_in": 3, "rows_clean": 2, "rows_quarantined": 1, "by_rule": {"duplicate": 1}},
                  {"Equity": equity_plot(equity), "ROC": roc_plot(roc)})
    sources = re.findall(r"src='([^']*)'", page)
    assert len(sources) == 2 and all(s.startswith("data:image/png;base64,") for s in sources)
    assert "http://" not in page and "https://" not in page
    assert "t &lt;x&gt;" in page
