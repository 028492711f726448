"""Alpha158 against qlib's formulas, re-evaluated with pandas as qlib does (full windows only)."""

import numpy as np
import pandas as pd
import polars as pl
import pytest

from stockcast.features import compute, feature_set

from .conftest import random_bars

EPS = 1e-12


def _line(y: np.ndarray) -> tuple[float, float, float]:
    """Least-squares line of y on 1..n: (slope, R^2, residual of the last point), as qlib's Slope/Rsquare/Resi."""
    x = np.arange(1, len(y) + 1, dtype=float)
    slope, intercept = np.polyfit(x, y, 1)
    fitted = intercept + slope * x
    r2 = 1 - ((y - fitted) ** 2).sum() / ((y - y.mean()) ** 2).sum()
    return slope, r2, y[-1] - fitted[-1]


def _percentile(w: np.ndarray) -> float:
    """scipy percentileofscore(w, w[-1], kind="rank") / 100."""
    return ((w < w[-1]).sum() + (w <= w[-1]).sum() + 1) / (2 * len(w))


def qlib(df: pd.DataFrame, op: str, d: int) -> pd.Series:
    c, h, low, v = df["close"], df["high"], df["low"], df["volume"].astype(float)
    roll = lambda s: s.rolling(d, min_periods=d)  # noqa: E731
    dc, dv = c - c.shift(1), v - v.shift(1)
    move_volume = (c / c.shift(1) - 1).abs() * v
    return {
        "ROC": lambda: c.shift(d) / c,
        "MA": lambda: roll(c).mean() / c,
        "STD": lambda: roll(c).std() / c,
        "BETA": lambda: roll(c).apply(lambda y: _line(y)[0], raw=True) / c,
        "RSQR": lambda: roll(c).apply(lambda y: _line(y)[1], raw=True),
        "RESI": lambda: roll(c).apply(lambda y: _line(y)[2], raw=True) / c,
        "MAX": lambda: roll(h).max() / c,
        "MIN": lambda: roll(low).min() / c,
        "QTLU": lambda: roll(c).quantile(0.8) / c,
        "QTLD": lambda: roll(c).quantile(0.2) / c,
        "RANK": lambda: roll(c).apply(_percentile, raw=True),
        "RSV": lambda: (c - roll(low).min()) / (roll(h).max() - roll(low).min() + EPS),
        "IMAX": lambda: roll(h).apply(lambda w: w.argmax() + 1, raw=True) / d,
        "IMIN": lambda: roll(low).apply(lambda w: w.argmin() + 1, raw=True) / d,
        "IMXD": lambda: (roll(h).apply(np.argmax, raw=True) - roll(low).apply(np.argmin, raw=True)) / d,
        "CORR": lambda: roll(c).corr(np.log(v + 1)),
        "CORD": lambda: roll(c / c.shift(1)).corr(np.log(v / v.shift(1) + 1)),
        "CNTP": lambda: roll((c > c.shift(1)).astype(float).where(c.shift(1).notna())).mean(),
        "CNTN": lambda: roll((c < c.shift(1)).astype(float).where(c.shift(1).notna())).mean(),
        "CNTD": lambda: roll((c > c.shift(1)).astype(float).where(c.shift(1).notna())).mean()
        - roll((c < c.shift(1)).astype(float).where(c.shift(1).notna())).mean(),
        "SUMP": lambda: roll(dc.clip(lower=0)).sum() / (roll(dc.abs()).sum() + EPS),
        "SUMN": lambda: roll((-dc).clip(lower=0)).sum() / (roll(dc.abs()).sum() + EPS),
        "SUMD": lambda: (roll(dc.clip(lower=0)).sum() - roll((-dc).clip(lower=0)).sum()) / (roll(dc.abs()).sum() + EPS),
        "VMA": lambda: roll(v).mean() / (v + EPS),
        "VSTD": lambda: roll(v).std() / (v + EPS),
        "WVMA": lambda: roll(move_volume).std() / (roll(move_volume).mean() + EPS),
        "VSUMP": lambda: roll(dv.clip(lower=0)).sum() / (roll(dv.abs()).sum() + EPS),
        "VSUMN": lambda: roll((-dv).clip(lower=0)).sum() / (roll(dv.abs()).sum() + EPS),
        "VSUMD": lambda: (roll(dv.clip(lower=0)).sum() - roll((-dv).clip(lower=0)).sum()) / (roll(dv.abs()).sum() + EPS),
    }[op]()


@pytest.fixture(scope="module")
def bars() -> pl.DataFrame:
    return random_bars({"AAA": 160, "BBB": 130}, seed=11)  # continuous prices: no ties in windows


def ours(bars: pl.DataFrame, names: list[str]) -> pl.DataFrame:
    """Only the features under test, computed inside the test (not in a shared fixture), so a mutation
    tool that runs the tests reaching a function finds the test that checks it."""
    return compute(bars, [f for f in feature_set("alpha158") if f.name in names])


OPERATORS = ["ROC", "MA", "STD", "BETA", "RSQR", "RESI", "MAX", "MIN", "QTLU", "QTLD", "RANK", "RSV", "IMAX", "IMIN",
             "IMXD", "CORR", "CORD", "CNTP", "CNTN", "CNTD", "SUMP", "SUMN", "SUMD", "VMA", "VSTD", "WVMA", "VSUMP",
             "VSUMN", "VSUMD"]
WINDOWS = [5, 10, 20, 30, 60]


def test_every_alpha158_rolling_feature_is_checked():
    rolling = {f.name for f in feature_set("alpha158") if f.family == "rolling"}
    assert rolling == {f"{op}{d}" for op in OPERATORS for d in WINDOWS}


