import json
import warnings

import numpy as np
import polars as pl
import pytest

from stockcast.data.synthetic import generate
from stockcast.errors import StockcastError
from stockcast.labels import make_labels
from stockcast.normalize import (
    CrossSectionalRank,
    RobustZScore,
    ZScore,
    fit_normalizer,
    normalizer_from_dict,
    normalizer_to_dict,
)
from stockcast.segments import assign_segments

from .stages import project, run_stage

FEATURES = ["a", "b", "c"]


def _segments(seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(0, 1, (500, 3)).astype(np.float32), rng.normal(100, 9, (500, 3)).astype(np.float32)


@pytest.mark.parametrize("kind", ["zscore", "robust"])
def test_statistics_come_from_the_training_segment_only(kind):
    train, test = _segments()
    both = np.concatenate([train, test])
    norm = fit_normalizer(kind, both, np.arange(len(train)), FEATURES)
    expected = np.mean(train, axis=0) if kind == "zscore" else np.median(train, axis=0)
    np.testing.assert_allclose(norm.center, expected, rtol=1e-4, atol=1e-5)
    shifted = norm.transform(test.copy())
    assert np.all(np.abs(shifted.mean(axis=0)) > 4), "a shifted test segment must stay visibly shifted"


def test_robust_zscore_scales_by_mad_and_clips_outliers():
    train = np.array([[1.0], [2.0], [3.0], [4.0], [1000.0]], dtype=np.float32)
    norm = RobustZScore.fit(train, np.arange(5), ["a"], clip=5.0)
    assert norm.center == [3.0] and norm.scale == [pytest.approx(1.4826)]
    out = norm.transform(np.array([[1000.0], [3.0], [np.nan]], dtype=np.float32))
    assert out[0, 0] == 5.0 and out[1, 0] == 0.0 and np.isnan(out[2, 0])


def test_zscore_keeps_warm_up_nan_and_survives_a_constant_feature():
    train = np.array([[1.0, 5.0], [3.0, 5.0], [np.nan, 5.0]], dtype=np.float32)
    norm = ZScore.fit(train, np.arange(3), ["a", "b"])
    out = norm.transform(train.copy())
    np.testing.assert_allclose(out[:2, 0], [-1, 1])
    assert np.isnan(out[2, 0]) and np.all(out[:, 1] == 0)


def test_rank_is_computed_within_each_date():
    x = np.array([[10.0], [20.0], [30.0], [-5.0], [np.nan], [7.0]], dtype=np.float32)
    dates = np.array([1, 1, 1, 2, 2, 3])
    out = CrossSectionalRank(["a"]).transform(x, dates)
    np.testing.assert_allclose(out[:4, 0], [-1, 0, 1, 0])  # date 2 has one valid value
    assert np.isnan(out[4, 0]) and out[5, 0] == 0


@pytest.mark.parametrize("kind", ["zscore", "robust", "rank"])
def test_a_saved_normaliser_transforms_exactly_as_the_fitted_one(kind):
    train, test = _segments(1)
    norm = fit_normalizer(kind, train, np.arange(len(train)), FEATURES)
    dates = np.repeat(np.arange(100), 5)
    again = normalizer_from_dict(normalizer_to_dict(norm))
    np.testing.assert_array_equal(norm.transform(test.copy(), dates), again.transform(test.copy(), dates))


def test_unknown_kind_is_a_clear_error():
    with pytest.raises(StockcastError, match="known: zscore, robust, rank"):
        normalizer_from_dict({"kind": "minmax"})


def test_block_statistics_equal_numpy_on_the_training_rows(monkeypatch):
    """The fit reads row blocks and feature groups; small blocks make every boundary count."""
    from stockcast import normalize
    monkeypatch.setattr(normalize, "BLOCK_ROWS", 7)
    monkeypatch.setattr(normalize, "MEDIAN_FEATURES", 2)
    rng = np.random.default_rng(3)
    x = rng.normal(50, 10, (101, 5)).astype(np.float32)
    x[rng.random(x.shape) < 0.2] = np.nan
    x[:, 4] = np.nan  # a feature with no value at all in training
    rows = np.sort(rng.choice(101, 60, replace=False))
    train = x[rows].astype(np.float64)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # numpy warns of the all-NaN feature
        mean, std, median = np.nanmean(train, axis=0), np.nanstd(train, axis=0), np.nanmedian(train, axis=0)
        mad = np.nanmedian(np.abs(train - median), axis=0)
    z, r = ZScore.fit(x, rows, list("abcde")), RobustZScore.fit(x, rows, list("abcde"))
    np.testing.assert_allclose(z.center, np.nan_to_num(mean), rtol=1e-12)
    np.testing.assert_allclose(z.scale[:4], std[:4], rtol=1e-12)
    np.testing.assert_allclose(r.center, np.nan_to_num(median), rtol=0)
    np.testing.assert_allclose(np.array(r.scale[:4]) / 1.4826, mad[:4], rtol=1e-12)
    assert z.scale[4] == r.scale[4] == 1.0


@pytest.mark.parametrize("cls", [ZScore, RobustZScore])
def test_transform_divides_by_the_scale_in_float32(cls):
    """Rule: x -> (x - center) / scale in float32, with center and scale rounded to float32 as the
    panel is: a value equal to the center maps to exactly 0, and every result is the float32 one."""
    rng = np.random.default_rng(5)
    center, scale = [0.1, -3.3], [4.0, 0.7]
    norm = cls(["a", "b"], center, scale, **({"clip": 1e9} if cls is RobustZScore else {}))
    x = (rng.normal(0, 3, (200, 2))).astype(np.float32)
    x[0] = np.float32(center)
    expected = (x - np.float32(center)) / np.float32(scale)
    out = norm.transform(x.copy())
    assert out.dtype == np.float32 and np.all(out[0] == 0)
    np.testing.assert_array_equal(out, expected)
    assert norm.transform(np.array([[8.1, -3.3]], np.float32))[0, 0] == pytest.approx(2.0)


def test_robust_clips_both_tails_at_its_clip_which_fit_keeps():
    """Rule: robust outputs lie in [-clip, clip] on both sides; fit keeps the clip it is given and
    defaults to 5 (fit_normalizer's robust normaliser clips at 5)."""
    train = np.array([[1.0], [2.0], [3.0], [4.0], [1000.0]], dtype=np.float32)
    assert RobustZScore.fit(train, np.arange(5), ["a"], clip=2.0).clip == 2.0
    norm = fit_normalizer("robust", train, np.arange(5), ["a"])
    assert norm.clip == 5.0
    out = norm.transform(np.array([[-1000.0], [1000.0], [3.0 - 1.4826]], np.float32))
    np.testing.assert_allclose(out[:, 0], [-5.0, 5.0, -1.0], rtol=1e-6)


def test_a_feature_with_no_training_value_does_not_stop_the_ones_after_it(monkeypatch):
    """Rule: an all-NaN feature gets center 0 and scale 1 and the features after it in the same
    median pass still get their own statistics; no RuntimeWarning is raised for it."""
    from stockcast import normalize
    monkeypatch.setattr(normalize, "MEDIAN_FEATURES", 3)
    x = np.array([[np.nan, 1.0, 10.0], [np.nan, 3.0, 30.0], [np.nan, 5.0, 20.0]], dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        robust, z = RobustZScore.fit(x, np.arange(3), FEATURES), ZScore.fit(x, np.arange(3), FEATURES)
    assert robust.center == [0.0, 3.0, 20.0] and robust.scale == [1.0, pytest.approx(2 * 1.4826),
                                                                 pytest.approx(10 * 1.4826)]
    assert z.center == [0.0, 3.0, 20.0] and z.scale[0] == 1.0


def test_rank_of_two_tickers_is_minus_one_and_one_and_fit_keeps_the_features():
    """Rule: on a date with two values the lower ranks -1 and the higher 1 (only a lone value gets 0);
    the rank normaliser records its features."""
    norm = fit_normalizer("rank", np.zeros((2, 3), np.float32), np.arange(2), FEATURES)
    assert norm.features == FEATURES and normalizer_from_dict(normalizer_to_dict(norm)).features == FEATURES
    out = CrossSectionalRank(["a"]).transform(np.array([[5.0], [2.0]], np.float32), np.array([1, 1]))
    np.testing.assert_array_equal(out[:, 0], [1.0, -1.0])


def _train_stage_project(folder, kind: str):
    """A project folder holding what the train stage reads (features, manifest, labels, boundaries) for
    3 tickers x 200 sessions, whose val, test and embargo rows are shifted by 1000, 2000 and 500: any of
    their rows entering the statistics moves them far from the training rows' own."""
    bars = generate("null", 3, 200, seed=2)[0]
    labels, _ = assign_segments(make_labels(bars, 1), 0.6, 0.2, embargo_days=5)
    rng = np.random.default_rng(3)
    offset = pl.col("segment").replace_strict({"train": 0.0, "val": 1000.0, "test": 2000.0, "embargo": 500.0})
    table = labels.select("ticker", "date", offset.alias("offset")).with_columns(
        (pl.Series(rng.normal(m, s, labels.height)) + pl.col("offset")).alias(name)
        for name, m, s in (("a", 1.0, 2.0), ("b", -3.0, 0.5), ("c", 0.0, 10.0)))
    table = table.with_columns(b=pl.when(pl.int_range(pl.len()) % 11 == 0).then(None).otherwise("b"))  # warm-up holes
    project(folder, {"train": {"model": "logreg", "normalize": kind, "seq_len": 3, "epochs": 1, "device": "cpu",
                               "resume": False}})
    (folder / "data" / "features").mkdir(parents=True)
    (folder / "data" / "splits").mkdir(parents=True)
    table.drop("offset").write_parquet(folder / "data" / "features" / "features.parquet")
    (folder / "data" / "features" / "manifest.json").write_text(json.dumps({"features": [{"name": n} for n in "abc"]}))
    labels.write_parquet(folder / "data" / "splits" / "labels.parquet")
    (folder / "data" / "splits" / "boundaries.json").write_text(json.dumps({"n_classes": 2}))
    return table.join(labels.select("ticker", "date", "segment"), on=["ticker", "date"]).filter(
        pl.col("segment") == "train")


@pytest.mark.parametrize("kind", ["zscore", "robust"])
def test_the_train_stage_fits_its_normaliser_on_train_rows_only(kind, tmp_path):
    """Rule (leakage): the normaliser the train stage saves has the statistics of the training
    segment's rows and of nothing else, checked by running stages/train.py itself."""
    train = _train_stage_project(tmp_path, kind)
    run_stage(tmp_path, "train")
    saved = json.loads((tmp_path / "models" / "logreg" / "model" / "normalizer.json").read_text())
    x = train.select("a", "b", "c").cast(pl.Float32).to_numpy().astype(np.float64)
    if kind == "zscore":
        center, scale = np.nanmean(x, axis=0), np.nanstd(x, axis=0)
    else:
        center = np.nanmedian(x, axis=0)
        scale = np.nanmedian(np.abs(x - center), axis=0) * 1.4826
    assert saved["kind"] == kind and saved["features"] == ["a", "b", "c"]
    np.testing.assert_allclose(saved["center"], center, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(saved["scale"], scale, rtol=1e-6)
