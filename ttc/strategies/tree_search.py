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

import dataclasses
import math
from typing import Sequence

import numpy as np

from ttc.contracts.errors import ConfigError, bad_choice
from ttc.contracts.protocols import Extractor, Generator, Verifier
from ttc.contracts.records import Budget, Ledger, Problem, ProblemResult, SamplingParams
from ttc.contracts.rules import sample_seed
from ttc.contracts.trees import Grove
from ttc.contracts.vocab import RESAMPLINGS, SEARCH_SELECTIONS, Resampling, SearchSelection
from ttc.strategies.common import budget_of, guided_search
from ttc.strategies.steps import (Ask, Path, expand_round, always_guided, is_complete, partition, result, score_round,
                                  step_info)



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


def tree_seeds(seed: int, problem_id: str, step: int, slot: int, children: int) -> list[int]:
    """The seeds of the `children` samples that extend node `slot` of a problem in round `step`."""
    return [sample_seed(seed, problem_id, (step * 2**20 + slot) * 2**20 + k) for k in range(children)]


@dataclasses.dataclass(frozen=True)
class TreeSettings:
    """What REBASE and particle filtering are both set with: the budget, how a step is sampled (it stops at
    `delim`), the most rounds and the selection rule."""

    budget: Budget
    params: SamplingParams
    delim: str
    max_steps: int
    selection: SearchSelection


def tree_settings(n: int, max_steps: int, selection: SearchSelection, temperature: float, step_delim: str,
                  step_tokens: int) -> TreeSettings:
    """The settings, checked; ConfigError names the first bad one."""
    if selection not in SEARCH_SELECTIONS:
        raise bad_choice("strategy.selection", selection, SEARCH_SELECTIONS)
    budget = budget_of(n, "n", "samples")
    if max_steps < 1:
        raise ConfigError(f"strategy.max_steps={max_steps} must be at least 1")
    return TreeSettings(budget, SamplingParams(temperature=temperature, max_tokens=step_tokens, stop=(step_delim,)),
                        step_delim, int(max_steps), selection)


class Rebase:
    """REBASE tree search; see the module docstring."""

    verifier_need = always_guided

    def __init__(self, n: int = 16, reward_temperature: float = 0.2, max_steps: int = 10,
                 selection: SearchSelection = "weighted_vote", temperature: float = 0.8, step_delim: str = "\n",
                 step_tokens: int = 40, name: str | None = None) -> None:
        self.settings = tree_settings(n, max_steps, selection, temperature, step_delim, step_tokens)
        self.budget = self.settings.budget
        if reward_temperature <= 0:
            raise ConfigError(f"strategy.reward_temperature={reward_temperature} must be positive")
        self.reward_temperature = float(reward_temperature)
        self.name = name or "rebase"

    @guided_search
    def run(self, problems: Sequence[Problem], generator: Generator, verifier: Verifier | None,
            extract: Extractor, seed: int) -> list[ProblemResult]:
        """Strategy.run (ttc.contracts.protocols): every completed solution per problem and the ledger."""
        plans = [[(Path(), self.budget.amount, 0)] for _ in problems]  # (node, children, slot) per node to expand
        done: list[list[Path]] = [[] for _ in problems]
        ledgers, grove = [Ledger() for _ in problems], Grove(len(problems))
        n, s = self.budget.amount, self.settings
        for step in range(s.max_steps):
            if not any(plans):
                break
            asks = [Ask(i, path, tree_seeds(seed, p.id, step, slot, k))
                    for i, (p, plan) in enumerate(zip(problems, plans)) for path, k, slot in plan if k]
            new = expand_round(problems, generator, s.params, asks, s.delim, ledgers, grove, step)
            for i, cands in enumerate(score_round(verifier, problems, new, ledgers, grove=grove)):
                complete, live = partition(cands, extract, s.delim)
                done[i] += complete
                left = n - len(done[i])
                last = step == s.max_steps - 1
                if last or left <= 0:
                    done[i] += live if last else []
                    grove.fate(i, [] if last else [c.node for c in live], "pruned")
                    plans[i] = []
                    continue
                counts = allocate([c.score for c in live], left, self.reward_temperature)
                plans[i] = [(c, k, j) for j, (c, k) in enumerate(zip(live, counts)) if k]
                for c, k in zip(live, counts):
                    grove.fate(i, [c.node], "kept" if k else "pruned", children=k)
        return [result(p, paths, led, extract, seed, name=self.name, budget=self.budget, rule=s.selection,
                       info=lambda k, path: step_info(path), tree=(grove, i))
                for i, (p, paths, led) in enumerate(zip(problems, done, ledgers))]


