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
from ttc.strategies.common import reusing_prefixes
from ttc.contracts.records import (Budget, Candidate, Completion, Ledger, Problem, ProblemResult, SamplingParams, Verdict,
                             joined, ledger_of, verifier_cost)
from ttc.contracts.rules import sample_seed, select

KINDS = ("beam", "dvts", "tot")
SELECTIONS = ("verifier", "weighted_vote", "majority")


@dataclasses.dataclass
class _Path:
    """A partial solution: its text so far, the completions that wrote it, its subtree and last score."""

    text: str
    parts: list[Completion]
    tree: int
    score: float = 0.0
    verdict: Verdict | None = None


def step_seeds(seed: int, problem_id: str, step: int, path: int, fanout: int) -> list[int]:
    """The seeds of the `fanout` samples that extend live path `path` of a problem in round `step`: each hashes
    (round, path, child), so no two draws of a run share a seed at any fan-out (n=4096 included)."""
    return [sample_seed(seed, problem_id, (step, path, k)) for k in range(fanout)]


def step_score(v: Verdict) -> float:
    """A PRM's score of the newest step (search-and-learn's "last"); an ORM's score otherwise."""
    return v.step_scores[-1] if v.step_scores else v.score


class StepSearch:
    """PRM-guided step search (beam, DVTS, lookahead); see the module docstring."""

    def __init__(self, n: int = 16, width: int = 4, kind: str = "beam", lookahead: int = 0, max_steps: int = 10,
                 selection: str = "verifier", temperature: float = 0.8, step_delim: str = "\n",
                 step_tokens: int = 40, name: str | None = None) -> None:
        if kind not in KINDS:
            raise bad_choice("strategy.kind", kind, KINDS)
        if selection not in SELECTIONS:
            raise bad_choice("strategy.selection", selection, SELECTIONS)
        try:
            self.budget = Budget(int(n), "samples")
        except ValueError as err:
            raise ConfigError(f"strategy.n={n}: {err}") from None
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

    def verifier_need(self) -> str:
        """VerifierNeed (ttc.contracts.protocols): step search is always guided by one."""
        return (f"strategy={self.name} is guided by a verifier: set verifier=... (a PRM, or "
                f"self_critique with steps=true)")

    # ---- the search ---------------------------------------------------------------------------------
    @reusing_prefixes
    def run(self, problems: Sequence[Problem], generator: Generator, verifier: Verifier | None,
            extract: Extractor, seed: int) -> list[ProblemResult]:
        """Strategy.run (ttc.contracts.protocols): every candidate per problem, the selected one and the ledger."""
        if verifier is None:
            raise ConfigError(self.verifier_need())
        trees = self.n // self.width if self.kind == "dvts" else 1
        live = [[_Path("", [], t) for t in range(trees)] for _ in problems]
        done: list[list[_Path]] = [[] for _ in problems]
        ledgers = [Ledger() for _ in problems]
        for step in range(self.max_steps):
            if not any(live):
                break
            fanout = [self._fanout(step, len(paths)) for paths in live]
            new = self._expand(problems, generator, live, fanout, seed, step, ledgers)
            scored = self._score(problems, generator, verifier, new, ledgers)
            for i, cands in enumerate(scored):
                complete = [self._complete(c, extract) for c in cands]
                done[i] += [c for c, ok in zip(cands, complete) if ok]
                live[i] = self._keep([c for c, ok in zip(cands, complete) if not ok])
        for i in range(len(problems)):
            done[i] += live[i]
        return [self._result(p, paths, led, extract, seed)
                for p, paths, led in zip(problems, done, ledgers)]

    def _fanout(self, step: int, n_live: int) -> int:
        if self.kind == "dvts":
            return self.width
        return self.n if step == 0 and self.kind == "beam" else self.n // self.width

    def _expand(self, problems, generator, live, fanout, seed, step, ledgers) -> list[list[_Path]]:
        prompts, seeds, owners = [], [], []
        for i, (p, paths) in enumerate(zip(problems, live)):
            for j, path in enumerate(paths):
                prompts.append(p.prompt + path.text)
                seeds.append(step_seeds(seed, p.id, step, j, fanout[i]))
                owners.append((i, path))
        outs = generator.generate(prompts, self.params, seeds) if prompts else []
        new: list[list[_Path]] = [[] for _ in problems]
        for (i, path), row in zip(owners, outs):
            ledgers[i] = ledgers[i] + ledger_of(list(row))
            for c in row:
                text = path.text + c.text + (self.delim if c.stop_reason == self.delim else "")
                new[i].append(_Path(text, path.parts + [c], path.tree))
        return new

    def _score(self, problems, generator, verifier, new, ledgers) -> list[list[_Path]]:
        shown = [[c.text for c in cands] for cands in new]
        if self.lookahead:
            shown = self._rollouts(problems, generator, new, ledgers)
        verdicts = verifier.verify([p.prompt for p in problems], shown)
        for i, (cands, vs) in enumerate(zip(new, verdicts)):
            ledgers[i] = ledgers[i] + verifier_cost(vs)
            for c, v in zip(cands, vs):
                c.score, c.verdict = step_score(v), v
        return new

    def _rollouts(self, problems, generator, new, ledgers) -> list[list[str]]:
        """Each candidate continued greedily `lookahead` steps (one batched call per step); the texts scored."""
        texts = [[c.text for c in cands] for cands in new]
        for _ in range(self.lookahead):
            idx = [(i, j) for i, cands in enumerate(texts) for j, t in enumerate(cands) if t.endswith(self.delim)]
            if not idx:
                break
            outs = generator.generate([problems[i].prompt + texts[i][j] for i, j in idx], self.greedy, [[0]] * len(idx))
            for (i, j), row in zip(idx, outs):
                c = row[0]
                ledgers[i] = ledgers[i] + ledger_of([c])
                texts[i][j] += c.text + (self.delim if c.stop_reason == self.delim else "")
        return texts

    def _complete(self, path: _Path, extract: Extractor) -> bool:
        return extract(path.text) is not None or not path.text.endswith(self.delim)

    def _keep(self, cands: list[_Path]) -> list[_Path]:
        # scores equal to 1e-6 are ties, kept in generation order: the float noise of a batch's layout (padding,
        # reused prefixes) must not reorder duplicates
        ranked = sorted(cands, key=lambda c: -round(c.score, 6))
        if self.kind in ("beam", "tot"):
            return ranked[:self.width]
        best: dict[int, _Path] = {}
        for c in ranked:
            best.setdefault(c.tree, c)
        return [best[t] for t in sorted(best)]

    def _result(self, problem, paths, ledger, extract, seed) -> ProblemResult:
        if not paths:
            raise ConfigError(f"strategy={self.name}: no candidate for problem {problem.id}")
        answers = [extract(p.text) for p in paths]
        scores = [p.verdict.score if p.verdict else 0.0 for p in paths]
        rule = {"verifier": "verifier", "weighted_vote": "weighted_vote", "majority": "majority"}[self.selection]
        chosen = select(rule, answers, scores, [0.0] * len(paths), [1] * len(paths), seed, problem.id)
        cands = tuple(Candidate(joined(p.parts, p.text, k), a, p.verdict,
                                {"tree": p.tree, "steps": len(p.parts), "step_score": round(p.score, 6)})
                      for k, (p, a) in enumerate(zip(paths, answers)))
        return ProblemResult(problem.id, cands, chosen, ledger, self.budget)
