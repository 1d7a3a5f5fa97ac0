"""Adaptive self-consistency (Aggarwal et al. 2023): sample in rounds and stop a problem once its vote is
decided, so easy problems free the budget that hard ones use.

Each round draws `batch` more samples for every undecided problem in one generator call (sample k of a
problem has the seed best-of-N gives its k-th sample, so the samples are a prefix of that pool), up to `n`
per problem. After each round a problem stops when its `rule` says the vote is decided:
- "supermajority": the leading answer holds at least `threshold` of the samples drawn;
- "beta": the posterior probability that the leading answer's share exceeds the runner-up's, with a uniform
  prior on the two (p1 / (p1 + p2) ~ Beta(v1 + 1, v2 + 1)), is at least `threshold` (Aggarwal et al.'s
  Beta stopping criterion). Samples with no answer count for neither.
The answer is the majority (seeded tie-break). Every sample drawn is a candidate; the ledger holds what was
spent, so its curve point sits at its own FLOPs per problem, beside fixed budgets. Each candidate records the
round that drew it; the budget is `n`, the most a problem may draw.
"""

from __future__ import annotations

from collections import Counter
from typing import Sequence

from scipy.stats import beta

from ttc.contracts.errors import ConfigError, bad_choice
from ttc.contracts.protocols import Extractor, Generator, Verifier
from ttc.contracts.records import Candidate, Completion, Problem, ProblemResult, SamplingParams, ledger_of
from ttc.contracts.rules import sample_seed, select
from ttc.contracts.vocab import STOP_RULES
from ttc.strategies.common import budget_of



def decided(answers: Sequence[str | None], rule: str, threshold: float) -> bool:
    """Whether the vote over `answers` is settled under `rule` (see the module docstring)."""
    counts = Counter(a for a in answers if a is not None).most_common(2)
    if not counts:
        return False
    v1, v2 = counts[0][1], counts[1][1] if len(counts) > 1 else 0
    if rule == "supermajority":
        return v1 / len(answers) >= threshold
    return float(beta.sf(0.5, v1 + 1, v2 + 1)) >= threshold


class AdaptiveConsistency:
    """Majority vote with adaptive stopping; see the module docstring."""

    def __init__(self, n: int = 16, batch: int = 4, rule: str = "beta", threshold: float = 0.95,
                 temperature: float = 0.8, top_k: int = 0, top_p: float = 1.0, min_p: float = 0.0,
                 max_tokens: int = 160, stop: Sequence[str] = (), name: str | None = None) -> None:
        if rule not in STOP_RULES:
            raise bad_choice("strategy.rule", rule, STOP_RULES)
        self.budget = budget_of(n, "n", "samples")
        if not 1 <= batch <= n:
            raise ConfigError(f"strategy.batch={batch} must be in 1..strategy.n={n}")
        if not 0.5 < threshold <= 1.0:
            raise ConfigError(f"strategy.threshold={threshold} must be in (0.5, 1]")
        try:
            self.params = SamplingParams(temperature, top_k, top_p, min_p, 0.0, max_tokens, tuple(stop))
        except ValueError as err:
            raise ConfigError(f"strategy.{str(err).removeprefix('sampling.')}") from None
        self.n, self.batch, self.rule, self.threshold = int(n), int(batch), rule, float(threshold)
        self.name = name or "adaptive_sc"

    def reads_verifier(self) -> bool:
        """VerifierUse (ttc.contracts.protocols): it stops and votes on answers alone; no verifier is built for it."""
        return False

    def run(self, problems: Sequence[Problem], generator: Generator, verifier: Verifier | None,
            extract: Extractor, seed: int) -> list[ProblemResult]:
        """Strategy.run (ttc.contracts.protocols): the samples each problem drew, the majority, the ledger."""
        drawn: list[list[Completion]] = [[] for _ in problems]
        answers: list[list[str | None]] = [[] for _ in problems]
        rounds: list[list[int]] = [[] for _ in problems]
        open_ = list(range(len(problems)))
        r = 0
        while open_:
            take = [min(self.batch, self.n - len(drawn[i])) for i in open_]
            seeds = [[sample_seed(seed, problems[i].id, len(drawn[i]) + k) for k in range(t)]
                     for i, t in zip(open_, take)]
            outs = generator.generate([problems[i].prompt for i in open_], self.params, seeds)
            for i, row in zip(open_, outs):
                drawn[i] += row
                answers[i] += [extract(c.text) for c in row]
                rounds[i] += [r] * len(row)
            open_ = [i for i in open_ if len(drawn[i]) < self.n and not decided(answers[i], self.rule, self.threshold)]
            r += 1
        results = []
        for p, pool, ans, rs in zip(problems, drawn, answers, rounds):
            chosen = select("majority", ans, [0.0] * len(pool), [c.logprob for c in pool],
                            [c.generated_tokens for c in pool], seed, p.id)
            cands = tuple(Candidate(c, a, None, {"round": k}) for c, a, k in zip(pool, ans, rs))
            results.append(ProblemResult(p.id, cands, chosen, ledger_of(pool), self.budget))
        return results
