"""Greedy decoding: one completion per problem, the argmax token at every step."""

from __future__ import annotations

import dataclasses
import time
from typing import Sequence

from harness.protocols import Extractor, Generator, Verifier
from harness.records import Budget, Candidate, Problem, ProblemResult, SamplingParams, ledger_of


class Greedy:
    """Temperature 0, one sample. With one candidate there is nothing to choose, so no verifier is called."""

    name = "greedy"

    def __init__(self, max_tokens: int = 160) -> None:
        self.budget = Budget(1, "samples")
        self.params = SamplingParams(temperature=0.0, max_tokens=max_tokens)

    def run(self, problems: Sequence[Problem], generator: Generator, verifier: Verifier | None,
            extract: Extractor, seed: int) -> list[ProblemResult]:
        t0 = time.perf_counter()
        outs = generator.generate([p.prompt for p in problems], self.params, [[0] for _ in problems])
        wall = (time.perf_counter() - t0) / max(len(problems), 1)
        return [
            ProblemResult(p.id, (Candidate(o[0], extract(o[0].text)),), 0,
                          dataclasses.replace(ledger_of(o), wall_s=wall), self.budget)
            for p, o in zip(problems, outs)
        ]
