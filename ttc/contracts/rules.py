"""The rules several floors share: seeds, seeded tie-breaks, votes, selection, step-score aggregation, bins.

Strategies apply these rules and the analysis re-applies them to recorded pools, so they live here, below
both. Every tie is broken by a hash of (seed, problem id, candidate index or answer), never by list order, so a
selection is reproducible and the analysis estimators can reproduce the very same rule on any subset.
"""

from __future__ import annotations

import hashlib
import math
from collections import defaultdict
from typing import Sequence

from ttc.contracts.vocab import AGGREGATES, SELECTIONS, Aggregate, RevisionSelection, Selection

__all__ = ["AGGREGATES", "SELECTIONS", "aggregate", "answer_key", "argmax", "attempt_seed", "bin_of", "candidate_key",
           "choose_attempt", "critique_seed", "sample_seed", "select", "vote"]


def _unit(*parts: object) -> float:
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def sample_seed(seed: int, problem_id: str, index: int | tuple[int, ...]) -> int:
    """The seed of sample `index` of a problem: fixed by (run seed, problem id, index) alone.

    `index` is a sample's number, or a tuple of ints that places a draw in a search (round, path, child): the
    tuple is hashed whole, so two distinct tuples never share a seed however large each part grows (a radix
    formula such as (round * 1000 + path) * 1000 + child collides once a part reaches its base)."""
    if isinstance(index, tuple):
        return _tuple_seed(seed, problem_id, index)
    return int(_unit("sample", seed, problem_id, index) * 2**62)


def _tuple_seed(seed: int, problem_id: str, index: tuple[int, ...]) -> int:
    """A 62-bit seed from BLAKE2b of the repr of (seed, problem id, index): stable across processes (no hash())."""
    key = repr(("sample", int(seed), str(problem_id), tuple(int(i) for i in index)))
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big") >> 2


def candidate_key(seed: int, problem_id: str, index: int) -> float:
    """Tie-break priority of a candidate (higher wins among equal scores)."""
    return _unit("cand", seed, problem_id, index)


def answer_key(seed: int, problem_id: str, answer: str) -> float:
    """Tie-break priority of an answer in a vote (higher wins among equal counts or weights)."""
    return _unit("ans", seed, problem_id, answer)


def argmax(scores: Sequence[float], keys: Sequence[float]) -> int:
    """Index of the highest (score, key)."""
    return max(range(len(scores)), key=lambda i: (scores[i], keys[i]))


def vote(answers: Sequence[str | None], weights: Sequence[float], seed: int, problem_id: str) -> str | None:
    """The answer with the largest total weight (None answers abstain); ties by answer key."""
    totals: dict[str, float] = defaultdict(float)
    for a, w in zip(answers, weights):
        if a is not None:
            totals[a] += w
    if not totals:
        return None
    return max(totals, key=lambda a: (totals[a], answer_key(seed, problem_id, a)))


def select(rule: Selection, answers: Sequence[str | None], scores: Sequence[float], logprobs: Sequence[float],
           lengths: Sequence[int], seed: int, problem_id: str) -> int:
    """Index of the selected candidate under `rule`; votes pick the best-keyed candidate of the winner."""
    keys = [candidate_key(seed, problem_id, i) for i in range(len(answers))]
    if rule == "first":
        return 0
    if rule == "verifier":
        return argmax(scores, keys)
    if rule == "logprob_sum":
        return argmax(logprobs, keys)
    if rule == "logprob_mean":
        return argmax([lp / max(n, 1) for lp, n in zip(logprobs, lengths)], keys)
    if rule in ("majority", "weighted_vote"):
        weights = [1.0] * len(answers) if rule == "majority" else list(scores)
        winner = vote(answers, weights, seed, problem_id)
        members = [i for i, a in enumerate(answers) if a == winner] or list(range(len(answers)))
        return max(members, key=lambda i: keys[i])
    raise ValueError(f"selection={rule} is not one of {SELECTIONS}")


def attempt_seed(seed: int, problem_id: str, chain: int, attempt: int) -> int:
    """The seed of a revision attempt, fixed by (chain, attempt) alone: a shorter or narrower run repeats the
    same first attempts of the same first chains, so the analysis can read every smaller budget off one run."""
    return sample_seed(seed, problem_id, chain * 1_000_003 + attempt)


def choose_attempt(selection: RevisionSelection, answers: Sequence[str | None], scores: Sequence[float], lasts: Sequence[int],
                   seed: int, problem_id: str) -> int:
    """Index of the chosen revision attempt (attempts listed chain by chain; `lasts` are each chain's last):
    "last" votes over the chains' last attempts; any other rule is `select` over all attempts."""
    if selection == "last":
        won = select("majority", [answers[i] for i in lasts], [1.0] * len(lasts), [0.0] * len(lasts),
                     [1] * len(lasts), seed, problem_id)
        return lasts[won]
    return select(selection, answers, scores, [0.0] * len(answers), [1] * len(answers), seed, problem_id)


def critique_seed(query: str, index: int) -> int:
    """The seed of sampled verdict `index` on a judge query: fixed by the query text alone."""
    return sample_seed(0, query, index)


def bin_of(score: float, cuts: Sequence[float]) -> int:
    """The difficulty bin of a probe score: 1 + the number of (descending) thresholds it falls below."""
    return 1 + sum(score < t for t in cuts)


def aggregate(scores: Sequence[float], how: Aggregate) -> float:
    """One score from per-step scores: the last step's, the minimum, the product or the mean."""
    if how == "last":
        return scores[-1]
    if how == "min":
        return min(scores)
    if how == "prod":
        return math.prod(scores)
    if how == "mean":
        return sum(scores) / len(scores)
    raise ValueError(f"aggregate={how} is not one of {AGGREGATES}")
