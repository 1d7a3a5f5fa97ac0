"""Exact accuracy-at-budget estimators from one pool of N samples (no prefixes, no reruns).

For a problem with a pool of N candidates, "accuracy at budget k" is the expectation over a uniformly
random k-subset of the pool of whether the rule applied to that subset is right:
- pass@k (unbiased, Chen et al. 2021):  1 - C(N-c, k) / C(N, k), with c right candidates.
- G-Pass@k_tau (Liu et al. 2024): sum_{j >= ceil(tau k)} C(c, j) C(N-c, k-j) / C(N, k), stable correctness.
- best-of-k by a score (verifier argmax, model probability), ranks r = 0..N-1 by (score, tie key) desc:
      sum_r right_r * C(N-1-r, k-1) / C(N, k)       (rank r is the subset's best iff it is drawn and
                                                      the other k-1 come from the N-1-r below it)
- majority@k with seeded tie-break, exactly: for each right answer a and count m >= 1 of it in the subset,
      C(c_a, m) * [z^(k-m)] prod_{b != a} sum_{x <= t_b} C(c_b, x) z^x  / C(N, k),
  with t_b = m if a beats b on ties (higher answer key) else m-1; abstentions (no answer) are unbounded.
- weighted vote@k: exact by enumeration when C(N, k) is small, else seeded resampling with its standard error.
"""

from __future__ import annotations

import itertools
import random
from collections import Counter
import math
from math import comb, sqrt
from typing import Callable, Sequence


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
    return sum(comb(n - 1 - r, k - 1) for r, ok in enumerate(right_by_rank) if ok) / comb(n, k)


def majority_at_k(answers: Sequence[str | None], right: Callable[[str], bool],
                  key: Callable[[str], float], k: int) -> float:
    """Exact expected rightness of a majority vote over a random k-subset (None answers abstain)."""
    n = len(answers)
    counts = Counter(a for a in answers if a is not None)
    abstain = sum(1 for a in answers if a is None)
    total = 0
    for a, ca in counts.items():
        if not right(a):
            continue
        others = [(cb, key(b)) for b, cb in counts.items() if b != a]
        ka = key(a)
        for m in range(1, min(ca, k) + 1):
            poly = [comb(abstain, x) for x in range(min(abstain, k - m) + 1)]
            for cb, kb in others:
                cap = min(cb, m if ka > kb else m - 1)
                poly = _times(poly, [comb(cb, x) for x in range(cap + 1)], k - m)
            if k - m < len(poly):
                total += comb(ca, m) * poly[k - m]
    return total / comb(n, k)


def _times(p: list[int], q: list[int], degree: int) -> list[int]:
    out = [0] * min(len(p) + len(q) - 1, degree + 1)
    for i, x in enumerate(p):
        if x and i <= degree:
            for j, y in enumerate(q[: degree - i + 1]):
                out[i + j] += x * y
    return out


def subset_rate(rule: Callable[[Sequence[int]], bool], n: int, k: int, draws: int, seed: int,
                exact_limit: int = 5000) -> tuple[float, float]:
    """Mean of `rule(subset)` over k-subsets of range(n): every subset when there are at most
    `exact_limit` (standard error 0), else `draws` seeded uniform subsets (with their standard error)."""
    if comb(n, k) <= exact_limit:
        vals = [float(rule(s)) for s in itertools.combinations(range(n), k)]
        return sum(vals) / len(vals), 0.0
    rng = random.Random(seed)
    vals = [float(rule(sorted(rng.sample(range(n), k)))) for _ in range(draws)]
    mean = sum(vals) / draws
    var = sum((v - mean) ** 2 for v in vals) / max(draws - 1, 1)
    return mean, sqrt(var / draws)