class ParticleFilter:
    """Particle filtering over reasoning steps; see the module docstring."""

    verifier_need = always_guided

    def __init__(self, n: int = 16, weight_temperature: float = 1.0, resampling: Resampling = "systematic",
                 max_steps: int = 10, selection: SearchSelection = "verifier", temperature: float = 0.8, step_delim: str = "\n",
                 step_tokens: int = 40, name: str | None = None) -> None:
        self.settings = tree_settings(n, max_steps, selection, temperature, step_delim, step_tokens)
        self.budget = self.settings.budget
        if resampling not in RESAMPLINGS:
            raise bad_choice("strategy.resampling", resampling, RESAMPLINGS)
        if weight_temperature <= 0:
            raise ConfigError(f"strategy.weight_temperature={weight_temperature} must be positive")
        self.weight_temperature, self.resampling = float(weight_temperature), resampling
        self.name = name or "particle_filter"

    @guided_search
    def run(self, problems: Sequence[Problem], generator: Generator, verifier: Verifier | None,
            extract: Extractor, seed: int) -> list[ProblemResult]:
        """Strategy.run (ttc.contracts.protocols): the n final particles per problem and the ledger."""
        n, s = self.budget.amount, self.settings
        particles = [[Path()] * n for _ in problems]
        complete = [[False] * n for _ in problems]
        ledgers, grove = [Ledger() for _ in problems], Grove(len(problems))
        for step in range(s.max_steps):
            if all(all(c) for c in complete):
                break
            asks = [Ask(i, path, tree_seeds(seed, p.id, step, j, 1))
                    for i, (p, ps, cs) in enumerate(zip(problems, particles, complete))
                    for j, (path, ok) in enumerate(zip(ps, cs)) if not ok]
            new = expand_round(problems, generator, s.params, asks, s.delim, ledgers, grove, step)
            for i, (prob, fresh) in enumerate(zip(problems, score_round(verifier, problems, new, ledgers,
                                                                        grove=grove))):
                if not fresh:  # every particle complete: nothing moved, so nothing is resampled (batch-independent)
                    continue
                slots = [j for j, ok in enumerate(complete[i]) if not ok]
                for j, c in zip(slots, fresh):
                    particles[i][j] = c
                    complete[i][j] = is_complete(c.text, extract, s.delim) or step == s.max_steps - 1
                weights = [logit(p.score) / self.weight_temperature for p in particles[i]]
                rng = np.random.default_rng(sample_seed(seed, prob.id, 10**9 + step))
                picks = resample(weights, n, self.resampling, rng)
                draws(grove, i, step, particles[i], weights, picks)
                particles[i] = [particles[i][k] for k in picks]
                complete[i] = [complete[i][k] for k in picks]
        return [result(p, ps, led, extract, seed, name=self.name, budget=self.budget, rule=s.selection,
                       info=lambda k, path: {**step_info(path), "resampling": self.resampling}, tree=(grove, i))
                for i, (p, ps, led) in enumerate(zip(problems, particles, ledgers))]


def draws(grove: Grove, problem: int, step: int, particles: Sequence[Path], weights: Sequence[float],
          picks: Sequence[int]) -> None:
    """Record a resampling round on the particles' nodes: each distinct node's normalised weight (its slots'
    together) and the copies drawn of it, appended to its `draws` as [round, weight, copies]; a node drawn no
    copy is "resampled" away (kept otherwise)."""
    p = np.exp(np.asarray(weights, dtype=float) - max(weights))
    p /= p.sum()
    share: dict[int, float] = {}
    copies: dict[int, int] = {}
    for slot, path in enumerate(particles):
        share[path.node] = share.get(path.node, 0.0) + float(p[slot])
        copies.setdefault(path.node, 0)
    for k in picks:
        copies[particles[k].node] += 1
    for node, w in share.items():
        grove.log(problem, node, "draws", [step, round(w, 8), copies[node]])
        grove.fate(problem, [node], "kept" if copies[node] else "resampled")
