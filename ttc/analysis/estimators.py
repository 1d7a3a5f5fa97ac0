"""Exact accuracy-at-budget estimators from one pool of N samples (no prefixes, no reruns).

For a problem with a pool of N candidates, "accuracy at budget k" is the expectation over a uniformly
random k-subset of the pool of whether the rule applied to that subset is right:
- pass@k (unbiased, Chen et al. 2021):  1 - C(N-c, k) / C(N, k), with c right candidates.
- G-Pass@k_tau (Liu et al. 2024): sum_{j >= ceil(tau k)} C(c, j) C(N-c, k-j) / C(N, k), stable correctness.
- best-of-k by a score (verifier argmax, model probability), ranks r = 0..N-1 by (score, tie key) desc:
      sum_r right_r * C(N-1-r, k-1) / C(N, k)       (rank r is the subset's best iff it is drawn and
                                                      the other k-1 come from the N-1-r below it)
  with the weights as one running product (w_0 = k/N, w_{r+1} = w_r (N-r-k)/(N-1-r)): no big integers.
- majority@k with seeded tie-break, exactly: answer a wins a subset holding m of its c_a copies iff every other
  answer b has at most t_b of its copies there (t_b = m if a beats b on ties, a higher answer key, else m-1;
  abstentions are unbounded). A uniform k-subset is each candidate drawn independently with p = k/N, given that
  k are drawn, so
      majority@k = sum_{right a} sum_m Bin(c_a, p)(m) * P(others sum to k-m, each X_b <= t_b) / Bin(N, p)(k),
  with X_b ~ Bin(c_b, p) independent: every term a probability in [0, 1], so floating point neither overflows
  nor cancels at N = 10,000 (the big-integer polynomial products this replaces took 16-30 s at N = 1,024).
  The answers whose bound cannot bind (c_b <= t_b) sum into one binomial; the others are convolved, truncated.
  Terms and truncations of probability below NEGLIGIBLE (1e-17) are dropped: the result is within ~1e-11 of
  the exact rational value (tests/estimator_reference.py keeps the big-integer versions to check against);
  where C(N, k) <= 2^40 the count of winning subsets is recovered whole, so the value is the exact ratio,
  rounded once, bit for bit what the big-integer version gave (best-of-k likewise).
- weighted vote@k: exact by enumeration when C(N, k) is small, else seeded resampling with its standard error.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from math import comb, sqrt
from typing import Callable, Sequence

import numpy as np

NEGLIGIBLE = 1e-17  # a term or a bound of less probability is dropped (see majority@k above)
SNAP_LIMIT = 2**40  # up to this many k-subsets, a result is the exact count over C(N, k) (see _snapped)


def pass_at_k(n: int, c: int, k: int) -> float:
    """P(at least one right among k drawn without replacement from n with c right)."""
    if n - c < k:
        return 1.0
    return 1.0 - comb(n - c, k) / comb(n, k)


def g_pass_at_k(n: int, c: int, k: int, tau: float) -> float:
    """G-Pass@k_tau (Liu et al. 2024): P(at least ceil(tau k) of k samples drawn without replacement from n,
    c of them right, are right); tau -> 0 is pass@k, tau = 1 all k right."""
    need = max(1, math.ceil(tau * k - 1e-9))
    return sum(comb(c, j) * comb(n - c, k - j) for j in range(need, min(c, k) + 1)) / comb(n, k)


def best_of_k(right_by_rank: Sequence[bool], k: int) -> float:
    """Expected rightness of the top-ranked member of a random k-subset; index 0 is the best rank."""
    n = len(right_by_rank)
    r = np.arange(n - k, dtype=float)
    weights = (k / n) * np.concatenate(([1.0], np.cumprod((n - r - k) / (n - 1 - r))))
    return _snapped(float(weights @ np.asarray(right_by_rank[: n - k + 1], dtype=float)), n, k)


def majority_at_k(answers: Sequence[str | None], right: Callable[[str], bool],
                  key: Callable[[str], float], k: int) -> float:
    """Exact expected rightness of a majority vote over a random k-subset (None answers abstain)."""
    n = len(answers)
    counts = Counter(a for a in answers if a is not None)
    draws = _Binomials(k / n)
    total = 0.0
    for a, ca in counts.items():
        if right(a):
            ka = key(a)
            others = [(cb, ka > key(b)) for b, cb in counts.items() if b != a]
            total += _wins(draws, ca, others, n - sum(counts.values()), k)
    return _snapped(float(total / draws.pmf(n)[k]), n, k)


def _snapped(value: float, n: int, k: int) -> float:
    """`value`, a count of winning k-subsets over C(n, k), as that exact ratio (correctly rounded) where C(n, k)
    is at most SNAP_LIMIT: the count is then recovered whole (its error is below 0.01 of a subset)."""
    subsets = comb(n, k)
    return round(value * subsets) / subsets if subsets <= SNAP_LIMIT else value


class _Binomials:
    """Binomial(c, p) probabilities of how many of c candidates are drawn, per c, computed once."""

    def __init__(self, p: float) -> None:
        self.p, self._pmf, self._above = p, {}, {}

    def pmf(self, c: int) -> np.ndarray:
        if c not in self._pmf:
            self._pmf[c] = binomial_pmf(c, self.p)
        return self._pmf[c]

    def at(self, c: int, x: np.ndarray) -> np.ndarray:
        """P(x of c drawn) at each x (0 outside 0..c)."""
        pmf = self.pmf(c)
        inside = (x >= 0) & (x <= c)
        return np.where(inside, pmf[np.clip(x, 0, c)], 0.0)

    def binds(self, c: int, t: int) -> bool:
        """Whether "at most t of c drawn" is a bound with any probability against it: P(X > t), read off the
        upper tails of c, summed once (this is asked for every rival at every count of the right answer)."""
        if c not in self._above:
            self._above[c] = np.cumsum(self.pmf(c)[::-1])[::-1]  # [x]: P(X >= x)
        return c > t and self._above[c][t + 1] >= NEGLIGIBLE


def binomial_pmf(c: int, p: float) -> np.ndarray:
    """P(X = x) for x = 0..c, X ~ Binomial(c, p): from the mode outward by the ratio of neighbours, then
    normalised (within ~1e-15 of scipy.stats.binom.pmf, whose import would cost every run ~0.8 s)."""
    if p >= 1.0:
        return np.eye(1, c + 1, c)[0]
    x = np.arange(c, dtype=float)
    ratio = (c - x) / (x + 1) * (p / (1 - p))  # P(x + 1) / P(x)
    mode = min(int((c + 1) * p), c)
    out = np.empty(c + 1)
    out[mode] = 1.0
    out[mode + 1:] = np.cumprod(ratio[mode:])
    out[:mode] = np.cumprod(1.0 / ratio[:mode][::-1])[::-1]
    return out / out.sum()


def _wins(draws: _Binomials, ca: int, others: list[tuple[int, bool]], abstain: int, k: int) -> float:
    """P(answer a, c_a copies, wins and k are drawn), each candidate drawn independently (see the docstring)."""
    total = 0.0
    for m, pm in enumerate(draws.pmf(ca)[: k + 1]):
        if m == 0 or pm < NEGLIGIBLE:
            continue
        free, joint = abstain, np.ones(1)
        for cb, wins_tie in others:
            t = m if wins_tie else m - 1
            if draws.binds(cb, t):
                joint = np.convolve(joint, draws.pmf(cb)[: t + 1])[: k - m + 1]
            else:
                free += cb
        rest = k - m - np.arange(len(joint))
        total += pm * float(joint @ draws.at(free, rest))
    return total


def subset_rate(rule: Callable[[Sequence[int]], bool], n: int, k: int, draws: int, seed: int,
                exact_limit: int = 5000) -> tuple[float, float]:
    """Mean of `rule(subset)` over k-subsets of range(n): every subset when there are at most
    `exact_limit` (standard error 0), else `draws` seeded uniform subsets (with their standard error)."""
    return Draws(n, draws, seed, exact_limit).rate(rule, k)


class Draws:
    """The k-subsets of range(n) a series' rate is read on at each budget k, one sorted row each: all of them when
    there are at most `exact_limit` (exact), else `count` seeded uniform ones. Draw i is a seeded random
    permutation of range(n) and its k-subset is the permutation's first k members: a uniform k-subset for every
    k, so one shuffle (count x n, numpy's Generator.permuted) serves every budget of the series, which share
    their draws (common random numbers: each budget's standard error holds as it is). The rows come out sorted
    by reading a membership mask, extended column by column as k grows, in index order (np.flatnonzero): no sort.
    Before: the k smallest of n fresh uniforms per budget (argpartition), 14 shuffles' worth of work at
    N = 10,000."""

    def __init__(self, n: int, count: int, seed: int, exact_limit: int = 5000) -> None:
        self.n, self.count, self.seed, self.exact_limit = n, count, seed, exact_limit
        self._order: np.ndarray | None = None
        self._mask: np.ndarray | None = None
        self._filled = 0

    def rate(self, rule: Callable[[Sequence[int]], bool], k: int) -> tuple[float, float]:
        """Mean of `rule(subset)` over the k-subsets (`subset_rate`), with its standard error where drawn."""
        subsets, exact = self.subsets(k)
        return _rate([float(rule(s)) for s in subsets.tolist()], exact)

    def subsets(self, k: int) -> tuple[np.ndarray, bool]:
        """(the k-subsets, sorted rows; whether they are every k-subset)."""
        if comb(self.n, k) <= self.exact_limit:
            return np.array(list(itertools.combinations(range(self.n), k)), dtype=np.int64).reshape(-1, k), True
        if self._order is None:
            base = np.broadcast_to(np.arange(self.n, dtype=np.int32), (self.count, self.n))
            self._order = np.random.default_rng(self.seed).permuted(base, axis=1)
        if self._mask is None or k < self._filled:
            self._mask, self._filled = np.zeros((self.count, self.n), dtype=bool), 0
        starts = np.arange(self.count)[:, None] * self.n  # where each draw's row begins in the flat mask
        self._mask.reshape(-1)[starts + self._order[:, self._filled:k]] = True
        self._filled = k
        return np.flatnonzero(self._mask).reshape(self.count, k) - starts, False


def _rate(vals: list[float], exact: bool) -> tuple[float, float]:
    """The mean of per-subset outcomes, and its standard error when the subsets were drawn."""
    if exact:
        return sum(vals) / len(vals), 0.0
    draws = len(vals)
    mean = sum(vals) / draws
    var = sum((v - mean) ** 2 for v in vals) / max(draws - 1, 1)
    return mean, sqrt(var / draws)


def weighted_vote_rate(answers: Sequence[str | None], scores: Sequence[float], right_answers: set[str],
                       key: Callable[[str], float], k: int, drawn: Draws) -> tuple[float, float]:
    """subset_rate of "the score-weighted vote (ttc.contracts.rules.vote) of a k-subset is right", every subset
    voted at once: per-answer totals by np.bincount, which adds a subset's scores in the order the vote does;
    the subsets are `drawn`'s (the series' Draws over the pool)."""
    subsets, exact = drawn.subsets(k)
    names = sorted({a for a in answers if a is not None}, key=key)  # column j: the j-th lowest answer key
    if not names:
        return _rate([0.0] * len(subsets), exact)
    column = {a: j for j, a in enumerate(names)}
    ids = np.array([-1 if a is None else column[a] for a in answers])[subsets]
    weights = np.asarray(scores, dtype=float)[subsets]
    rows, width = len(subsets), len(names)
    voted = ids >= 0
    cells = (np.arange(rows)[:, None] * width + ids)[voted]
    totals = np.bincount(cells, weights=weights[voted], minlength=rows * width).reshape(rows, width)
    present = np.bincount(cells, minlength=rows * width).reshape(rows, width) > 0
    totals = np.where(present, totals, -np.inf)
    tied = present & (totals == totals.max(axis=1, keepdims=True))
    winner = width - 1 - np.argmax(tied[:, ::-1], axis=1)  # the highest key among the largest totals
    right = np.array([a in right_answers for a in names])
    return _rate([float(w) for w in present.any(axis=1) & right[winner]], exact)
