"""The series of one problem's pool at every budget k: each row of the selections table
(ttc.contracts.selections.POOLED) that applies to the pool, read with the estimator the row names.

Exact estimators where they exist (pass@k, G-Pass@k, best-of-k by a ranking, majority@k); seeded resampling of
k-subsets with its standard error where a rule needs whole subsets (weighted vote, minimum Bayes risk, filter
and cluster). Every tie is broken by the run's seeded keys (ttc.contracts.rules), as the strategy broke it, and
a pool drawn with rejection sampling puts answered candidates first in every ranking, as the strategy did.
Reads sample lines; knows nothing about files or models.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

from ttc.analysis import estimators as est
from ttc.contracts.clusters import submissions
from ttc.contracts.mbr import mbr_pick, utility_matrix
from ttc.contracts.rules import answer_key, candidate_key
from ttc.contracts.samples import SampleLine
from ttc.contracts.selections import POOLED, Rule
from ttc.contracts.vocab import Estimator

Rate = Callable[[int], tuple[float, float]]  # budget k -> (expected accuracy, Monte Carlo standard error)


@dataclass(frozen=True)
class Pool:
    """One problem's candidates in index order, and what the estimators read off them."""

    lines: list[SampleLine]
    seed: int
    answers: list[str | None]
    right: list[bool]
    right_answers: set[str]
    keys: list[float]
    rejecting: bool  # drawn with rejection sampling: each line's info says whether it was set aside

    @classmethod
    def of(cls, lines: list[SampleLine], seed: int) -> "Pool":
        """The pool of `lines` (one problem's, sorted by candidate) in a run of seed `seed`."""
        pid = lines[0]["problem_id"]
        return cls(lines, seed, [c["answer"] for c in lines], [bool(c["correct"]) for c in lines],
                   {c["answer"] for c in lines if c["correct"]}, [candidate_key(seed, pid, i) for i in range(len(lines))],
                   any("rejected" in (c.get("info") or {}) for c in lines))

    @property
    def pid(self) -> str:
        """The problem's id."""
        return self.lines[0]["problem_id"]

    def ranked(self, score: Sequence[float], reject: bool) -> list[bool]:
        """Grades by descending score (answered first when `reject`), ties by candidate key."""
        n, answers = len(self.lines), self.answers
        order = sorted(range(n), key=lambda i: ((answers[i] is not None) if reject else 0, score[i], self.keys[i]),
                       reverse=True)
        return [self.right[i] for i in order]

    def draws(self, count: int, tag: str) -> est.Draws:
        """The seeded subsets series `tag` reads this problem's pool on, at every budget."""
        return est.Draws(len(self.lines), count, self.subset_seed(tag))

    def subset_seed(self, tag: str) -> int:
        """The seed of the subsets a series `tag` draws for this problem."""
        return int(answer_key(self.seed, self.pid, tag) * 2**31)


_SCORES: dict[str, Callable[[SampleLine], float]] = {  # what a best-of-k arm ranks by
    "logprob_sum": lambda c: c["logprob"],
    "logprob_mean": lambda c: c["logprob"] / max(c["generated_tokens"], 1),
    "verifier": lambda c: c["verifier_score"],
}
READS_LOGPROB = ("logprob_sum", "logprob_mean")  # the arms that rank by a line's log-probability


def _pass_at_k(p: Pool, rule: Rule) -> Rate:
    n, c = len(p.lines), sum(p.right)
    return lambda k: (est.pass_at_k(n, c, k), 0.0)


def _mean(p: Pool, rule: Rule) -> Rate:
    n, c = len(p.lines), sum(p.right)
    return lambda k: (c / n, 0.0)  # avg@n: the mean accuracy of the n samples


def _g_pass_at_k(p: Pool, rule: Rule) -> Rate:
    n, c = len(p.lines), sum(p.right)
    return lambda k: (est.g_pass_at_k(n, c, k, rule.tau), 0.0)


