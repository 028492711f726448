import numpy as np
import pytest

from stockcast.errors import StockcastError
from stockcast.normalize import (CrossSectionalRank, RobustZScore, ZScore, fit_normalizer, normalizer_from_dict,
                                 normalizer_to_dict)

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
    import stockcast.normalize as normalize
    monkeypatch.setattr(normalize, "BLOCK_ROWS", 7)
    monkeypatch.setattr(normalize, "MEDIAN_FEATURES", 2)
    rng = np.random.default_rng(3)
    x = rng.normal(50, 10, (101, 5)).astype(np.float32)
    x[rng.random(x.shape) < 0.2] = np.nan
    x[:, 4] = np.nan  # a feature with no value at all in training
    rows = np.sort(rng.choice(101, 60, replace=False))
    train = x[rows].astype(np.float64)
    with np.errstate(all="ignore"), pytest.warns(RuntimeWarning):
        mean, std, median = np.nanmean(train, axis=0), np.nanstd(train, axis=0), np.nanmedian(train, axis=0)
        mad = np.nanmedian(np.abs(train - median), axis=0)
    z, r = ZScore.fit(x, rows, list("abcde")), RobustZScore.fit(x, rows, list("abcde"))
    np.testing.assert_allclose(z.center, np.nan_to_num(mean), rtol=1e-12)
    np.testing.assert_allclose(z.scale[:4], std[:4], rtol=1e-12)
    np.testing.assert_allclose(r.center, np.nan_to_num(median), rtol=0)
    np.testing.assert_allclose(np.array(r.scale[:4]) / 1.4826, mad[:4], rtol=1e-12)
    assert z.scale[4] == r.scale[4] == 1.0
