"""Bootstrap intervals over problems, paired across rows: BCa (Efron and Tibshirani 14.3, 15.4), the algorithm
of `scipy.stats.bootstrap` written out for the one statistic we need, a mean.

Why not call scipy here: importing `scipy.stats` costs ~0.8 s, 10% of a small run, and every run writes
curves.csv. The numbers are scipy's: the same resamples (`Generator.integers(0, n, (B, n))`, as scipy draws
them), the same mid-rank bias correction, jackknife acceleration and linear quantiles;
tests/test_intervals.py checks equality with `scipy.stats.bootstrap` on random and degenerate inputs.

Every interval draws its resamples from a fresh generator seeded with the same `seed` (drawn once per seed and
problem count and reused, not redrawn for every row), so two rows over the same problems (in the same order: rows
are aligned by problem id) are resampled with the same problem indices: their intervals are paired, and the difference of two rows at one budget has its own paired interval
(`difference`). BCa is used where it is defined; where it is not (a jackknife with no spread, as with very few
problems) the percentile interval of the same resamples is reported, and a row whose values are all equal has
the zero-width interval at that value.
"""

from __future__ import annotations

import math
from functools import lru_cache
from statistics import NormalDist
from typing import Sequence

import numpy as np

N_RESAMPLES = 1000
_ALPHA = 0.025  # two-sided 95%


def _ndtri(p: float) -> float:
    return -math.inf if p <= 0 else math.inf if p >= 1 else NormalDist().inv_cdf(p)


def _ndtr(z: float) -> float:
    return 0.5 * math.erfc(-z / math.sqrt(2)) if not math.isnan(z) else math.nan


def _bca_levels(theta_hat: float, theta_b: np.ndarray, jack: np.ndarray) -> tuple[float, float]:
    """The quantile levels of the BCa interval (nan where it is undefined)."""
    z0 = _ndtri(float(np.count_nonzero(theta_b < theta_hat) + np.count_nonzero(theta_b <= theta_hat))
                / (2 * len(theta_b)))
    n = float(len(jack))
    u = (n - 1) * (jack.mean() - jack)
    den = float(np.sum(u ** 2) / n ** 2) ** 1.5
    if den == 0 or math.isinf(z0):
        return math.nan, math.nan
    a = float(np.sum(u ** 3) / n ** 3) / 6 / den
    z = _ndtri(_ALPHA)
    return tuple(_ndtr(z0 + (z0 + za) / (1 - a * (z0 + za))) for za in (z, -z))


@lru_cache(maxsize=8)
def _resamples(seed: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The problem indices of every resample (as scipy draws them) and the jackknife's mask (row i leaves out
    problem i), for n problems: the same for every row over n problems, so drawn once (read-only)."""
    idx = np.random.default_rng(seed).integers(0, n, (N_RESAMPLES, n))
    keep = ~np.eye(n, dtype=bool)
    idx.flags.writeable = keep.flags.writeable = False
    return idx, keep


def _bootstrap(columns: tuple[np.ndarray, ...], seed: int) -> tuple[float, float]:
    """BCa (else percentile) 95% interval of mean(columns[0]) - mean(columns[1]) (or of the mean of one
    column), the columns resampled together by problem."""
    n = len(columns[0])
    idx, keep = _resamples(seed, n)
    stat = (lambda *cs: np.mean(cs[0], axis=-1)) if len(columns) == 1 else (
        lambda u, v: np.mean(u, axis=-1) - np.mean(v, axis=-1))
    theta_b = stat(*(c[idx] for c in columns))
    jack = stat(*(np.broadcast_to(c, (n, n))[keep].reshape(n, n - 1) for c in columns))
    levels = _bca_levels(float(stat(*columns)), theta_b, jack)
    if any(math.isnan(q) for q in levels):
        levels = (_ALPHA, 1 - _ALPHA)
    low, high = np.quantile(theta_b, levels)
    return (float(low), float(high)) if np.isfinite(low) and np.isfinite(high) else (math.nan, math.nan)


def mean_interval(values: Sequence[float], seed: int = 0) -> tuple[float, float]:
    """95% interval of the mean of per-problem values."""
    x = np.asarray(values, dtype=float)
    if len(x) == 0:
        return float("nan"), float("nan")
    if np.all(x == x[0]):
        return float(x[0]), float(x[0])
    return _bootstrap((x,), seed)


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
    low, high = _bootstrap((x, y), seed)
    return float(d.mean()), low, high
