"""Step-level search guided by a process verifier: beam search, diverse verifier tree search, lookahead.

A solution grows one step at a time (a step ends at `step_delim`). With a budget of `n` candidates and beam
width `width` (Snell et al.; search-and-learn):
- kind="beam": the root is sampled n times; each round keeps the `width` best live partial solutions by the
  verifier's score of their last step and expands each by n // width samples;
- kind="dvts": n // width independent subtrees, each a greedy beam: every round expands the subtree's one
  live path by `width` samples and keeps its best;
- kind="tot" (tree of thoughts, BFS; Yao et al.): every state, the root included, proposes k = n // width
  next steps; all proposals are valued by the verifier (a PRM, or the model's own judgement with
  verifier=self_critique) and the `width` best states are kept;
- lookahead > 0: before scoring, every new candidate is rolled out greedily `lookahead` more steps and scored
  at the rollout's end (the rollout is then dropped; its tokens are counted).
A candidate whose text has an answer (`extract` finds one) or that ended without a step delimiter is
complete and set aside; after `max_steps` rounds the live ones are completed as they are. The final answer
is chosen among completed candidates by `selection` (verifier, weighted_vote or majority).

Every round makes one generator call for all live beams of all problems (plus one per lookahead step) and
one verifier call. The ledger counts every token generated once (a kept beam's prefix is not re-counted),
every prefix re-read at each round (and the share a prefix cache served), rollout tokens, and every token
the verifier read.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

from ttc.contracts.errors import ConfigError, bad_choice
from ttc.contracts.protocols import Extractor, Generator, Verifier
from ttc.contracts.records import Ledger, Problem, ProblemResult, SamplingParams
from ttc.contracts.rules import sample_seed
from ttc.contracts.trees import Grove
from ttc.contracts.vocab import SEARCH_KINDS, SEARCH_SELECTIONS, SearchKind, SearchSelection
from ttc.strategies.common import budget_of, guided_search
from ttc.strategies.steps import (Ask, Path, always_guided, expand_round, generate, grown, partition, result,
                                  score_round, step_info)



def step_seeds(seed: int, problem_id: str, step: int, path: int, fanout: int) -> list[int]:
    """The seeds of the `fanout` samples that extend live path `path` of a problem in round `step`: each hashes
    (round, path, child), so no two draws of a run share a seed at any fan-out (n=4096 included)."""
    return [sample_seed(seed, problem_id, (step, path, k)) for k in range(fanout)]


class StepSearch:
    """PRM-guided step search (beam, DVTS, lookahead); see the module docstring."""

    verifier_need = always_guided

    def __init__(self, n: int = 16, width: int = 4, kind: SearchKind = "beam", lookahead: int = 0, max_steps: int = 10,
                 selection: SearchSelection = "verifier", temperature: float = 0.8, step_delim: str = "\n",
                 step_tokens: int = 40, name: str | None = None) -> None:
        if kind not in SEARCH_KINDS:
            raise bad_choice("strategy.kind", kind, SEARCH_KINDS)
        if selection not in SEARCH_SELECTIONS:
            raise bad_choice("strategy.selection", selection, SEARCH_SELECTIONS)
        self.budget = budget_of(n, "n", "samples")
        if width < 1 or n < width or n % width:
            raise ConfigError(f"strategy.width={width} must be at least 1 and divide strategy.n={n}")
        if lookahead < 0 or max_steps < 1:
            raise ConfigError(f"strategy.lookahead={lookahead} must be >= 0 and strategy.max_steps={max_steps} >= 1")
        self.n, self.width, self.kind, self.lookahead, self.max_steps = int(n), int(width), kind, int(lookahead), int(max_steps)
        self.selection, self.delim = selection, step_delim
        self.params = SamplingParams(temperature=temperature, max_tokens=step_tokens, stop=(step_delim,))
        self.greedy = dataclasses.replace(self.params, temperature=0.0)
        base = {"beam": "prm_beam", "dvts": "dvts", "tot": "tot_bfs"}[kind]
        self.name = name or (f"{base}_w{width}" + (f"_la{lookahead}" if lookahead else ""))

    # ---- the search ---------------------------------------------------------------------------------
    @guided_search
    def run(self, problems: Sequence[Problem], generator: Generator, verifier: Verifier | None,
            extract: Extractor, seed: int) -> list[ProblemResult]:
        """Strategy.run (ttc.contracts.protocols): every candidate per problem, the selected one and the ledger."""
        trees = self.n // self.width if self.kind == "dvts" else 1
        live = [[Path(tree=t) for t in range(trees)] for _ in problems]
        done: list[list[Path]] = [[] for _ in problems]
        ledgers, grove = [Ledger() for _ in problems], Grove(len(problems))
        for step in range(self.max_steps):
            if not any(live):
                break
            asks = [Ask(i, path, step_seeds(seed, p.id, step, j, self._fanout(step)))
                    for i, (p, paths) in enumerate(zip(problems, live)) for j, path in enumerate(paths)]
            new = expand_round(problems, generator, self.params, asks, self.delim, ledgers, grove, step)
            shown = self._rollouts(problems, generator, new, ledgers) if self.lookahead else None
            for i, cands in enumerate(score_round(verifier, problems, new, ledgers, shown, grove)):
                complete, rest = partition(cands, extract, self.delim)
                done[i] += complete
                live[i] = self._keep(rest)
                kept = {c.node for c in live[i]}
                grove.fate(i, [c.node for c in rest if c.node not in kept], "pruned")
        return [result(p, finished + unfinished, led, extract, seed, name=self.name, budget=self.budget,
                       rule=self.selection, info=lambda k, path: {"tree": path.tree, **step_info(path)},
                       tree=(grove, i))
                for i, (p, finished, unfinished, led) in enumerate(zip(problems, done, live, ledgers))]

    def _fanout(self, step: int) -> int:
        if self.kind == "dvts":
            return self.width
        return self.n if step == 0 and self.kind == "beam" else self.n // self.width

    def _rollouts(self, problems, generator, new, ledgers) -> list[list[str]]:
        """Each candidate continued greedily `lookahead` steps (one batched call per step); the texts scored."""
        rolled = [list(cands) for cands in new]
        for _ in range(self.lookahead):
            idx = [(i, j) for i, cands in enumerate(rolled) for j, c in enumerate(cands) if c.text.endswith(self.delim)]
            if not idx:
                break
            rows = generate(problems, generator, self.greedy, [Ask(i, rolled[i][j], [0]) for i, j in idx], ledgers)
            for (i, j), row in zip(idx, rows):
                rolled[i][j] = grown(rolled[i][j], row[0], self.delim)
        return [[c.text for c in cands] for cands in rolled]

    def _keep(self, cands: list[Path]) -> list[Path]:
        # scores equal to 1e-6 are ties, kept in generation order: the float noise of a batch's layout (padding,
        # reused prefixes) must not reorder duplicates
        ranked = sorted(cands, key=lambda c: -round(c.score, 6))
        if self.kind in ("beam", "tot"):
            return ranked[:self.width]
        best: dict[int, Path] = {}
        for c in ranked:
            best.setdefault(c.tree, c)
        return [best[t] for t in sorted(best)]