@pytest.mark.parametrize("op", OPERATORS)
@pytest.mark.parametrize("d", WINDOWS)
def test_alpha158_rolling_operators_match_qlib(op: str, d: int, bars: pl.DataFrame):
    """Rule: each operator is qlib's Alpha158 expression over d sessions, value by value."""
    table = ours(bars, [f"{op}{d}"])
    for ticker, rows in bars.sort("ticker", "date").partition_by("ticker", as_dict=True).items():
        expected = qlib(rows.to_pandas(), op, d).to_numpy(dtype=float)
        got = table.filter(pl.col("ticker") == ticker[0])[f"{op}{d}"].to_numpy()
        assert np.array_equal(np.isnan(got), np.isnan(expected)), (ticker, op, d, "warm-up differs")
        ok = ~np.isnan(expected)
        np.testing.assert_allclose(got[ok], expected[ok], rtol=2e-5, atol=1e-6, err_msg=f"{ticker} {op}{d}")


def test_alpha158_kbar_and_price_match_qlib(bars: pl.DataFrame):
    o, h, low, c = (pl.col(x) for x in ("open", "high", "low", "close"))
    expected = bars.sort("ticker", "date").select(
        KMID=(c - o) / o, KLEN=(h - low) / o, KMID2=(c - o) / (h - low + EPS),
        KUP=(h - pl.max_horizontal(o, c)) / o, KUP2=(h - pl.max_horizontal(o, c)) / (h - low + EPS),
        KLOW=(pl.min_horizontal(o, c) - low) / o, KLOW2=(pl.min_horizontal(o, c) - low) / (h - low + EPS),
        KSFT=(2 * c - h - low) / o, KSFT2=(2 * c - h - low) / (h - low + EPS),
        OPEN0=o / c, HIGH0=h / c, LOW0=low / c, VWAP0=(h + low + c) / 3 / c,
    ).cast(pl.Float32)
    assert ours(bars, expected.columns).select(expected.columns).equals(expected)


def _one_ticker(close: list[float], volume: list[int] | None = None) -> pl.DataFrame:
    """A hand-made ticker: open = close, a 1% range around it, one row per weekday from 2001-01-01."""
    c = np.asarray(close, dtype=float)
    v = np.asarray(volume if volume is not None else [1000] * len(c), dtype=np.int64)
    days = pl.date_range(pl.date(2001, 1, 1), pl.date(2001, 1, 1) + pl.duration(days=len(c) - 1), eager=True)
    return pl.DataFrame({"ticker": "AAA", "date": days, "open": c, "high": c * 1.01, "low": c * 0.99, "close": c,
                         "volume": v, "adj_close": pl.Series([None] * len(c), dtype=pl.Float64)})


def test_an_unchanged_close_counts_as_neither_up_nor_down():
    """Rule (qlib CNTP/CNTN/CNTD): $close>Ref($close,1) and $close<Ref($close,1) are strict, so a session
    that closes where it opened the day counts in neither share. Hand computation over 5 sessions."""
    bars = _one_ticker([10, 10, 11, 11, 10, 10, 12])  # changes: 0, +1, 0, -1, 0, +2
    table = ours(bars, ["CNTP5", "CNTN5", "CNTD5"])
    nan = np.nan
    np.testing.assert_allclose(table["CNTP5"].to_numpy(), [nan] * 5 + [1 / 5, 2 / 5])
    np.testing.assert_allclose(table["CNTN5"].to_numpy(), [nan] * 5 + [1 / 5, 1 / 5])
    np.testing.assert_allclose(table["CNTD5"].to_numpy(), [nan] * 5 + [0.0, 1 / 5], atol=1e-7)


def test_rank_is_the_scipy_percentile_with_ties_averaged_from_the_first_full_window():
    """Rule: Rank($close, d) is percentileofscore(window, last, kind="rank") / 100, and a history of
    exactly d rows already has one full window (its last row). Hand values: [3, 1, 2, 5, 4] -> 4 is
    above 3 of 5, (3 + 4 + 1) / 10 = 0.8; [2, 1, 2, 3, 2] -> 2 ties three times, (1 + 4 + 1) / 10 = 0.6
    (scipy's percentileofscore(window, 2, kind="rank") is 60.0)."""
    for closes, expected in (([3, 1, 2, 5, 4], 0.8), ([2, 1, 2, 3, 2], 0.6)):
        got = ours(_one_ticker(closes), ["RANK5"])["RANK5"].to_numpy()
        np.testing.assert_allclose(got, [np.nan] * 4 + [expected], rtol=1e-6)
    assert ours(_one_ticker([1, 2, 3]), ["RANK5"])["RANK5"].null_count() == 3  # shorter than a window: no value


def test_the_guard_in_a_share_of_moves_is_added_so_tiny_moves_still_give_a_share():
    """Rule (qlib SUMP/SUMN/SUMD): Sum(up moves, d) / (Sum(|moves|, d) + 1e-12), the 1e-12 added. One rise of
    2**-40 (about 9.1e-13, exact in float64) in a flat window: SUMP = SUMD = 2**-40 / (2**-40 + 1e-12), SUMN 0."""
    tiny = 2.0**-40
    bars = _one_ticker([1.0] * 5 + [1.0 + tiny])
    table = ours(bars, ["SUMP5", "SUMN5", "SUMD5"])
    share = tiny / (tiny + EPS)  # 0.476...
    np.testing.assert_allclose(table["SUMP5"].to_numpy(), [np.nan] * 5 + [share], rtol=1e-6)
    np.testing.assert_allclose(table["SUMD5"].to_numpy(), [np.nan] * 5 + [share], rtol=1e-6)
    np.testing.assert_array_equal(table["SUMN5"].to_numpy(), [np.nan] * 5 + [0.0])
