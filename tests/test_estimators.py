"""Every estimator against brute-force enumeration of all k-subsets of small pools."""

import itertools
import math
import random

import pytest

from estimator_reference import best_of_k as reference_best_of_k, majority_at_k as reference_majority_at_k
from ttc.analysis import estimators as est
from ttc.contracts.rules import answer_key, candidate_key, select, vote



def _pools():
    rng = random.Random(7)
    for trial in range(40):
        n = rng.randint(1, 8)
        answers = [rng.choice(["1", "2", "3", None]) for _ in range(n)]
        scores = [rng.choice([0.1, 0.5, 0.5, 0.9]) for _ in range(n)]  # ties on purpose
        yield trial, answers, scores


def _brute(n, k, fn):
    subs = list(itertools.combinations(range(n), k))
    return sum(fn(s) for s in subs) / len(subs)


@pytest.mark.parametrize("n,c", [(5, 0), (5, 2), (6, 6), (8, 3)])
def test_pass_at_k_matches_enumeration(n, c):
    right = [i < c for i in range(n)]
    for k in range(1, n + 1):
        assert est.pass_at_k(n, c, k) == pytest.approx(_brute(n, k, lambda s: any(right[i] for i in s)))


def test_best_of_k_matches_enumeration_with_seeded_ties():
    for trial, answers, scores in _pools():
        n, pid = len(answers), f"p{trial}"
        right = [a == "2" for a in answers]
        keys = [candidate_key(3, pid, i) for i in range(n)]
        order = sorted(range(n), key=lambda i: (scores[i], keys[i]), reverse=True)
        for k in range(1, n + 1):
            def picked_right(s):
                # each candidate keeps its own pool key inside any subset
                return right[max(s, key=lambda i: (scores[i], keys[i]))]
            assert est.best_of_k([right[i] for i in order], k) == pytest.approx(_brute(n, k, picked_right))


def test_majority_exact_matches_enumeration_of_the_vote_rule():
    for trial, answers, _ in _pools():
        n, pid = len(answers), f"q{trial}"
        for k in range(1, n + 1):
            brute = _brute(n, k, lambda s: vote([answers[i] for i in s], [1.0] * len(s), 5, pid) == "2")
            exact = est.majority_at_k(answers, lambda a: a == "2", lambda a: answer_key(5, pid, a), k)
            assert exact == pytest.approx(brute, abs=1e-12), (answers, k)


