"""Strategies on the real tiny model: protocol conformance, ledgers against what was requested,
selection rules, and the verifier's view (prompt and solution text only)."""

import pytest

from ttc.contracts.errors import ConfigError
from ttc.contracts.protocols import Generator, Strategy, Task, Verifier
from ttc.contracts.records import Verdict
from ttc.strategies.beam_search import BeamSearch
from ttc.strategies.best_of_n import BestOfN
from ttc.strategies.greedy import Greedy
from ttc.tasks.arith_task import ArithTask
from ttc.verifiers.model_prob import ModelProbVerifier


class SpyVerifier:
    """Records exactly what it was shown; scores longer solutions higher."""

    name = "spy"

    def __init__(self):
        self.seen = []

    def verify(self, prompts, solutions):
        self.seen.append((list(prompts), [list(s) for s in solutions]))
        return [[Verdict(score=float(len(s)), tokens=7, flops=100.0) for s in sols] for sols in solutions]


@pytest.fixture(scope="module")
def task():
    return ArithTask(levels=[2, 4], per_level=2)


def test_components_satisfy_their_protocols(small, task):
    assert isinstance(small, Generator) and isinstance(task, Task)
    assert isinstance(ModelProbVerifier(small), Verifier)
    for s in (Greedy(), BestOfN(4), BeamSearch(2)):
        assert isinstance(s, Strategy)


def test_best_of_n_ledger_counts_what_was_generated_and_verified(small, task):
    spy = SpyVerifier()
    problems = [p.public() for p in task.problems()]
    results = BestOfN(4, selection="verifier", max_tokens=120).run(problems, small, spy, task.extract, seed=1)
    for p, r in zip(problems, results):
        plen = len(small.encode(p.prompt))
        comps = [c.completion for c in r.candidates]
        assert r.ledger.prompt_tokens == plen and r.ledger.cached_tokens == 3 * plen
        assert r.ledger.generated_tokens == sum(c.generated_tokens for c in comps)
        assert r.ledger.verifier_tokens == 4 * 7 and r.ledger.verifier_flops == 400.0
        assert r.ledger.generator_flops == pytest.approx(sum(c.flops for c in comps))
        lengths = [len(c.text) for c in comps]
        assert len(comps[r.selected].text) == max(lengths)  # the spy's argmax was selected
    [(prompts, sols)] = spy.seen
    assert prompts == [p.prompt for p in problems]  # nothing but prompts and texts reach the verifier
    assert sols == [[c.completion.text for c in r.candidates] for r in results]


def test_majority_selects_the_most_common_answer(small, task):
    results = BestOfN(8, selection="majority", temperature=1.0).run(task.problems(), small, None, task.extract, 0)
    for r in results:
        answers = [c.answer for c in r.candidates if c.answer is not None]
        if answers:
            top = max(answers.count(a) for a in answers)
            assert answers.count(r.candidates[r.selected].answer) == top


def test_selection_needing_a_verifier_is_refused_without_one(small, task):
    with pytest.raises(ConfigError, match="needs a verifier"):
        BestOfN(2, selection="weighted_vote").run(task.problems(), small, None, task.extract, 0)


def test_greedy_and_beam_search_budgets_and_costs(small, task):
    problems = task.problems()
    g = Greedy().run(problems, small, None, task.extract, 0)
    b = BeamSearch(width=3).run(problems, small, None, task.extract, 0)
    for gr, br, p in zip(g, b, problems):
        plen = len(small.encode(p.prompt))
        assert gr.budget.amount == 1 and len(gr.candidates) == 1
        assert br.budget.amount == 3 and len(br.candidates) == 3
        assert br.ledger.prompt_tokens == 3 * plen  # HF beam search prefills every beam's prompt copy
        assert br.ledger.generated_tokens >= gr.ledger.generated_tokens


def test_selection_by_verifier_without_one_is_majority_vote(small, task):
    """best_of_n's default rule (selection=verifier) with verifier=none selects as majority vote does, on the
    same pool; the rules that need scores and have no stand-in are still refused."""
    fallback = BestOfN(8, selection="verifier", temperature=1.0)
    assert fallback.verifier_need() is None
    assert (fallback.applied_rule(verified=False), fallback.applied_rule(verified=True)) == ("majority", "verifier")
    assert BestOfN(8, selection="weighted_vote").verifier_need() is not None
    results = fallback.run(task.problems(), small, None, task.extract, 0)
    majority = BestOfN(8, selection="majority", temperature=1.0).run(task.problems(), small, None, task.extract, 0)
    assert [r.selected for r in results] == [r.selected for r in majority]
    assert [[c.completion.text for c in r.candidates] for r in results] == \
        [[c.completion.text for c in r.candidates] for r in majority]
    for r in results:  # here two pools have a vote that neither the first sample nor an argmax of ties would pick
        answers = [c.answer for c in r.candidates]
        assert answers.count(answers[r.selected]) == max(answers.count(a) for a in answers)
