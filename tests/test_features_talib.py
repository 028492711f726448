"""Golden cross-check on the bundled real sample: the named indicators are TA-Lib's, to 1e-6 relative."""

import numpy as np
import polars as pl
import pytest
import talib

from stockcast.features import compute, feature_set

MACD = {"fastperiod": 12, "slowperiod": 26, "signalperiod": 9}
STOCH = {"fastk_period": 14, "slowk_period": 3, "slowk_matype": 0, "slowd_period": 3, "slowd_matype": 0}
BBANDS = {"timeperiod": 20, "nbdevup": 2.0, "nbdevdn": 2.0, "matype": 0}

HLC = ("high", "low", "close")
REFERENCE = {  # name -> (TA-Lib function, inputs, parameters, output index), called on one ticker's arrays
    **{f"sma_{n}": ("SMA", ("close",), {"timeperiod": n}, None) for n in (5, 10, 20, 50)},
    **{f"ema_{n}": ("EMA", ("close",), {"timeperiod": n}, None) for n in (5, 10, 20, 50)},
    "rsi_14": ("RSI", ("close",), {"timeperiod": 14}, None),
    "macd": ("MACD", ("close",), MACD, 0),
    "macd_signal": ("MACD", ("close",), MACD, 1),
    "macd_hist": ("MACD", ("close",), MACD, 2),
    "bb_upper_20": ("BBANDS", ("close",), BBANDS, 0),
    "bb_lower_20": ("BBANDS", ("close",), BBANDS, 2),
    "atr_14": ("ATR", HLC, {"timeperiod": 14}, None),
    "obv": ("OBV", ("close", "volume"), {}, None),
    "roc_10": ("ROC", ("close",), {"timeperiod": 10}, None),
    "stoch_k_14": ("STOCH", HLC, STOCH, 0),
    "stoch_d_14": ("STOCH", HLC, STOCH, 1),
    "willr_14": ("WILLR", HLC, {"timeperiod": 14}, None),
    "cci_20": ("CCI", HLC, {"timeperiod": 20}, None),
    "adx_14": ("ADX", HLC, {"timeperiod": 14}, None),
    "mfi_14": ("MFI", (*HLC, "volume"), {"timeperiod": 14}, None),
}


def ours(sample: pl.DataFrame, name: str) -> pl.DataFrame:
    """Only the indicator under test, computed inside the test (not in a shared fixture), so a mutation
    tool that runs the tests reaching a function finds the test that checks it. Rows in any order."""
    shuffled = sample.sample(fraction=1.0, shuffle=True, seed=0)
    return compute(shuffled, [f for f in feature_set("talib") if f.name == name])


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_talib_indicators_match_reference(name: str, sample: pl.DataFrame):
    table = ours(sample, name)
    for ticker, bars in sample.sort("ticker", "date").partition_by("ticker", as_dict=True).items():
        function, inputs, params, output = REFERENCE[name]
        expected = getattr(talib, function)(*(bars[c].cast(pl.Float64).to_numpy() for c in inputs), **params)
        expected = expected if output is None else expected[output]
        got = table.filter(pl.col("ticker") == ticker[0])[name].to_numpy()  # null -> NaN
        assert np.array_equal(np.isnan(got), ~np.isfinite(expected)), (ticker, name, "warm-up or null differs")
        ok = np.isfinite(expected)
        np.testing.assert_allclose(got[ok], expected[ok], rtol=1e-6, atol=0, err_msg=f"{ticker} {name}")
