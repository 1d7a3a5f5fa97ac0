"""The hand-written BCa intervals (ttc.analysis.intervals) equal scipy.stats.bootstrap's, resample for
resample: one-sample means and paired differences, binary and fractional per-problem values, and the
degenerate inputs where BCa is undefined and the percentile interval stands in."""

import warnings

import numpy as np
import pytest
from scipy import stats

from ttc.analysis.intervals import N_RESAMPLES, difference, mean_interval


def _scipy(data, statistic, seed, paired):
    for method in ("BCa", "percentile"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = stats.bootstrap(data, statistic, n_resamples=N_RESAMPLES, confidence_level=0.95, method=method,
                                  paired=paired, vectorized=True, rng=np.random.default_rng(seed))
        low, high = float(res.confidence_interval.low), float(res.confidence_interval.high)
        if np.isfinite(low) and np.isfinite(high):
            return low, high
    return float("nan"), float("nan")


def _cases():
    rng = np.random.default_rng(7)
    for t in range(60):
        n = int(rng.integers(2, 50))
        kind = ("binary", "fraction", "rare")[t % 3]
        x = {"binary": rng.integers(0, 2, n), "fraction": rng.random(n), "rare": rng.random(n) < 0.05}[kind]
        yield n, kind, x.astype(float), rng.integers(0, 2, n).astype(float), t


@pytest.mark.parametrize("n, kind, x, y, seed", list(_cases()))
def test_intervals_equal_scipy_bootstrap(n, kind, x, y, seed):
    want = (x[0], x[0]) if np.all(x == x[0]) else _scipy((x,), lambda v, axis=-1: np.mean(v, axis=axis), seed, False)
    assert mean_interval(x, seed) == pytest.approx(want, abs=1e-12, nan_ok=True)
    d = x - y
    want = (d[0], d[0]) if np.all(d == d[0]) else _scipy(
        (x, y), lambda u, v, axis=-1: np.mean(u, axis=axis) - np.mean(v, axis=axis), seed, True)
    mean, low, high = difference(x, y, seed)
    assert mean == pytest.approx(d.mean()) and (low, high) == pytest.approx(want, abs=1e-12, nan_ok=True)


def test_bca_differs_from_percentile_where_the_data_are_skewed():
    x = np.array([1.0] * 3 + [0.0] * 37)  # 3 of 40 solved: BCa shifts the interval right of the percentile one
    low, high = mean_interval(x, 0)
    idx = np.random.default_rng(0).integers(0, 40, (N_RESAMPLES, 40))
    plow, phigh = np.quantile(x[idx].mean(-1), [0.025, 0.975])
    assert (low, high) != pytest.approx((plow, phigh)) and low <= x.mean() <= high
