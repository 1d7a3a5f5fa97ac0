"""CoT decoding (Wang & Zhou 2024): chain-of-thought paths found by branching on the first token instead of
prompting for them, chosen by how sure the model is of their answer.

For each problem the generator lists its k most likely first tokens (`TopTokens`); each branch is continued
greedily (one generator call for all branches of all problems); every answer is located in its text (the
last occurrence of the extracted answer) and its confidence is the mean p(top1) - p(top2) over the answer's
tokens (`AnswerMargins`, one scoring forward). `selection`: "max" takes the branch with the largest margin;
"aggregate" sums margins per answer and takes the answer with the largest total (the paper's weighted
aggregation). Branches with no answer have margin 0. Branch 0 (the most likely first token) is greedy
decoding itself. The ledger counts the prefill that ranked the first tokens, every greedy continuation and
the scoring forward (all run by the generator's model, so in generator FLOPs and prompt tokens).
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

from ttc.contracts.errors import ConfigError, bad_choice
from ttc.contracts.protocols import AnswerMargins, Extractor, Generator, TopTokens, Verifier
from ttc.contracts.records import Candidate, Ledger, Problem, ProblemResult, SamplingParams, ledger_of
from ttc.contracts.rules import candidate_key, vote
from ttc.contracts.vocab import COT_SELECTIONS, CotSelection
from ttc.strategies.common import budget_of



def answer_span(text: str, answer: str | None) -> tuple[int, int] | None:
    """Character span of the last occurrence of `answer` in `text`."""
    if answer is None or answer not in text:
        return None
    start = text.rindex(answer)
    return start, start + len(answer)


class CoTDecoding:
    """Top-k first-token branching with greedy continuations, chosen by answer confidence."""

    def __init__(self, k: int = 10, selection: CotSelection = "max", max_tokens: int = 160, stop: Sequence[str] = (),
                 name: str | None = None) -> None:
        if selection not in COT_SELECTIONS:
            raise bad_choice("strategy.selection", selection, COT_SELECTIONS)
        self.budget = budget_of(k, "k", "branches")
        self.k, self.selection = int(k), selection
        self.params = SamplingParams(temperature=0.0, max_tokens=max_tokens, stop=tuple(stop))
        self.name = name or "cot_decoding"

    def reads_verifier(self) -> bool:
        """VerifierUse (ttc.contracts.protocols): branches are chosen by their answer margins; no verifier is built for it."""
        return False

    def run(self, problems: Sequence[Problem], generator: Generator, verifier: Verifier | None,
            extract: Extractor, seed: int) -> list[ProblemResult]:
        """Strategy.run (ttc.contracts.protocols): every branch per problem, the chosen one and the ledger."""
        if not (isinstance(generator, TopTokens) and isinstance(generator, AnswerMargins)):
            raise ConfigError(f"strategy={self.name} needs the model's next-token distribution: use an HF generator "
                              f"(generator=tiny, smollm2_135m)")
        options, ranked = generator.top_tokens([p.prompt for p in problems], self.k)
        starts = [(i, tok, lp) for i, opts in enumerate(options) for tok, lp in opts]
        outs = generator.generate([problems[i].prompt + tok for i, tok, _ in starts], self.params, [[0]] * len(starts))
        branches: list[list] = [[] for _ in problems]
        for (i, tok, lp), [c] in zip(starts, outs):
            text = tok + c.text
            branches[i].append((dataclasses.replace(c, text=text, generated_tokens=c.generated_tokens + 1,
                                                    logprob=c.logprob + lp), extract(text)))
        spans = [(i, j, answer_span(c.text, a)) for i, row in enumerate(branches) for j, (c, a) in enumerate(row)]
        found = [(i, j, sp) for i, j, sp in spans if sp is not None]
        margins = generator.answer_margins([problems[i].prompt for i, _, _ in found],
                                           [branches[i][j][0].text for i, j, _ in found], [sp for _, _, sp in found])
        conf: dict[tuple[int, int], float] = {}
        read = [Ledger() for _ in problems]
        for (i, j, _), (m, tokens, flops) in zip(found, margins):
            conf[(i, j)] = m
            read[i] = read[i] + Ledger(prompt_tokens=tokens, generator_flops=flops)
        results = []
        for i, (p, row) in enumerate(zip(problems, branches)):
            margin = [conf.get((i, j), 0.0) for j in range(len(row))]
            chosen = self._choose([a for _, a in row], margin, seed, p.id)
            ledger = ledger_of([c for c, _ in row]) + read[i] + Ledger(prompt_tokens=ranked[i][0],
                                                                       generator_flops=ranked[i][1])
            cands = tuple(Candidate(c, a, None, {"first_token": c.text[: len(options[i][j][0])],
                                                 "first_logprob": round(options[i][j][1], 6),
                                                 "margin": round(margin[j], 6)})
                          for j, (c, a) in enumerate(row))
            results.append(ProblemResult(p.id, cands, chosen, ledger, self.budget))
        return results

    def _choose(self, answers: list[str | None], margin: list[float], seed: int, pid: str) -> int:
        keys = [candidate_key(seed, pid, j) for j in range(len(answers))]
        if self.selection == "max":
            return max(range(len(answers)), key=lambda j: (margin[j], keys[j]))
        best = vote(answers, margin, seed, pid)
        if best is None:
            return max(range(len(answers)), key=lambda j: keys[j])
        return max((j for j, a in enumerate(answers) if a == best), key=lambda j: (margin[j], keys[j]))
