"""Label scoring: prompt-based classification by the log-probability of each choice's verbaliser.

Each problem lists its choices (public strings, e.g. " yes" / " maybe" / " no") in `metadata["choices"]`;
one scoring call reads prompt + choice for every choice of every problem, and the argmax (summed
log-probability, or per-token mean with `normalize`) is selected. Nothing is generated: every token
read is counted as prompt, with its FLOPs.
"""

from __future__ import annotations

from typing import Sequence

from ttc.contracts.errors import ConfigError
from ttc.contracts.protocols import Extractor, Generator, Verifier
from ttc.contracts.records import Budget, Candidate, Completion, Problem, ProblemResult, ledger_of
from ttc.contracts.rules import argmax, candidate_key


class LabelScoring:
    """Classify by the log-probability of each listed choice; see the module docstring."""

    name = "label_scoring"

    def scores_choices(self) -> bool:
        """ChoiceScorer (ttc.contracts.protocols): it scores the listed choices."""
        return True

    def __init__(self, normalize: bool = False) -> None:
        self.normalize, self.budget = bool(normalize), Budget(1, "samples")

    def reads_verifier(self) -> bool:
        """VerifierUse (ttc.contracts.protocols): labels are scored by the model's own probabilities; no verifier is built for it."""
        return False

    def run(self, problems: Sequence[Problem], generator: Generator, verifier: Verifier | None,
            extract: Extractor, seed: int) -> list[ProblemResult]:
        """Strategy.run (ttc.contracts.protocols): every candidate per problem, the selected one and the ledger."""
        missing = [p.id for p in problems if not p.metadata.get("choices")]
        if missing:
            raise ConfigError(f"strategy=label_scoring needs a task whose problems list choices ({missing[0]} has "
                              f"none); for MNLI use task.mode=score")
        pairs = [(p.prompt, c) for p in problems for c in p.metadata["choices"]]
        scored = iter(generator.score([a for a, _ in pairs], [b for _, b in pairs]))
        results = []
        for p in problems:
            comps = []
            for j, choice in enumerate(p.metadata["choices"]):
                s = next(scored)
                comps.append(Completion(index=j, seed=0, text=choice, prompt_tokens=s.tokens, cached_tokens=0,
                                        generated_tokens=0, logprob=s.logprob, finish_reason="scored", flops=s.flops,
                                        prompt_flops=s.flops, token_logprobs=s.token_logprobs))
            value = [c.logprob / max(len(c.token_logprobs), 1) if self.normalize else c.logprob for c in comps]
            chosen = argmax(value, [candidate_key(seed, p.id, j) for j in range(len(comps))])
            results.append(ProblemResult(p.id, tuple(Candidate(c, extract(c.text)) for c in comps), chosen,
                                         ledger_of(comps), self.budget))
        return results
