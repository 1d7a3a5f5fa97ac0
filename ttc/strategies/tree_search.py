"""Step-level search that spends a fixed width where a process verifier points: REBASE and particle filtering.

Both grow solutions one step at a time (a step ends at `step_delim`, as in ttc.strategies.step_search) with a
budget of `n` and batch every round across all live nodes of all problems: one generator call and one
verifier call per round.
- REBASE (Wu et al., "Inference scaling laws"): the root is sampled n times; at every depth each live node i
  gets round(B * softmax(r / T)_i) children, where r are the verifier's scores of the live nodes, T is
  `reward_temperature` and B = n minus the solutions already completed (largest-remainder rounding, so the
  children add up to B exactly); nodes given no child are pruned. The search ends when B = 0 or no node lives.
- Particle filtering (Puri et al.; its_hub): n particles, each extended by one sampled step per round and
  weighted by logit(score) / T; then n particles are resampled from all of them (`resampling`: multinomial
  or systematic, seeded per problem and round), completed ones included (they stay complete, with the
  weight of their last score). The search ends when every particle is complete.
A candidate is complete when `extract` finds an answer or it ended without a step delimiter; after
`max_steps` rounds the live ones are completed as they are. The answer is chosen by `selection` among the
final candidates (verifier: the highest last score; weighted_vote; majority). The ledger counts every token
generated and every token the verifier read, once per call that spent it (a resampled duplicate costs nothing
until it is extended again).
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from ttc.contracts.errors import ConfigError, bad_choice
from ttc.contracts.protocols import Extractor, Generator, Verifier
from ttc.strategies.common import reusing_prefixes
from ttc.contracts.records import (Budget, Candidate, Ledger, Problem, ProblemResult, SamplingParams, joined,
                                   ledger_of, verifier_cost)
from ttc.contracts.rules import sample_seed, select
from ttc.strategies.step_search import _Path, step_score

SELECTIONS = ("verifier", "weighted_vote", "majority")
RESAMPLING = ("multinomial", "systematic")


def allocate(scores: Sequence[float], total: int, temperature: float) -> list[int]:
    """REBASE's children per node: `total` split in proportion to softmax(scores / temperature), rounded by
    largest remainder (ties to the earlier node) so that the counts add up to `total`."""
    if total <= 0 or not scores:
        return [0] * len(scores)
    z = np.asarray(scores, dtype=float) / temperature
    share = np.exp(z - z.max())
    share = total * share / share.sum()
    counts = np.floor(share).astype(int)
    order = sorted(range(len(scores)), key=lambda i: (-(share[i] - counts[i]), i))
    for i in order[: total - int(counts.sum())]:
        counts[i] += 1
    return counts.tolist()


def resample(weights: Sequence[float], k: int, method: str, rng: np.random.Generator) -> list[int]:
    """`k` indices drawn in proportion to `weights` (log weights), by multinomial or systematic resampling."""
    w = np.asarray(weights, dtype=float)
    p = np.exp(w - w.max())
    p /= p.sum()
    if method == "multinomial":
        return sorted(rng.choice(len(p), size=k, p=p).tolist())
    edges = np.cumsum(p)
    edges[-1] = 1.0
    points = (rng.random() + np.arange(k)) / k
    return np.searchsorted(edges, points, side="right").tolist()


def logit(score: float) -> float:
    """log(s / (1 - s)), clipped at 1e-7 from 0 and 1 (its_hub's weight of a PRM score)."""
    s = min(max(score, 1e-7), 1 - 1e-7)
    return math.log(s / (1 - s))


class _Tree:
    """What REBASE and particle filtering share: the step parameters, expansion, scoring and results."""

    def __init__(self, n: int, max_steps: int, selection: str, temperature: float, step_delim: str,
                 step_tokens: int) -> None:
        if selection not in SELECTIONS:
            raise bad_choice("strategy.selection", selection, SELECTIONS)
        try:
            self.budget = Budget(int(n), "samples")
        except ValueError as err:
            raise ConfigError(f"strategy.n={n}: {err}") from None
        if max_steps < 1:
            raise ConfigError(f"strategy.max_steps={max_steps} must be at least 1")
        self.n, self.max_steps, self.selection, self.delim = int(n), int(max_steps), selection, step_delim
        self.params = SamplingParams(temperature=temperature, max_tokens=step_tokens, stop=(step_delim,))

    def verifier_need(self) -> str:
        """VerifierNeed (ttc.contracts.protocols): this search is always guided by a verifier."""
        return (f"strategy={self.name} is guided by a verifier: set verifier=... (a PRM, or "
                f"self_critique with steps=true)")

    def _expand(self, problems, generator, plans, seed, step, ledgers) -> list[list[_Path]]:
        """plans[i]: (path, children, slot) per node; one generator call for all of them."""
        prompts, seeds, owners = [], [], []
        for i, (p, plan) in enumerate(zip(problems, plans)):
            for path, children, slot in plan:
                if children:
                    prompts.append(p.prompt + path.text)
                    seeds.append([sample_seed(seed, p.id, (step * 2**20 + slot) * 2**20 + k) for k in range(children)])
                    owners.append((i, path))
        outs = generator.generate(prompts, self.params, seeds) if prompts else []
        new: list[list[_Path]] = [[] for _ in problems]
        for (i, path), row in zip(owners, outs):
            ledgers[i] = ledgers[i] + ledger_of(list(row))
            for c in row:
                text = path.text + c.text + (self.delim if c.stop_reason == self.delim else "")
                new[i].append(_Path(text, path.parts + [c], path.tree))
        return new

    def _score(self, problems, verifier, new, ledgers) -> None:
        verdicts = verifier.verify([p.prompt for p in problems], [[c.text for c in cands] for cands in new])
        for i, (cands, vs) in enumerate(zip(new, verdicts)):
            ledgers[i] = ledgers[i] + verifier_cost(vs)
            for c, v in zip(cands, vs):
                c.score, c.verdict = step_score(v), v

    def _complete(self, path: _Path, extract: Extractor) -> bool:
        return extract(path.text) is not None or not path.text.endswith(self.delim)

    def _result(self, problem, paths, ledger, extract, seed, info) -> ProblemResult:
        if not paths:
            raise ConfigError(f"strategy={self.name}: no candidate for problem {problem.id}")
        answers = [extract(p.text) for p in paths]
        scores = [p.verdict.score if p.verdict else 0.0 for p in paths]
        chosen = select(self.selection, answers, scores, [0.0] * len(paths), [1] * len(paths), seed, problem.id)
        cands = tuple(Candidate(joined(p.parts, p.text, k), a, p.verdict,
                                {"steps": len(p.parts), "step_score": round(p.score, 6), **info})
                      for k, (p, a) in enumerate(zip(paths, answers)))
        return ProblemResult(problem.id, cands, chosen, ledger, self.budget)


class Rebase(_Tree):
    """REBASE tree search; see the module docstring."""

    def __init__(self, n: int = 16, reward_temperature: float = 0.2, max_steps: int = 10,
                 selection: str = "weighted_vote", temperature: float = 0.8, step_delim: str = "\n",
                 step_tokens: int = 40, name: str | None = None) -> None:
        super().__init__(n, max_steps, selection, temperature, step_delim, step_tokens)
        if reward_temperature <= 0:
            raise ConfigError(f"strategy.reward_temperature={reward_temperature} must be positive")
        self.reward_temperature = float(reward_temperature)
        self.name = name or "rebase"

    @reusing_prefixes
    def run(self, problems: Sequence[Problem], generator: Generator, verifier: Verifier | None,
            extract: Extractor, seed: int) -> list[ProblemResult]:
        """Strategy.run (ttc.contracts.protocols): every completed solution per problem and the ledger."""
        if verifier is None:
            raise ConfigError(self.verifier_need())
        plans = [[(_Path("", [], 0), self.n, 0)] for _ in problems]
        done: list[list[_Path]] = [[] for _ in problems]
        ledgers = [Ledger() for _ in problems]
        for step in range(self.max_steps):
            if not any(plans):
                break
            new = self._expand(problems, generator, plans, seed, step, ledgers)
            self._score(problems, verifier, new, ledgers)
            for i, cands in enumerate(new):
                live = []
                for c in cands:
                    (done[i] if self._complete(c, extract) else live).append(c)
                left = self.n - len(done[i])
                last = step == self.max_steps - 1
                if last or left <= 0:
                    done[i] += live if last else []
                    plans[i] = []
                    continue
                counts = allocate([c.score for c in live], left, self.reward_temperature)
                plans[i] = [(c, k, j) for j, (c, k) in enumerate(zip(live, counts)) if k]
        return [self._result(p, paths, led, extract, seed, {}) for p, paths, led in zip(problems, done, ledgers)]


class ParticleFilter(_Tree):
    """Particle filtering over reasoning steps; see the module docstring."""

    def __init__(self, n: int = 16, weight_temperature: float = 1.0, resampling: str = "systematic",
                 max_steps: int = 10, selection: str = "verifier", temperature: float = 0.8, step_delim: str = "\n",
                 step_tokens: int = 40, name: str | None = None) -> None:
        super().__init__(n, max_steps, selection, temperature, step_delim, step_tokens)
        if resampling not in RESAMPLING:
            raise bad_choice("strategy.resampling", resampling, RESAMPLING)
        if weight_temperature <= 0:
            raise ConfigError(f"strategy.weight_temperature={weight_temperature} must be positive")
        self.weight_temperature, self.resampling = float(weight_temperature), resampling
        self.name = name or "particle_filter"

    @reusing_prefixes
    def run(self, problems: Sequence[Problem], generator: Generator, verifier: Verifier | None,
            extract: Extractor, seed: int) -> list[ProblemResult]:
        """Strategy.run (ttc.contracts.protocols): the n final particles per problem and the ledger."""
        if verifier is None:
            raise ConfigError(self.verifier_need())
        particles = [[_Path("", [], 0)] * self.n for _ in problems]
        complete = [[False] * self.n for _ in problems]
        ledgers = [Ledger() for _ in problems]
        for step in range(self.max_steps):
            if all(all(c) for c in complete):
                break
            plans = [[(p, 1, j) for j, (p, ok) in enumerate(zip(ps, cs)) if not ok]
                     for ps, cs in zip(particles, complete)]
            new = self._expand(problems, generator, plans, seed, step, ledgers)
            self._score(problems, verifier, new, ledgers)
            for i, (prob, fresh) in enumerate(zip(problems, new)):
                if not fresh:  # every particle complete: nothing moved, so nothing is resampled (batch-independent)
                    continue
                slots = [j for j, ok in enumerate(complete[i]) if not ok]
                for j, c in zip(slots, fresh):
                    particles[i][j] = c
                    complete[i][j] = self._complete(c, extract) or step == self.max_steps - 1
                weights = [logit(p.score) / self.weight_temperature for p in particles[i]]
                rng = np.random.default_rng(sample_seed(seed, prob.id, 10**9 + step))
                picks = resample(weights, self.n, self.resampling, rng)
                particles[i] = [particles[i][k] for k in picks]
                complete[i] = [complete[i][k] for k in picks]
        return [self._result(p, ps, led, extract, seed, {"resampling": self.resampling})
                for p, ps, led in zip(problems, particles, ledgers)]
