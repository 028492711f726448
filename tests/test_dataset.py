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


def _keyed(tickers, dates, values) -> tuple[pl.DataFrame, pl.DataFrame]:
    """A features table (ticker, date, f1) in the given row order, and a label row for every row."""
    features = pl.DataFrame({"ticker": tickers, "date": dates, "f1": values})
    labels = features.select("ticker", "date", segment=pl.lit("train"), label=pl.lit(1, pl.Int8),
                             fwd_return=pl.col("f1") * 10, next_return=pl.col("f1") * 100)
    return features, labels


@pytest.mark.parametrize("tickers, dates", [
    (["BBB", "AAA"], [1, 1]),                # two rows: a lower ticker second
    (["BBB", "AAA"], [1, 2]),                # a lower ticker second, at a later date
    (["AAA", "CCC", "BBB"], [1, 1, 1]),      # row 2 above row 0 but below row 1
    (["AAA", "BBB", "AAA"], [1, 2, 3]),      # a ticker comes back after another
    (["AAA", "AAA", "AAA"], [1, 3, 2]),      # a date below the previous one, above the one before
    (["AAA", "AAA"], [2, 1]),                # one ticker, dates descending
])
def test_the_panel_is_sorted_by_ticker_and_date_whatever_the_table_order(tickers, dates):
    """Rule: panel rows are in (ticker, date) order, each row keeping its own features and labels;
    only a table already in that order is taken as it is (every adjacent pair is checked)."""
    features, labels = _keyed(tickers, dates, [float(i + 1) for i in range(len(tickers))])
    panel = Panel.from_tables(features, labels, ["f1"])
    expected = features.sort("ticker", "date")
    assert panel.keys.select("ticker", "date").equals(expected.select("ticker", "date"))
    np.testing.assert_array_equal(panel.x[:, 0], expected["f1"].to_numpy())
    np.testing.assert_array_equal(panel.keys["next_return"].to_numpy(), expected["f1"].to_numpy() * 100)


def test_the_panel_keeps_the_key_columns_float32_features_and_nan_for_a_missing_label():
    """Rule: the keys are exactly (ticker, date, segment, label, fwd_return, next_return) with their
    values; x is float32 (the models' dtype, half the memory); a null label is y = NaN."""
    features, labels = _keyed(["AAA", "AAA"], [1, 2], [0.5, 2.0])
    labels = labels.with_columns(label=pl.Series([None, 1], dtype=pl.Int8))
    panel = Panel.from_tables(features, labels, ["f1"])
    assert panel.keys.columns == ["ticker", "date", "segment", "label", "fwd_return", "next_return"]
    assert panel.keys["fwd_return"].to_list() == [5.0, 20.0] and panel.keys["next_return"].to_list() == [50.0, 200.0]
    assert panel.keys["label"].to_list() == [None, 1]
    assert panel.x.dtype == np.float32 and np.isnan(panel.y[0]) and panel.y[1] == 1.0
    assert panel.normalized_by is None  # scoring.normalize_in_place refuses a panel normalised before


def test_a_missing_feature_is_a_one_line_error_naming_the_table_and_the_feature(tmp_path):
    """Rule: asking for a feature the table lacks names where (the table or the parquet path) and
    which feature, instead of a KeyError deep in polars."""
    features, labels = _keyed(["AAA"], [1], [1.0])
    with pytest.raises(StockcastError, match=r"^features table: lacks feature 'f2'; rerun the features stage$"):
        Panel.from_tables(features, labels, ["f1", "f2"])
    path = tmp_path / "features.parquet"
    features.write_parquet(path)
    with pytest.raises(StockcastError) as err:
        Panel.load(path, labels, ["f1", "f2"])
    assert str(err.value) == f"{path}: lacks feature 'f2'; rerun the features stage"


def test_load_fills_every_row_group_of_a_sorted_file_in_place(tmp_path):
    """Rule: each row group lands in its own rows, whatever its length (here 16, 16 and 1) and whether
    its first row has a label (rows 0 and 16 have none: they are left out and the rest shifts up)."""
    n = 33
    tickers, dates = ["AAA"] * 17 + ["BBB"] * 16, [*range(17), *range(16)]
    features, labels = _keyed(tickers, dates, np.arange(n, dtype=np.float64) + 0.5)
    labels = labels.filter(~pl.int_range(pl.len()).is_in([0, 16]))
    path = tmp_path / "features.parquet"
    features.write_parquet(path, row_group_size=16)
    metadata = pq.ParquetFile(path).metadata
    assert [metadata.row_group(g).num_rows for g in range(metadata.num_row_groups)] == [16, 16, 1]
    panel = Panel.load(path, labels, ["f1"])
    assert panel.x.dtype == np.float32
    np.testing.assert_array_equal(panel.x[:, 0], np.delete(np.arange(n) + 0.5, [0, 16]))
    assert panel.keys.select("ticker", "date").equals(labels.select("ticker", "date"))


def test_a_window_with_a_nan_in_the_first_row_of_the_panel_is_masked():
    """Rule: a NaN in row 0 masks every window that holds row 0 (the first window ending L - 1 rows in)."""
    ends = _panel(seq_nan_rows=(0,)).window_ends(4, "train")
    assert ends[0] == 4 and 3 not in ends


def test_the_finite_mask_covers_every_block():
    """Rule: finite_rows checks all rows, block after block, not only the first block."""
    panel = _panel(seq_nan_rows=(5, 9))
    expected = np.ones(len(panel.x), dtype=bool)
    expected[[5, 9]] = False
    np.testing.assert_array_equal(panel.finite_rows(block=2), expected)


