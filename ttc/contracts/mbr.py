"""Minimum Bayes risk selection: the candidate with the highest expected utility against the rest of a pool.

Utilities (U[i][j], candidate i judged against candidate j as if j were the reference):
- "answer": 1 when both extracted answers are equal (and present), else 0. MBR under it picks an answer
  with the most votes: majority vote, with the same seeded tie-break (the answer key first).
- "edit": normalised Levenshtein similarity of the texts (rapidfuzz), 1 - distance / longer length.
- "chrf": sentence chrF of i against j (sacrebleu), / 100.
- "exec": 1 when both programs gave the same outputs on the generated inputs (equal behaviour signatures from
  a Behaviours verifier; a program that could not run agrees with nothing), else 0.
Shared by the best-of-N strategy (its selection) and the analysis (every budget of one pool).
"""

from __future__ import annotations

from typing import Sequence

from ttc.contracts.rules import answer_key, candidate_key
from ttc.contracts.vocab import UTILITIES, Utility

__all__ = ["UTILITIES", "mbr_pick", "utility_matrix"]


def utility_matrix(texts: Sequence[str], answers: Sequence[str | None], utility: Utility,
                   behaviours: Sequence[str] | None = None) -> list[list[float]]:
    """U[i][j] for every pair of candidates (the diagonal is unused); "exec" needs `behaviours`."""
    n = len(texts)
    if utility == "exec":
        if behaviours is None:
            raise ValueError("utility 'exec' needs the candidates' behaviour signatures")
        return [[float(behaviours[i] != "crash" and behaviours[i] == behaviours[j]) for j in range(n)]
                for i in range(n)]
    if utility == "answer":
        return [[float(answers[i] is not None and answers[i] == answers[j]) for j in range(n)] for i in range(n)]
    if utility == "edit":
        from rapidfuzz.distance import Levenshtein

        return [[Levenshtein.normalized_similarity(texts[i], texts[j]) for j in range(n)] for i in range(n)]
    if utility == "chrf":
        from sacrebleu import sentence_chrf

        return [[sentence_chrf(texts[i], [texts[j]]).score / 100 if i != j else 1.0 for j in range(n)]
                for i in range(n)]
    raise ValueError(f"utility={utility!r} is not one of {UTILITIES}")


def mbr_pick(subset: Sequence[int], u: list[list[float]], answers: Sequence[str | None], seed: int,
             problem_id: str) -> int:
    """The member of `subset` with the largest total utility against the others; ties go to the higher
    answer key, then the higher candidate key (so that utility "answer" is exactly majority vote)."""
    def rank(i: int) -> tuple:
        total = sum(u[i][j] for j in subset if j != i)
        akey = answer_key(seed, problem_id, answers[i]) if answers[i] is not None else -1.0
        return round(total, 9), akey, candidate_key(seed, problem_id, i)
    return max(subset, key=rank)
