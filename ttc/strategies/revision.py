"""Sequential revision and the parallel/sequential mix of Snell et al. (2024).

A budget of `n` generations is split into `parallel` chains of `n // parallel` attempts. The first attempt
of a chain answers the problem prompt; each later attempt answers a revision prompt that shows the last
`window` attempts of its chain (and, with `critique`, the verifier's verdict on each). A chain stops
early when the verifier scores its latest attempt at or above `stop_at` (iterative refinement). The
final answer is chosen across all attempts of all chains by `selection`:
- "verifier": the verifier's argmax; "majority": a vote; "weighted_vote": a verifier-weighted vote;
- "last": a vote over the chains' last attempts (with one chain, its last attempt).

Every round makes one generator call for the live chains of all problems and, when a verifier is set,
one verifier call. The ledger counts every revision prompt, which grows with the window: re-read context
is real compute, and the share a prefix cache served is recorded beside it.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

from ttc.contracts.errors import ConfigError, bad_choice
from ttc.contracts.protocols import Extractor, Generator, Verifier
from ttc.contracts.records import Candidate, Completion, Problem, ProblemResult, SamplingParams, Verdict, ledger_of
from ttc.contracts.rules import attempt_seed, choose_attempt
from ttc.contracts.selections import NEEDS_VERIFIER
from ttc.contracts.trees import chain_tree
from ttc.contracts.vocab import REVISION_SELECTIONS, RevisionSelection
from ttc.strategies.common import budget_of, needs_verifier, require_verifier



@dataclasses.dataclass
class _Chain:
    """One revision chain: its problem, its index, its attempts and their verdicts so far."""

    problem: int
    index: int
    attempts: list[Completion] = dataclasses.field(default_factory=list)
    verdicts: list[Verdict | None] = dataclasses.field(default_factory=list)
    done: bool = False


class Revision:
    """`parallel` chains of `n // parallel` attempts each; see the module docstring."""

    def __init__(self, n: int = 8, parallel: int = 1, window: int = 1, selection: RevisionSelection = "majority",
                 stop_at: float | None = None, critique: bool = False, strip_suffix: str = "A:\n",
                 template: str = "{prompt}{attempts}Corrected attempt:\n",
                 attempt_template: str = "Previous attempt:\n{text}{critique}",
                 critique_template: str = "Check: {verdict}\n", temperature: float = 0.8, max_tokens: int = 160,
                 name: str | None = None) -> None:
        if selection not in REVISION_SELECTIONS:
            raise bad_choice("strategy.selection", selection, REVISION_SELECTIONS)
        if parallel < 1 or n % parallel:
            raise ConfigError(f"strategy.parallel={parallel} must divide strategy.n={n} (chains of equal length)")
        if window < 1:
            raise ConfigError(f"strategy.window={window} must be at least 1")
        self.budget = budget_of(n, "n", "samples")
        try:
            self.params = SamplingParams(temperature=temperature, max_tokens=max_tokens)
        except ValueError as err:
            raise ConfigError(f"strategy.{str(err).removeprefix('sampling.')}") from None
        self.parallel, self.length, self.window = int(parallel), int(n) // int(parallel), int(window)
        self.selection, self.stop_at, self.critique = selection, stop_at, bool(critique)
        self.strip_suffix, self.template = strip_suffix, template
        self.attempt_template, self.critique_template = attempt_template, critique_template
        self.name = name or f"revision_p{self.parallel}"

    def verifier_need(self) -> str | None:
        """VerifierNeed (ttc.contracts.protocols): verifier selection, stop_at and critique need one."""
        if self.selection in NEEDS_VERIFIER or self.stop_at is not None or self.critique:
            return needs_verifier(f"strategy=revision with selection={self.selection}, stop_at or critique",
                                  instead="majority/last")
        return None

    def run(self, problems: Sequence[Problem], generator: Generator, verifier: Verifier | None,
            extract: Extractor, seed: int) -> list[ProblemResult]:
        """Strategy.run (ttc.contracts.protocols): every candidate per problem, the selected one and the ledger."""
        require_verifier(self, verifier)
        chains = [_Chain(i, c) for i in range(len(problems)) for c in range(self.parallel)]
        for step in range(self.length):
            live = [ch for ch in chains if not ch.done]
            if not live:
                break
            prompts = [self._prompt(problems[ch.problem].prompt, ch) for ch in live]
            seeds = [[attempt_seed(seed, problems[ch.problem].id, ch.index, step)] for ch in live]
            outs = generator.generate(prompts, self.params, seeds)
            verdicts = self._verify(verifier, [problems[ch.problem].prompt for ch in live], [o[0] for o in outs])
            for ch, [c], v in zip(live, outs, verdicts):
                ch.attempts.append(c)
                ch.verdicts.append(v)
                ch.done = self.stop_at is not None and v is not None and v.score >= self.stop_at
        return [self._result(p, [ch for ch in chains if ch.problem == i], extract, seed)
                for i, p in enumerate(problems)]

    def _prompt(self, prompt: str, chain: _Chain) -> str:
        if not chain.attempts:
            return prompt
        shown = []
        for c, v in list(zip(chain.attempts, chain.verdicts))[-self.window:]:
            critique = ""
            if self.critique and v is not None:
                critique = self.critique_template.format(verdict="yes" if v.score >= 0.5 else "no", score=v.score)
            text = c.text if c.text.endswith("\n") else c.text + "\n"
            shown.append(self.attempt_template.format(text=text, critique=critique))
        head = prompt[: -len(self.strip_suffix)] if self.strip_suffix and prompt.endswith(self.strip_suffix) else prompt
        return self.template.format(prompt=head, attempts="".join(shown))

    @staticmethod
    def _verify(verifier: Verifier | None, prompts: list[str], outs: list[Completion]) -> list[Verdict | None]:
        if verifier is None:
            return [None] * len(outs)
        return [row[0] for row in verifier.verify(prompts, [[c.text] for c in outs])]

    def _result(self, problem: Problem, chains: list[_Chain], extract: Extractor, seed: int) -> ProblemResult:
        cands, lasts = [], []
        for ch in chains:
            for step, (c, v) in enumerate(zip(ch.attempts, ch.verdicts)):
                cands.append(Candidate(dataclasses.replace(c, index=len(cands)), extract(c.text), v,
                                       {"chain": ch.index, "attempt": step, "selection": self.selection}))
            lasts.append(len(cands) - 1)
        scores = [c.verdict.score if c.verdict else 0.0 for c in cands]
        chosen = choose_attempt(self.selection, [c.answer for c in cands], scores, lasts, seed, problem.id)
        verdicts = [c.verdict for c in cands if c.verdict is not None]
        ledger = ledger_of([c.completion for c in cands], verdicts)
        first = [lasts[j] - len(ch.attempts) + 1 for j, ch in enumerate(chains)]  # each chain's first candidate
        tree = chain_tree([[(c.text, None if v is None else v.score, "completed", {"candidates": [k0 + a]})
                            for a, (c, v) in enumerate(zip(ch.attempts, ch.verdicts))]
                           for k0, ch in zip(first, chains)])
        return ProblemResult(problem.id, tuple(cands), chosen, ledger, self.budget, curve="chains", tree=tree)
