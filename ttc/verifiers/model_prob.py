"""Model-probability verifier: a (possibly different) LM's probability of the solution given the prompt.

Score = exp(mean token log-probability) (normalize=True) or exp(sum) (False): monotone in the model's
belief, in [0, 1] so it can weight a vote. The scorer reads prompt + solution; those tokens are counted.
"""

from __future__ import annotations

import math
from typing import Sequence

from ttc.contracts.protocols import Generator
from ttc.contracts.records import Verdict


class ModelProbVerifier:
    """A scoring model's probability of each solution given its prompt."""

    def __init__(self, scorer: Generator, normalize: bool = True, name: str | None = None) -> None:
        self.scorer, self.normalize = scorer, normalize
        self.name = name or f"{scorer.name}-prob{'-mean' if normalize else '-sum'}"

    def verify(self, prompts: Sequence[str], solutions: Sequence[Sequence[str]]) -> list[list[Verdict]]:
        """Verifier.verify (ttc.contracts.protocols): a verdict per solution, from prompt and text only."""
        flat_p = [p for p, sols in zip(prompts, solutions) for _ in sols]
        flat_s = [s for sols in solutions for s in sols]
        scored = self.scorer.score(flat_p, flat_s)
        verdicts, k = [], 0
        for sols in solutions:
            row = []
            for _ in sols:
                s = scored[k]
                n = max(len(s.token_logprobs), 1)
                lp = s.logprob / n if self.normalize else s.logprob
                row.append(Verdict(score=math.exp(lp), tokens=s.tokens, flops=s.flops))
                k += 1
            verdicts.append(row)
        return verdicts
