"""Compute-optimal adaptive strategy: estimate each problem's difficulty, then run the arm chosen for it.

It is given built parts (see `ttc.harness.policy`, which reads a `ttc report` policy file and builds them): a
probe strategy (the first `m` samples of the pool the bins were fitted on, scored by the run's verifier;
their mean score is the predicted difficulty), the score thresholds between bins, and the arm strategy
chosen for each bin. The probe runs for all problems in one call, each problem is binned, and each bin's
problems go to its arm in one call. Every candidate (probe and arm) is returned and every token is in the
ledger; the selected candidate is the arm's choice. A bin with no arm uses the arm of the nearest bin that
has one. Reads no files and builds nothing.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

from ttc.contracts.errors import ConfigError
from ttc.contracts.protocols import Extractor, Generator, Strategy, Verifier
from ttc.contracts.records import Budget, Problem, ProblemResult
from ttc.contracts.rules import bin_of
from ttc.strategies.common import require_verifier


class Adaptive:
    """Probe, bin by the probe's mean verifier score (`cuts`), then run each bin's arm."""

    def __init__(self, probe: Strategy, arms: dict[int, Strategy], labels: dict[int, str], cuts: Sequence[float],
                 budget: Budget, name: str | None = None) -> None:
        if not arms:
            raise ConfigError("strategy=adaptive: the policy has no arm for any bin")
        self.probe, self.arms, self.labels = probe, dict(arms), dict(labels)
        self.cuts, self.budget, self.name = [float(c) for c in cuts], budget, name or "adaptive"

    def arm_for(self, level: int) -> int:
        """The bin whose arm serves `level`: itself, else the nearest bin with an arm (lower on ties)."""
        return min(self.arms, key=lambda b: (abs(b - level), b))

    def verifier_need(self) -> str:
        """VerifierNeed (ttc.contracts.protocols): difficulty is predicted with one."""
        return ("strategy=adaptive predicts difficulty with a verifier: set the verifier its policy "
                "was fitted with (policy 'verifier')")

    def run(self, problems: Sequence[Problem], generator: Generator, verifier: Verifier | None,
            extract: Extractor, seed: int) -> list[ProblemResult]:
        """Strategy.run (ttc.contracts.protocols): every candidate per problem, the selected one and the ledger."""
        require_verifier(self, verifier)
        probes = self.probe.run(problems, generator, verifier, extract, seed)
        levels = [bin_of(sum(c.verdict.score for c in r.candidates) / len(r.candidates), self.cuts) for r in probes]
        chosen = [self.arm_for(level) for level in levels]
        out: dict[int, ProblemResult] = {}
        for arm in sorted(set(chosen)):
            idx = [i for i, a in enumerate(chosen) if a == arm]
            for i, res in zip(idx, self.arms[arm].run([problems[i] for i in idx], generator, verifier, extract, seed)):
                out[i] = res
        return [self._joined(probe, out[i], level, chosen[i]) for i, (probe, level) in enumerate(zip(probes, levels))]

    def _joined(self, probe: ProblemResult, res: ProblemResult, level: int, arm: int) -> ProblemResult:
        tag = {"bin": level, "arm": self.labels[arm]}
        cands = tuple(dataclasses.replace(c, info={**c.info, **tag, "role": "probe"}) for c in probe.candidates)
        cands += tuple(dataclasses.replace(c, info={**c.info, **tag, "role": "arm"}) for c in res.candidates)
        return ProblemResult(res.problem_id, cands, len(probe.candidates) + res.selected, probe.ledger + res.ledger,
                             self.budget)
