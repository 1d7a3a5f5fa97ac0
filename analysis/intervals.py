"""Bootstrap intervals over problems, paired across rows, computed by `scipy.stats.bootstrap` (BCa).

Every interval draws its resamples from a fresh generator seeded with the same `seed`, so two rows over the
same problems (in the same order: rows are aligned by problem id) are resampled with the same problem indices:
their intervals are paired, and the difference of two rows at one budget has its own paired interval
(`difference`). BCa is used where it is defined; where it is not (a jackknife with no spread, as with very few
problems) the percentile interval of the same resamples is
reported, and a row whose values are all equal has the zero-width interval at that value.
"""

from __future__ import annotations

import warnings
from typing import Sequence

import numpy as np
from scipy import stats

N_RESAMPLES = 1000


def _bootstrap(data: tuple[np.ndarray, ...], statistic, seed: int, paired: bool) -> tuple[float, float]:
    for method in ("BCa", "percentile"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = stats.bootstrap(data, statistic, n_resamples=N_RESAMPLES, confidence_level=0.95, method=method,
                                  paired=paired, vectorized=True, random_state=np.random.default_rng(seed))
        low, high = float(res.confidence_interval.low), float(res.confidence_interval.high)
        if np.isfinite(low) and np.isfinite(high):
            return low, high
    return float("nan"), float("nan")


def mean_interval(values: Sequence[float], seed: int = 0) -> tuple[float, float]:
    """95% interval of the mean of per-problem values."""
    x = np.asarray(values, dtype=float)
    if len(x) == 0:
        return float("nan"), float("nan")
    if np.all(x == x[0]):
        return float(x[0]), float(x[0])
    return _bootstrap((x,), lambda v, axis=-1: np.mean(v, axis=axis), seed, paired=False)


def difference(a: Sequence[float], b: Sequence[float], seed: int = 0) -> tuple[float, float, float]:
    """Mean of a - b over the same problems (aligned), and its paired 95% interval."""
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if len(x) != len(y):
        raise ValueError(f"difference: {len(x)} and {len(y)} problems; rows must cover the same problems")
    d = x - y
    if len(d) == 0:
        return float("nan"), float("nan"), float("nan")
    if np.all(d == d[0]):
        return float(d[0]), float(d[0]), float(d[0])
    low, high = _bootstrap((x, y), lambda u, v, axis=-1: np.mean(u, axis=axis) - np.mean(v, axis=axis), seed,
                           paired=True)
    return float(d.mean()), low, high
