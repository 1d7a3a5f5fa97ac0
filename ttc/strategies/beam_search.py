"""Token-level beam search with length normalisation (the classic decoder search, no verifier needed).

The generator must be a `BeamSearcher` (offer `beam_search(prompts, width, max_tokens, length_penalty)`). The selected beam is
the top-scoring one; with a verifier, the verifier's argmax over the finished beams.
"""

from __future__ import annotations

from typing import Sequence

from ttc.contracts.errors import ConfigError
from ttc.contracts.protocols import BeamSearcher, Extractor, Generator, Verifier
from ttc.strategies.common import budget_of, verify_pools
from ttc.contracts.records import Candidate, Problem, ProblemResult, ledger_of
from ttc.contracts.rules import argmax, candidate_key


class BeamSearch:
    """Token-level beam search of `width` beams per problem; see the module docstring."""

    name = "beam_search"

    def __init__(self, width: int = 4, length_penalty: float = 1.0, max_tokens: int = 160) -> None:
        self.budget = budget_of(width, "width", "beams", message="strategy.{field}: {err}")
        self.length_penalty, self.max_tokens = float(length_penalty), int(max_tokens)

    def run(self, problems: Sequence[Problem], generator: Generator, verifier: Verifier | None,
            extract: Extractor, seed: int) -> list[ProblemResult]:
        """Strategy.run (ttc.contracts.protocols): every candidate per problem, the selected one and the ledger."""
        if not isinstance(generator, BeamSearcher):
            raise ConfigError(f"strategy=beam_search needs a generator with beam search; {generator.name} has none")
        beams = generator.beam_search([p.prompt for p in problems], self.budget.amount, self.max_tokens, self.length_penalty)
        verdicts = verify_pools(verifier, problems, beams)
        results = []
        for p, b, vs in zip(problems, beams, verdicts):
            chosen = 0
            if verifier is not None:
                chosen = argmax([v.score for v in vs], [candidate_key(seed, p.id, i) for i in range(len(b))])
            ledger = ledger_of(b, [v for v in vs if v])
            cands = tuple(Candidate(c, extract(c.text), v) for c, v in zip(b, vs))
            results.append(ProblemResult(p.id, cands, chosen, ledger, self.budget))
        return results