def test_a_fold_has_its_own_segments_and_shares_the_rows():
    """Rule: with_segments changes only the segments: x, y, features and the finite mask are the
    parent's own objects (shared, not copied or recomputed), and windows follow the new segments."""
    panel = _panel(seq_nan_rows=(2,))
    fold = panel.with_segments(pl.Series(["val"] * 30 + ["train"] * 25))
    assert fold.keys["segment"].to_list() == ["val"] * 30 + ["train"] * 25
    assert fold.keys.drop("segment").equals(panel.keys.drop("segment"))
    assert fold.x is panel.x and fold.y is panel.y and fold.features is panel.features
    assert fold._finite is panel.finite_rows()
    np.testing.assert_array_equal(fold.window_ends(3, "val"), np.arange(5, 30))
    assert panel.keys["segment"][0] == "train"


def test_spill_moves_x_to_panel_f32_in_the_folder(tmp_path):
    """Rule: a spilled panel's rows live in <folder>/panel.f32 and read back unchanged."""
    panel = _panel()
    x = panel.x.copy()
    panel.spill(tmp_path)
    assert (tmp_path / "panel.f32").stat().st_size == x.nbytes
    np.testing.assert_array_equal(np.fromfile(tmp_path / "panel.f32", dtype=np.float32).reshape(x.shape), x)


def test_one_item_is_the_window_ending_at_its_row_and_that_row_label():
    """Rule: dataset[i] is (x of the L rows ending at ends[i], y of ends[i])."""
    panel = _panel()
    panel.y[:] = np.arange(len(panel.y))
    ds = WindowDataset(panel.x, panel.y, np.array([7, 40]), 3)
    xb, yb = ds[1]
    np.testing.assert_array_equal(xb.numpy(), panel.x[38:41])
    assert yb.item() == 40.0 and ds[0][1].item() == 7.0


def test_the_loader_shuffles_reproducibly_only_when_asked_and_follows_a_sampler():
    """Rule: shuffle=True gives a seeded, reproducible, non-identity order; shuffle=False keeps the
    order; a sampler decides the order instead of shuffle; pin_memory is passed through."""
    y = np.arange(64, dtype=np.float32)
    ds = WindowDataset(np.zeros((64, 1), np.float32), y, np.arange(64), 1)
    order = lambda dl: np.concatenate([yb.numpy() for _, yb in dl])
    first, again = order(loader(ds, 8, True, 3, False)), order(loader(ds, 8, True, 3, False))
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, y) and sorted(first) == list(y)
    np.testing.assert_array_equal(order(loader(ds, 8, False, 3, False)), y)
    picked = [5, 1, 60]
    np.testing.assert_array_equal(order(loader(ds, 8, True, 3, False, sampler=picked)), picked)
    np.testing.assert_array_equal(order(loader(ds, 8, False, 3, False, sampler=picked)), picked)
    assert loader(ds, 8, False, 3, True).pin_memory is True


def test_why_no_windows_finds_the_longest_finite_run_wherever_it_is():
    """Rule: the longest run of finite labelled rows is measured over every run: the one that starts at
    row 0, runs of every ticker, and NaN runs never count (a lone finite row is a run of 1)."""
    assert _panel().why_no_windows(20, "train").startswith(
        "its longest run of consecutive rows with finite features is 15 (AAA)")  # rows 0..14
    assert _panel(n=(10, 30)).why_no_windows(20, "val").startswith(
        "its longest run of consecutive rows with finite features is 15 (BBB)")  # rows 25..39
    lone = _panel(seq_nan_rows=[*range(15, 30), *range(42, 55, 2)])  # AAA val all NaN, BBB val every other row
    assert lone.why_no_windows(2, "val").startswith("its longest run of consecutive rows with finite features is 1 (BBB)")


def test_why_no_windows_names_the_three_worst_features_in_feature_order_on_ties(tmp_path):
    """Rule: the worst features are the three with the most NaN rows, ties in feature order, even
    when the panel is spilled to disk."""
    bad = [2, 2, 1, 1, 0, 0, 0, 0, 3, 2, 3, 2, 2, 3, 2, 2, 2, 2, 3, 1, 3, 2, 0, 1, 3, 2, 0, 3, 2, 3, 0, 0, 3, 0, 2,
           0, 1, 1, 1, 1, 0, 0, 0, 0, 2, 2, 2, 1, 2, 3, 1, 1, 3]  # a pattern numpy's quicksort reorders
    x = np.ones((3, len(bad)), dtype=np.float32)
    for j, count in enumerate(bad):
        x[:count, j] = np.nan
    keys = pl.DataFrame({"ticker": ["AAA"] * 3, "date": [1, 2, 3], "segment": ["val"] * 3})
    panel = Panel(keys, x, np.ones(3, np.float32), [f"f{j}" for j in range(len(bad))])
    panel.spill(tmp_path)
    assert panel.why_no_windows(2, "val").startswith(
        "every one of its 3 labelled rows has a NaN or infinite feature (f8 in 3, f10 in 3, f13 in 3 rows)")


def test_why_no_windows_counts_nan_over_the_first_100_000_labelled_rows():
    """Rule: the NaN counts per feature come from a sample of the first 100,000 labelled rows."""
    n = 100_001
    keys = pl.DataFrame({"ticker": ["AAA"] * n, "date": np.arange(n), "segment": ["val"] * n})
    panel = Panel(keys, np.full((n, 1), np.nan, np.float32), np.ones(n, np.float32), ["f1"])
    assert panel.why_no_windows(2, "val").startswith(
        "every one of its 100001 labelled rows has a NaN or infinite feature (f1 in 100000 rows)")


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
