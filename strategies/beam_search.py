"""Token-level beam search with length normalisation (the classic decoder search, no verifier needed).

The generator must offer `beam_search(prompts, width, max_tokens, length_penalty)`. The selected beam is
the top-scoring one; with a verifier, the verifier's argmax over the finished beams.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Sequence

from harness.errors import ConfigError
from harness.protocols import Extractor, Generator, Verifier
from strategies.common import verify_pools
from harness.records import Budget, Candidate, Problem, ProblemResult, ledger_of
from strategies.selection import argmax, candidate_key


class BeamSearch:
    name = "beam_search"

    def __init__(self, width: int = 4, length_penalty: float = 1.0, max_tokens: int = 160) -> None:
        try:
            self.budget = Budget(int(width), "beams")
        except ValueError as err:
            raise ConfigError(f"strategy.width: {err}") from None
        self.length_penalty, self.max_tokens = float(length_penalty), int(max_tokens)

    def run(self, problems: Sequence[Problem], generator: Generator, verifier: Verifier | None,
            extract: Extractor, seed: int) -> list[ProblemResult]:
        search = getattr(generator, "beam_search", None)
        if search is None:
            raise ConfigError(f"strategy=beam_search needs a generator with beam search; {generator.name} has none")
        t0 = time.perf_counter()
        beams = search([p.prompt for p in problems], self.budget.amount, self.max_tokens, self.length_penalty)
        verdicts = verify_pools(verifier, problems, beams)
        wall = (time.perf_counter() - t0) / max(len(problems), 1)
        results = []
        for p, b, vs in zip(problems, beams, verdicts):
            chosen = 0
            if verifier is not None:
                chosen = argmax([v.score for v in vs], [candidate_key(seed, p.id, i) for i in range(len(b))])
            ledger = dataclasses.replace(ledger_of(b, [v for v in vs if v]), wall_s=wall)
            cands = tuple(Candidate(c, extract(c.text), v) for c, v in zip(b, vs))
            results.append(ProblemResult(p.id, cands, chosen, ledger, self.budget))
        return results
