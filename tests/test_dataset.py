import numpy as np
import polars as pl
import pyarrow.parquet as pq
import pytest

from stockcast.dataset import Panel, WindowDataset, loader
from stockcast.errors import StockcastError
from stockcast.fitting import fit
from stockcast.params import TrainParams


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


def test_a_window_never_crosses_tickers_even_inside_one_segment():
    """Rule: every row of a window has the ticker of its last row; the ticker rule holds on its own,
    not only because segments happen to change where tickers do. Here both tickers are all train."""
    panel, L = _panel(), 5
    panel.keys = panel.keys.with_columns(segment=pl.lit("train"))
    ends = panel.window_ends(L, "train")
    # AAA has rows 0..29, BBB rows 30..54: the first window of each ticker ends L - 1 rows in
    expected = np.r_[np.arange(L - 1, 30), np.arange(30 + L - 1, 55)]
    np.testing.assert_array_equal(ends, expected)


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


def test_load_puts_every_labelled_row_in_place_whatever_the_file_order(tmp_path):
    rng = np.random.default_rng(0)
    n = 200
    table = pl.DataFrame({"ticker": np.repeat(["BBB", "AAA"], n // 2), "date": np.tile(np.arange(n // 2), 2),
                          "f1": rng.normal(size=n).astype(np.float32), "f2": rng.normal(size=n)})
    table = table.with_columns(f1=pl.when(pl.col("date") < 3).then(None).otherwise(pl.col("f1")))
    labels = table.filter(pl.col("date") % 7 != 0).select(
        "ticker", "date", segment=pl.lit("train"), label=pl.lit(1, pl.Int8), fwd_return=pl.lit(0.0),
        next_return=pl.lit(0.0))
    path = tmp_path / "features.parquet"
    table.sample(fraction=1.0, shuffle=True, seed=1).write_parquet(path, row_group_size=16)
    assert pq.ParquetFile(path).metadata.num_row_groups > 1
    loaded = Panel.load(path, labels, ["f1", "f2"])
    expected = Panel.from_tables(table, labels, ["f1", "f2"])
    assert loaded.keys.equals(expected.keys)
    np.testing.assert_array_equal(loaded.x, expected.x)
    reference = table.join(labels, on=["ticker", "date"]).sort("ticker", "date")
    np.testing.assert_array_equal(expected.x[:, 1], reference["f2"].cast(pl.Float32).to_numpy())
    assert np.isnan(expected.x[reference["f1"].is_null().to_numpy(), 0]).all()


def test_no_usable_window_is_explained_by_what_is_really_short():
    """AAA's train rows 0..14, val 15..29; BBB's train 30..41, val 42..54 (see _panel)."""
    nan_in_val = _panel(seq_nan_rows=[*range(15, 30), *range(42, 55)])  # e.g. an infinite price upstream
    nan_in_val.x[15:30, 0] = 1.0  # only f2 is NaN in AAA's val rows: f2 is named first
    assert nan_in_val.why_no_windows(5, "val") == (
        "every one of its 28 labelled rows has a NaN or infinite feature (f2 in 28, f1 in 13 rows): the prices "
        "behind them are missing, infinite or zero; check the clean data, or use other features")
    assert _panel().why_no_windows(20, "val") == (
        "its longest run of consecutive rows with finite features is 15 (AAA), shorter than train.seq_len=20; "
        "lower train.seq_len or add history")
    assert _panel().why_no_windows(5, "test").startswith("the test segment has no rows")
    unlabelled = _panel()
    unlabelled.y[:] = np.nan
    assert unlabelled.why_no_windows(5, "train") == "none of the 27 rows of the train segment has a label"


def test_fitting_names_what_is_short_instead_of_blaming_seq_len(tmp_path):
    panel = _panel(seq_nan_rows=[*range(15, 30), *range(42, 55)])
    with pytest.raises(StockcastError, match=r"^train: no usable window in the val segment: every one of its 28 "
                                             r"labelled rows has a NaN or infinite feature \(f1 in 28, f2 in 28"):
        fit(panel, TrainParams(model="logreg", seq_len=5), 2, tmp_path)


def test_the_fitted_model_records_its_windows_per_ticker(tmp_path):
    panel = _panel()  # AAA: 15 train and 15 val rows, BBB: 12 and 13
    panel.y[::2] = 0  # logreg needs both classes
    fitted = fit(panel, TrainParams(model="logreg", seq_len=5), 2, tmp_path)
    assert fitted.windows_by_ticker(panel) == {"train": {"AAA": 11, "BBB": 8}, "val": {"AAA": 11, "BBB": 9}}
