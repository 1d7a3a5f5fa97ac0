"""Records that cannot drift: `joined` keeps every field of its parts, one helper books a verifier's cost in
every strategy, and the draws of a step search never share a seed, even at a fan-out of 4,096."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import zlib

import pytest
from test_step_search import PROBLEMS, Counting, CountingPRM

from ttc.contracts import records
from ttc.contracts.records import Completion, Ledger, Problem, Verdict, joined, ledger_of, verifier_cost
from ttc.contracts.rules import sample_seed
from ttc.strategies.mcts import MCTS
from ttc.strategies.step_search import StepSearch
from ttc.strategies.tree_search import ParticleFilter, Rebase
from ttc.tasks.arith import extract_answer

# How joined combines each non-numeric field of Completion; every other field must be a number, and is summed.
NOT_SUMMED = {"index": "given", "text": "given", "seed": "first", "finish_reason": "last", "stop_reason": "last",
              "token_logprobs": "concat", "token_confidence": "concat", "dollars": "priced"}


def part(k: int, cls: type = Completion) -> Completion:
    """Part k of a joined completion with every field set: numbers non-zero and different in every field and
    part, per-token sequences of k + 1 entries."""
    values: dict = {"text": f"part{k}", "finish_reason": f"finish{k}", "stop_reason": f"stop{k}",
                    "token_logprobs": tuple(-0.5 * k - j for j in range(k + 1)),
                    "token_confidence": tuple(1.5 + k + j for j in range(k + 1))}
    for pos, f in enumerate(dataclasses.fields(cls)):
        if f.name not in values:
            number = (pos + 1) * 10 + k + 1
            values[f.name] = float(number) + 0.25 if f.type in ("float", "float | None") else number
    return cls(**values)


def test_joined_sums_every_numeric_field_and_keeps_the_rest():
    parts = [part(k) for k in range(3)]
    whole = joined(parts, "the whole text", index=7)
    for f in dataclasses.fields(Completion):
        got, column = getattr(whole, f.name), [getattr(c, f.name) for c in parts]
        rule = NOT_SUMMED.get(f.name)
        if rule is None:
            assert f.type in ("int", "float"), f"Completion.{f.name} is new: say how joined combines it"
            assert got == sum(column) and got != 0, f.name
        elif rule == "first":
            assert got == column[0], f.name
        elif rule == "last":
            assert got == column[-1], f.name
        elif rule == "concat":
            assert got == tuple(x for t in column for x in t) and len(got) == 6, f.name
        elif rule == "priced":  # summed where every part is priced; unpriced (None) if any part is
            assert got == sum(column) and got != 0, f.name
    assert (whole.index, whole.text) == (7, "the whole text")
    unpriced = joined([parts[0], dataclasses.replace(parts[1], dollars=None)], "x")
    assert unpriced.dollars is None and unpriced.flops == parts[0].flops + parts[1].flops


def test_joined_of_one_part_is_that_part():
    c = part(2)
    assert joined([c], c.text, c.index) == c


def test_a_new_completion_field_is_summed_or_refused(monkeypatch):
    """A new number is a cost and adds up; a new field of any other type has no rule, and joined says so."""

    @dataclasses.dataclass(frozen=True)
    class WithRetries(Completion):
        retries: int = 0

    @dataclasses.dataclass(frozen=True)
    class WithNote(Completion):
        note: str = ""

    monkeypatch.setattr(records, "Completion", WithRetries)
    parts = [part(k, WithRetries) for k in range(2)]
    assert joined(parts, "x").retries == parts[0].retries + parts[1].retries > 0
    monkeypatch.setattr(records, "Completion", WithNote)
    with pytest.raises(TypeError, match=r"Completion.note \(str\) has no rule in records.joined"):
        joined([part(k, WithNote) for k in range(2)], "x")


def verdicts() -> list[Verdict]:
    return [Verdict(0.5, tokens=10 + k, flops=100.0 * (k + 1), step_scores=(0.5,), cached_tokens=3 + k)
            for k in range(3)]


def test_verifier_cost_books_every_verifier_field_of_the_ledger():
    cost = verifier_cost(verdicts())
    assert cost == Ledger(verifier_tokens=33, verifier_flops=600.0, verifier_cached_tokens=12)
    spent = [f.name for f in dataclasses.fields(Ledger) if f.name.startswith("verifier_")]
    assert all(getattr(cost, name) for name in spent), spent  # a new verifier field of Ledger must be booked
    assert verifier_cost([]) == Ledger() and verifier_cost(iter(verdicts())) == cost


def test_ledger_of_books_every_field_but_wall_clock():
    parts = [part(k) for k in range(3)]
    ledger = ledger_of(parts, verdicts())
    unbooked = [f.name for f in dataclasses.fields(Ledger) if not getattr(ledger, f.name)]
    assert unbooked == ["wall_s"]  # the run loop times the call; everything else is summed from the records
    assert ledger.prompt_tokens == sum(c.prompt_tokens - c.cached_tokens for c in parts)
    assert ledger == ledger_of(parts) + verifier_cost(verdicts())


class CachingPRM(CountingPRM):
    """CountingPRM whose judge says a third of what it read came from a cache (outside tokens and FLOPs)."""

    def __init__(self):
        super().__init__()
        self.cached = 0

    def verify(self, prompts, solutions):
        out = super().verify(prompts, solutions)
        rows = [[dataclasses.replace(v, cached_tokens=v.tokens // 3 + 1) for v in row] for row in out]
        self.cached += sum(v.cached_tokens for row in rows for v in row)
        return rows


@pytest.mark.parametrize("strategy", [StepSearch(n=8, width=2), StepSearch(n=8, width=2, kind="dvts"),
                                      Rebase(n=8), ParticleFilter(n=8), MCTS(simulations=5, expand=2)],
                         ids=lambda s: s.name)
def test_every_search_books_what_its_verifier_read_and_reused(strategy):
    gen, prm = Counting(), CachingPRM()
    results = strategy.run(PROBLEMS, gen, prm, extract_answer, seed=0)
    assert sum(r.ledger.verifier_tokens for r in results) == prm.read
    assert sum(r.ledger.verifier_cached_tokens for r in results) == prm.cached > 0  # MCTS's rollouts included
    assert sum(r.ledger.verifier_flops for r in results) == 2.0 * prm.read


class SeedRecorder:
    """A fake generator whose every sample is one more step (never an answer); records the sampled seeds."""

    name = "seed-recorder"

    def __init__(self):
        self.seeds: list[int] = []

    def generate(self, prompts, params, seeds):
        if params.temperature > 0:
            self.seeds += [s for row in seeds for s in row]
        return [[Completion(index=j, seed=s, text=f"s{s % 5}", prompt_tokens=1, cached_tokens=0, generated_tokens=1,
                            logprob=-1.0, finish_reason="stop", flops=1.0, stop_reason="\n")
                 for j, s in enumerate(row)] for row in seeds]


class HashPRM:
    """A fake verifier: a fixed pseudo-random score per text."""

    name = "hash-prm"

    def verify(self, prompts, solutions):
        return [[Verdict(score=(zlib.crc32(s.encode()) % 1000) / 1000, tokens=1, flops=1.0) for s in sols]
                for sols in solutions]


@pytest.mark.parametrize("kind,per_problem", [("beam", 4096 + 2 * 4 * 1024), ("dvts", 3 * 1024 * 4),
                                              ("tot", 1024 + 2 * 4 * 1024)])
def test_a_4096_wide_step_search_never_draws_a_seed_twice(kind, per_problem):
    """n=4096, width 4, three rounds, three problems: every sibling, beam, subtree and round draws its own seed
    (the old (round*1000 + path)*1000 + child collided from round 1 on, once a fan-out reached 1,000)."""
    gen = SeedRecorder()
    problems = [Problem(f"p{i}", f"Q{i}\n", "") for i in range(3)]
    StepSearch(n=4096, width=4, kind=kind, max_steps=3).run(problems, gen, HashPRM(), lambda text: None, seed=0)
    assert len(gen.seeds) == 3 * per_problem
    assert len(set(gen.seeds)) == len(gen.seeds)


def test_sample_numbers_keep_their_seeds_and_search_tuples_are_stable_across_processes():
    assert sample_seed(1, "q0", 3) == 1165914353449896192  # best-of-n and friends: unchanged by tuple seeds
    code = "from ttc.contracts.rules import sample_seed; print(sample_seed(0, 'q1', (1, 2, 3)))"
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert int(out.stdout) == sample_seed(0, "q1", (1, 2, 3)) == 2853246266824717778
    assert sample_seed(0, "q1", (1, 2, 3)) != sample_seed(0, "q1", (1, 2, 4)) != sample_seed(0, "q2", (1, 2, 4))
    assert 0 <= sample_seed(7, "q1", (0,)) < 2**62