def _random_pool(rng, n):
    """A pool of n answers of one of five shapes: ties, abstentions, one answer, all distinct, or skewed."""
    shape = rng.choice(["ties", "abstain", "one", "distinct", "skewed"])
    if shape == "one":
        return ["7"] * n
    if shape == "distinct":
        return [str(i) for i in range(n)]
    labels = [str(i) for i in range(rng.randint(2, max(2, n // 3)))]
    weights = [1.0] * len(labels) if shape == "ties" else [1.0 / (i + 1) ** 1.5 for i in range(len(labels))]
    gap = 0.4 if shape == "abstain" else 0.03
    return [None if rng.random() < gap else rng.choices(labels, weights)[0] for _ in range(n)]


def test_majority_and_best_of_k_equal_the_big_integer_reference_on_random_pools():
    rng = random.Random(11)
    for trial in range(60):
        n = rng.choice([1, 2, 5, 17, 40, 90, 200])
        answers = _random_pool(rng, n)
        named = sorted({a for a in answers if a is not None}) or ["0"]
        rights = set(rng.sample(named, min(len(named), rng.choice([1, 1, 2]))))
        ranks = [a in rights for a in answers]
        rng.shuffle(ranks)
        ks = sorted({k for k in (1, 2, n // 3, n // 2, n - 1, n) if 1 <= k <= n})
        for k in ks:
            def key(a, t=trial):
                return answer_key(t, "p", a)
            want, got = reference_majority_at_k(answers, rights.__contains__, key, k), est.majority_at_k(
                answers, rights.__contains__, key, k)
            want_best, got_best = reference_best_of_k(ranks, k), est.best_of_k(ranks, k)
            assert abs(got - want) < 1e-9 and abs(got_best - want_best) < 1e-9, (trial, n, k)
            if math.comb(n, k) <= est.SNAP_LIMIT:  # the exact ratio, bit for bit
                assert (got, got_best) == (want, want_best), (trial, n, k)


def test_majority_handles_large_pools_fast_and_stays_a_probability():
    answers = [str(i % 7) for i in range(64)] + [None] * 8
    val = est.majority_at_k(answers, lambda a: a == "3", lambda a: answer_key(0, "x", a), 32)
    assert 0.0 <= val <= 1.0


def test_subset_rate_exact_and_resampled_agree_within_error():
    rng = random.Random(1)
    answers = [rng.choice("abc") for _ in range(30)]
    weights = [rng.random() for _ in range(30)]

    def rule(s):
        return vote([answers[i] for i in s], [weights[i] for i in s], 0, "w") == "a"

    exact, se0 = est.subset_rate(rule, 30, 3, draws=4000, seed=0)  # C(30,3)=4060: enumerated
    approx, se = est.subset_rate(rule, 30, 3, draws=4000, seed=0, exact_limit=10)
    assert se0 == 0.0 and se > 0
    assert abs(exact - approx) < 4 * se


def test_select_on_the_full_pool_agrees_with_the_estimators_at_k_equals_n():
    for trial, answers, scores in _pools():
        n, pid = len(answers), f"r{trial}"
        right = [a == "2" for a in answers]
        chosen = select("verifier", answers, scores, [0.0] * n, [1] * n, 3, pid)
        keys = [candidate_key(3, pid, i) for i in range(n)]
        order = sorted(range(n), key=lambda i: (scores[i], keys[i]), reverse=True)
        assert float(right[chosen]) == est.best_of_k([right[i] for i in order], n)
        maj = select("majority", answers, scores, [0.0] * n, [1] * n, 5, pid)
        exact = est.majority_at_k(answers, lambda a: a == "2", lambda a: answer_key(5, pid, a), n)
        assert float(answers[maj] == "2") == exact


@pytest.mark.parametrize("c", [1, 7, 255, 10_000])
@pytest.mark.parametrize("p", [1e-4, 0.1, 0.5, 1023 / 1024, 1.0])
def test_binomial_pmf_equals_scipy(c, p):
    from scipy.stats import binom
    import numpy as np
    assert np.max(np.abs(est.binomial_pmf(c, p) - binom.pmf(np.arange(c + 1), c, p))) < 1e-13


def test_weighted_vote_rate_equals_the_vote_subset_by_subset():
    """Every subset voted at once (np.bincount) gives what ttc.contracts.rules.vote gives, subset by subset:
    the same seeded subsets, the same totals to the bit, ties by the answer key, abstentions, no answer at all."""
    rng = random.Random(5)
    for trial in range(40):
        n = rng.choice([3, 8, 30, 120])
        answers = _random_pool(rng, n)
        scores = [rng.choice([0.0, 0.1, 0.25, 0.5, 0.5, 0.9, 1.0]) for _ in range(n)]  # equal totals on purpose
        named = sorted({a for a in answers if a is not None})
        rights = set(named[:1])
        for k in sorted({1, 2, n // 2 or 1, n}):
            def ok(subset):
                return vote([answers[i] for i in subset], [scores[i] for i in subset], trial, "p") in rights
            want = est.subset_rate(ok, n, k, draws=300, seed=trial)
            got = est.weighted_vote_rate(answers, scores, rights, lambda a: answer_key(trial, "p", a), k,
                                         est.Draws(n, 300, trial))
            assert got == want, (trial, n, k)


def test_drawn_subsets_are_uniform_sorted_and_distinct_members():
    from collections import Counter
    subsets, exact = est.Draws(6, 20_000, seed=1, exact_limit=0).subsets(3)
    assert not exact and subsets.shape == (20_000, 3)
    assert all(list(row) == sorted(set(row)) for row in subsets.tolist())
    counts = Counter(map(tuple, subsets.tolist()))
    assert len(counts) == 20  # every 3-subset of 6 drawn, each about 1,000 times
    chi2 = sum((c - 1000) ** 2 / 1000 for c in counts.values())
    assert chi2 < 43.8  # chi-square, 19 degrees of freedom, p = 0.001


def test_a_series_draws_nested_subsets_for_every_budget_the_same_in_any_order():
    """One shuffle serves every budget: draw i's k-subset holds its j-subset for j < k, and asking for the
    budgets in any order (a fresh mask when k falls) gives the same rows."""
    drawn = est.Draws(12, 500, seed=3, exact_limit=0)
    up = {k: drawn.subsets(k)[0] for k in (2, 4, 8, 3)}
    again = est.Draws(12, 500, seed=3, exact_limit=0)
    down = {k: again.subsets(k)[0] for k in (8, 4, 3, 2)}
    assert all((up[k] == down[k]).all() for k in up)
    assert all(set(a) <= set(b) for a, b in zip(up[2].tolist(), up[4].tolist()))
    assert all(set(a) <= set(b) for a, b in zip(up[4].tolist(), up[8].tolist()))
    assert all(list(r) == sorted(set(r)) and len(r) == 8 for r in up[8].tolist())
    assert not (up[4] == est.Draws(12, 500, seed=4, exact_limit=0).subsets(4)[0]).all()