def _majority_at_k(p: Pool, rule: Rule) -> Rate:
    return lambda k: (est.majority_at_k(p.answers, p.right_answers.__contains__,
                                        lambda a: answer_key(p.seed, p.pid, a), k), 0.0)


def _best_of_k(p: Pool, rule: Rule) -> Rate:
    order = p.ranked([_SCORES[rule.arm or ""](c) for c in p.lines], p.rejecting and not rule.unfiltered)
    return lambda k: (est.best_of_k(order, k), 0.0)


def _weighted_vote(p: Pool, rule: Rule) -> Rate:
    scores, drawn = [c["verifier_score"] for c in p.lines], p.draws(2000, "weighted_vote")
    return lambda k: est.weighted_vote_rate(p.answers, scores, p.right_answers, lambda a: answer_key(p.seed, p.pid, a),
                                            k, drawn)


def _mbr(p: Pool, rule: Rule) -> Rate:
    """Minimum Bayes risk: with rejection, each subset's answered members compete (all of them when none has
    an answer), as in the strategy."""
    behaviours = [(c.get("info") or {}).get("behaviour", "crash") for c in p.lines]
    u = utility_matrix([c["text"] for c in p.lines], p.answers, rule.selection.removeprefix("mbr_"), behaviours)

    def pick(sub: Sequence[int]) -> bool:
        kept = [i for i in sub if p.answers[i] is not None or not p.rejecting] or list(sub)
        return p.right[mbr_pick(kept, u, p.answers, p.seed, p.pid)]
    drawn = p.draws(2000, rule.selection)
    return lambda k: drawn.rate(pick, k)


def _cluster(p: Pool, rule: Rule) -> Rate | None:
    """AlphaCode's m@k: a success when any of the m submissions (ttc.contracts.clusters) of a k-subset is right;
    none where the pool has no behaviours recorded."""
    if "behaviour" not in (p.lines[0].get("info") or {}):
        return None
    passed = [bool(c["info"]["public_pass"]) for c in p.lines]
    behaviour = [c["info"]["behaviour"] for c in p.lines]
    m = rule.submit

    def hit(sub: Sequence[int]) -> bool:
        return any(p.right[i] for i in submissions(sorted(sub), passed, behaviour, p.keys, m))
    drawn = p.draws(1000, f"cluster{m}")
    return lambda k: drawn.rate(hit, k)


ESTIMATE: dict[Estimator, Callable[[Pool, Rule], Rate | None]] = {
    "pass_at_k": _pass_at_k, "mean": _mean, "g_pass_at_k": _g_pass_at_k, "majority_at_k": _majority_at_k,
    "best_of_k": _best_of_k, "weighted_vote": _weighted_vote, "mbr": _mbr, "cluster": _cluster,
}


def applies(rule: Rule, p: Pool) -> bool:
    """Whether the pool gives this series: scores where it reads them, log-probabilities where it ranks by them
    (a replayed pool may have none), the selection it was drawn with where it needs it, rejection where it
    undoes it."""
    head = p.lines[0]
    if rule.needs_scores and (head.get("verifier", "none") == "none" or head["verifier_score"] is None):
        return False
    if rule.arm in READS_LOGPROB and any(c["logprob"] is None for c in p.lines):
        return False
    if rule.drawn_with is not None and head.get("selection") != rule.drawn_with:
        return False
    return p.rejecting or not rule.unfiltered


def pooled_series(lines: list[SampleLine], seed: int) -> list[tuple[Rule, str, Rate]]:
    """(row, verifier label, k -> (accuracy, MC error)) of every series the pool gives, in table order."""
    pool = Pool.of(lines, seed)
    run_verifier = lines[0].get("verifier", "none")
    out = []
    for rule in POOLED:
        rate = ESTIMATE[rule.estimator](pool, rule) if applies(rule, pool) else None
        if rate is not None:
            out.append((rule, rule.verifier_label(run_verifier), rate))
    return out
