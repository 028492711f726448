import numpy as np
import polars as pl

from stockcast.dataset import Panel, WindowDataset, loader


def _panel(seq_nan_rows=(), n=(30, 25)) -> Panel:
    rows = []
    for ticker, count in zip(("AAA", "BBB"), n):
        for i in range(count):
            segment = "train" if i < count // 2 else "val"
            rows.append((ticker, i, segment))
    keys = pl.DataFrame(rows, schema=["ticker", "day", "segment"], orient="row")
    x = np.arange(len(rows) * 2, dtype=np.float32).reshape(-1, 2)
    for r in seq_nan_rows:
        x[r] = np.nan
    keys = keys.with_columns(date=pl.col("day"), label=pl.lit(1, pl.Int8), fwd_return=pl.lit(0.0),
                             next_return=pl.lit(0.0))
    return Panel(keys.select("ticker", "date", "segment", "label", "fwd_return", "next_return"), x,
                 np.ones(len(rows), dtype=np.float32), ["f1", "f2"])


def test_windows_never_cross_tickers_or_segments():
    panel, L = _panel(), 5
    for segment in ("train", "val"):
        ends = panel.window_ends(L, segment)
        assert len(ends) > 0
        for e in ends:
            window = panel.keys[e - L + 1: e + 1]
            assert window["ticker"].n_unique() == 1 and window["segment"].to_list() == [segment] * L


def test_windows_with_missing_values_are_masked_not_filled():
    panel = _panel(seq_nan_rows=(3,))
    ends = panel.window_ends(4, "train")
    assert not any(3 <= e <= 6 for e in ends)
    assert 7 in ends


def test_a_batch_is_the_rows_of_its_windows():
    panel, L = _panel(), 4
    ends = panel.window_ends(L, "train")
    ds = WindowDataset(panel.x, panel.y, ends, L)
    xb, yb = next(iter(loader(ds, 3, False, 0, False)))
    assert xb.shape == (3, L, 2) and yb.shape == (3,)
    np.testing.assert_array_equal(xb[1].numpy(), panel.x[ends[1] - L + 1: ends[1] + 1])
