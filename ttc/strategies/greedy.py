"""Greedy decoding: one completion per problem, the argmax token at every step."""

from __future__ import annotations

from typing import Sequence

from ttc.contracts.errors import ConfigError
from ttc.contracts.protocols import Extractor, Generator, Verifier
from ttc.contracts.records import Budget, Candidate, Problem, ProblemResult, SamplingParams, ledger_of


class Greedy:
    """Temperature 0, one sample. With one candidate there is nothing to choose, so no verifier is called."""

    name = "greedy"

    def __init__(self, max_tokens: int = 160, stop: Sequence[str] = (), regex: str | None = None,
                 syntax: str | None = None) -> None:
        self.budget = Budget(1, "samples")
        try:
            self.params = SamplingParams(temperature=0.0, max_tokens=max_tokens, stop=tuple(stop), regex=regex or None,
                                         syntax=syntax or None)
        except ValueError as err:
            raise ConfigError(f"strategy.{str(err).removeprefix('sampling.')}") from None

    def reads_verifier(self) -> bool:
        """VerifierUse (ttc.contracts.protocols): one candidate, nothing to choose; no verifier is built for it."""
        return False

    def run(self, problems: Sequence[Problem], generator: Generator, verifier: Verifier | None,
            extract: Extractor, seed: int) -> list[ProblemResult]:
        """Strategy.run (ttc.contracts.protocols): every candidate per problem, the selected one and the ledger."""
        outs = generator.generate([p.prompt for p in problems], self.params, [[0] for _ in problems])
        return [
            ProblemResult(p.id, (Candidate(o[0], extract(o[0].text)),), 0,
                          ledger_of(o), self.budget)
            for p, o in zip(problems, outs)
        ]
