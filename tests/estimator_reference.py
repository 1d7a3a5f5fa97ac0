"""The big-integer estimators the floating-point ones replaced (ttc.analysis.estimators): exact rationals,
slow at large pools (N = 1,024: 16-30 s a problem), kept to check the fast ones against."""

from collections import Counter
from math import comb
from typing import Callable, Sequence


def best_of_k(right_by_rank: Sequence[bool], k: int) -> float:
    """Expected rightness of the top-ranked member of a random k-subset; index 0 is the best rank."""
    n = len(right_by_rank)
    return sum(comb(n - 1 - r, k - 1) for r, ok in enumerate(right_by_rank) if ok) / comb(n, k)


def majority_at_k(answers: Sequence[str | None], right: Callable[[str], bool],
                  key: Callable[[str], float], k: int) -> float:
    """For each right answer a and count m of it in the subset:
    C(c_a, m) * [z^(k-m)] prod_{b != a} sum_{x <= t_b} C(c_b, x) z^x / C(N, k)."""
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
