"""Majority@k and best-of-k at research pool sizes: the floating-point estimators against the big-integer ones.

    python bench/bench_estimators.py [--repeats 3] [--reference-up-to 1024]

One problem's pool of N answers (D distinct with Zipf-like or flat counts, 5% abstaining; the right answer the
most common one, or the one ranked D/4 by count), every power-of-two budget and N itself.
Prints the median seconds per problem of the estimators in ttc.analysis.estimators and, up to
--reference-up-to, of the big-integer versions they replaced (tests/estimator_reference.py), interleaved in
each repeat, with their ratio and the largest difference between the two. One core: run it with
OMP_NUM_THREADS=1.
"""

from __future__ import annotations

import argparse
import random
import statistics
from collections import Counter
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from estimator_reference import best_of_k as ref_best, majority_at_k as ref_majority  # noqa: E402
from ttc.analysis import estimators as est  # noqa: E402
from ttc.contracts.rules import answer_key  # noqa: E402

SIZES = [(256, 75, 1.1), (1024, 300, 1.1), (1024, 300, 0.0), (10_000, 300, 1.1), (10_000, 30, 0.0), (10_000, 300, 0.0)]


def pool(n: int, distinct: int, zipf: float, seed: int) -> list[str | None]:
    rng = random.Random(seed)
    weights = [1.0 / (i + 1) ** zipf for i in range(distinct)]
    names = [str(i) for i in range(distinct)]
    return [None if rng.random() < 0.05 else rng.choices(names, weights)[0] for _ in range(n)]


def curves(fns, answers: list[str | None], right: str) -> tuple[float, list[float]]:
    """Seconds for every budget of one problem, and the values."""
    majority, best = fns
    n = len(answers)
    ranks = [a == right for a in answers]
    budgets = sorted({2 ** i for i in range(n.bit_length()) if 2 ** i < n} | {n})
    start = time.perf_counter()
    values = [majority(answers, right.__eq__, lambda a: answer_key(0, "p", a), k) for k in budgets]
    values += [best(ranks, k) for k in budgets]
    return time.perf_counter() - start, values


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--reference-up-to", type=int, default=1024)
    args = parser.parse_args()
    print(f"{'N':>6} {'D':>4} {'zipf':>4} {'right':>9} {'float s':>8} {'bigint s':>9} {'ratio':>7} {'max diff':>9}")
    for n, distinct, zipf in SIZES:
        answers = pool(n, distinct, zipf, n + distinct)
        by_count = [a for a, _ in Counter(a for a in answers if a is not None).most_common()]
        for rank, right in ((1, by_count[0]), (len(by_count) // 4 + 1, by_count[len(by_count) // 4])):
            fast, slow, diff = [], [], 0.0
            for _ in range(args.repeats):
                t, new = curves((est.majority_at_k, est.best_of_k), answers, right)
                fast.append(t)
                if n <= args.reference_up_to:
                    t, old = curves((ref_majority, ref_best), answers, right)
                    slow.append(t)
                    diff = max(diff, max(abs(a - b) for a, b in zip(new, old)))
            f = statistics.median(fast)
            s = statistics.median(slow) if slow else float("nan")
            print(f"{n:>6} {len(by_count):>4} {zipf:>4} {'rank ' + str(rank):>9} {f:>8.3f} {s:>9.2f} {s / f:>7.0f} {diff:>9.1e}", flush=True)


if __name__ == "__main__":
    main()
