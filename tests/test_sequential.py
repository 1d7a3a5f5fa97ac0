"""Sequential test-time compute on the real tiny model: budget forcing, revision chains, self-critique."""

import random

import pytest

from ttc.analysis.sequential import by_attempt
from ttc.contracts.errors import ConfigError
from ttc.contracts.protocols import Strategy, Verifier
from ttc.contracts.records import Verdict
from ttc.strategies.budget_forcing import BudgetForcing
from ttc.strategies.revision import Revision
from ttc.tasks import arith
from ttc.tasks.arith_corpus import corrupt
from ttc.tasks.arith_task import ArithTask
from ttc.verifiers.self_critique import SelfCritiqueVerifier
from ttc.contracts.rundir import read_samples


class Recording:
    """Wraps a generator and records every prompt it is asked to continue (and the params)."""

    def __init__(self, inner):
        self.inner, self.name, self.calls = inner, inner.name, []

    def generate(self, prompts, params, seeds):
        self.calls.append((list(prompts), params))
        return self.inner.generate(prompts, params, seeds)

    def score(self, prompts, continuations):
        return self.inner.score(prompts, continuations)


class Constant:
    """A verifier that always gives the same score (to drive early stopping and critiques)."""

    name = "constant"

    def __init__(self, score):
        self.score = score

    def verify(self, prompts, solutions):
        return [[Verdict(self.score, tokens=3, flops=10.0) for _ in sols] for sols in solutions]


@pytest.fixture(scope="module")
def think_task():
    return ArithTask(levels=[2, 3, 4], per_level=3, mode="think")


def _force(small, task, **kw):
    rec = Recording(small)
    results = BudgetForcing(**kw).run([p.public() for p in task.problems()], rec, None, task.extract, seed=0)
    return results, rec


def test_budget_forcing_caps_thinking_and_forces_the_answer(small, think_task):
    free, _ = _force(small, think_task, max_thinking=400)
    capped, rec = _force(small, think_task, max_thinking=12)
    assert all(r.candidates[0].info["thinking_tokens"] <= 12 for r in capped)
    free_tokens = [r.candidates[0].info["thinking_tokens"] for r in free]
    assert min(free_tokens) > 12  # the cap really cut every trace
    for r in capped:
        c = r.candidates[0]
        assert c.info["cut"] and c.info["waits"] == 0
        assert "\n</think>\nAnswer:" in c.completion.text
    answer_calls = [p for prompts, params in rec.calls if not params.stop for p in prompts]
    assert len(answer_calls) == len(capped) and all(p.endswith("</think>\nAnswer:") for p in answer_calls)


@pytest.mark.parametrize("max_waits", [1, 3])
def test_budget_forcing_suppresses_the_delimiter_and_appends_wait(small, think_task, max_waits):
    free, _ = _force(small, think_task, max_thinking=400)
    forced, _ = _force(small, think_task, max_thinking=400, min_thinking=400, max_waits=max_waits,
                       wait=["Wait", "Wait"])
    ended_open = 0
    for f, g in zip(free, forced):
        natural = f.candidates[0].completion.text.count("Wait")
        c = g.candidates[0]
        if c.info["cut"]:
            continue  # reached the cap before using every wait
        if "</think>" not in c.completion.text:
            ended_open += 1  # the model ended the sequence inside the block: there is no delimiter to replace
            continue
        assert c.info["waits"] == max_waits
        assert c.completion.text.count("Wait") >= natural + max_waits
        assert c.info["thinking_tokens"] > f.candidates[0].info["thinking_tokens"]
        assert c.completion.prompt_tokens > f.candidates[0].completion.prompt_tokens  # prefixes re-read
    assert sum(not g.candidates[0].info["cut"] for g in forced) >= len(forced) // 2
    assert ended_open <= len(forced) // 4


def test_budget_forcing_rejects_impossible_budgets():
    with pytest.raises(ConfigError, match="min_thinking=50 exceeds strategy.max_thinking=10"):
        BudgetForcing(max_thinking=10, min_thinking=50)
    with pytest.raises(ConfigError, match="budget 0 thinking_tokens is impossible"):
        BudgetForcing(max_thinking=0)


def test_revision_chains_show_previous_attempts_and_count_every_prompt(small):
    task = ArithTask(levels=[2, 3], per_level=2)
    rec = Recording(small)
    problems = [p.public() for p in task.problems()]
    strategy = Revision(n=6, parallel=2, window=2)
    assert isinstance(strategy, Strategy) and strategy.name == "revision_p2"
    results = strategy.run(problems, rec, None, task.extract, seed=0)
    assert len(rec.calls) == 3  # one generator call per round for all chains of all problems
    assert [len(p) for p, _ in rec.calls] == [8, 8, 8]
    for r in results:
        assert [c.info["attempt"] for c in r.candidates] == [0, 1, 2, 0, 1, 2]
        assert [c.info["chain"] for c in r.candidates] == [0, 0, 0, 1, 1, 1]
        asked = sum(c.completion.prompt_tokens for c in r.candidates)
        assert r.ledger.prompt_tokens + r.ledger.cached_tokens == asked
    third_round = rec.calls[2][0]
    first = results[0].candidates
    assert third_round[0].count("Previous attempt:") == 2 and first[0].completion.text in third_round[0]
    assert first[1].completion.text in third_round[0] and third_round[0].endswith("Corrected attempt:\n")
    assert "\nA:\n" not in third_round[0]
    grows = [sum(len(small.encode(p)) for p in prompts) for prompts, _ in rec.calls]
    assert grows[0] < grows[1] < grows[2]  # the revision context grows with the window


def test_revision_stops_early_when_the_verifier_is_satisfied(small):
    task = ArithTask(levels=[2], per_level=2)
    problems = [p.public() for p in task.problems()]
    results = Revision(n=4, parallel=1, stop_at=0.9, selection="verifier").run(
        problems, small, Constant(0.95), task.extract, seed=0)
    assert all(len(r.candidates) == 1 for r in results)
    assert all(r.ledger.verifier_tokens == 3 for r in results)
    with pytest.raises(ConfigError, match="needs a verifier"):
        Revision(n=4, selection="verifier").run(problems, small, None, task.extract, seed=0)
    with pytest.raises(ConfigError, match="parallel=3 must divide strategy.n=4"):
        Revision(n=4, parallel=3)


def test_revision_critique_shows_the_verdict(small):
    task = ArithTask(levels=[2], per_level=1)
    rec = Recording(small)
    Revision(n=2, critique=True).run([p.public() for p in task.problems()], rec, Constant(0.1), task.extract, 0)
    assert "Check: no\nCorrected attempt:\n" in rec.calls[1][0][0]


def _right_and_wrong(levels=(1, 2, 3), per_level=10):
    rng = random.Random(0)
    prompts, pairs = [], []
    for level in levels:
        for i in range(per_level):
            p = arith.make_problem("test", level, i)
            prompts.append(arith.prompt(p))
            pairs.append([arith.solution_text(p.steps()), arith.solution_text(corrupt(p, rng))])
    return prompts, pairs


def _p_yes(small, query):
    import math

    yes, no = small.score([query, query], [" yes", " no"])
    return 1.0 / (1.0 + math.exp(no.logprob - yes.logprob))


def test_self_critique_reads_p_yes_after_the_check_prompt(small):
    with pytest.raises(ConfigError, match="verifier.judge is not set"):
        SelfCritiqueVerifier()
    verifier = SelfCritiqueVerifier(small)
    assert isinstance(verifier, Verifier) and verifier.name == "tiny-0.3m-critique-logprob"
    prompts, pairs = _right_and_wrong(levels=(1, 3), per_level=2)
    verdicts = verifier.verify(prompts, pairs)
    for prompt, pair, row in zip(prompts, pairs, verdicts):
        for solution, v in zip(pair, row):
            query = prompt + solution + "Check:"
            assert v.score == pytest.approx(_p_yes(small, query), abs=1e-6)
            # the query is read once and both verdicts are fed from its cache (BranchScorer)
            assert v.tokens == len(small.encode(query)) + len(" yes") + len(" no")
            assert v.flops > 0


@pytest.mark.parametrize("aggregate", ["min", "prod", "last"])
def test_self_critique_step_mode_checks_every_step_prefix(small, aggregate):
    import math

    prompts, pairs = _right_and_wrong(levels=(2, 4), per_level=1)
    verdicts = SelfCritiqueVerifier(small, steps=True, aggregate=aggregate).verify(prompts, pairs)
    for prompt, pair, row in zip(prompts, pairs, verdicts):
        for solution, v in zip(pair, row):
            steps = [line for line in solution.split("\n") if line[:1].isdigit()]
            expected = [_p_yes(small, prompt + "\n".join(steps[:k]) + f"\nCheck {k}:") for k in range(1, len(steps) + 1)]
            # batched, padded scoring vs one prompt at a time: float32 noise of ~1e-6 (seen: 1.2e-6)
            assert v.step_scores == pytest.approx(expected, abs=1e-5)
            want = {"min": min(expected), "prod": math.prod(expected), "last": expected[-1]}[aggregate]
            assert v.score == pytest.approx(want, abs=1e-5)
    newest = SelfCritiqueVerifier(small, steps=True, aggregate=aggregate, last_step_only=True).verify(prompts, pairs)
    for row, full in zip(newest, verdicts):
        for v, w in zip(row, full):
            assert v.step_scores == pytest.approx(w.step_scores[-1:]) and v.tokens < w.tokens
    with pytest.raises(ConfigError, match="verifier.aggregate=median is not valid"):
        SelfCritiqueVerifier(small, aggregate="median")


def test_self_critique_reasons_before_the_verdict_when_asked(small):
    prompts, pairs = _right_and_wrong(levels=(2,), per_level=2)
    rec = Recording(small)
    plain = SelfCritiqueVerifier(small).verify(prompts, pairs)
    reasoned = SelfCritiqueVerifier(rec, reason_tokens=6, verdict_cue="->").verify(prompts, pairs)
    [(asked, params)] = rec.calls
    assert params.temperature == 0.0 and params.max_tokens == 6 and params.stop == ("->",)
    assert len(asked) == 4 and all(q.endswith("Check:") for q in asked)
    for a, b in zip(plain, reasoned):
        for p, r in zip(a, b):
            assert r.tokens > p.tokens  # the check's tokens are read and written on top of the verdict


def test_self_critique_counts_what_it_reads_and_samples(small):
    prompts, pairs = _right_and_wrong(levels=(2,), per_level=3)
    sampled = SelfCritiqueVerifier(small, mode="sample", k=4, max_tokens=2).verify(prompts, pairs)
    for prompt, pair, row in zip(prompts, pairs, sampled):
        for solution, v in zip(pair, row):
            assert v.score in (0.0, 0.25, 0.5, 0.75, 1.0) and v.flops > 0
            query = len(small.encode(prompt + solution + "Check:"))
            assert query < v.tokens <= query + 4 * 2  # the prompt is read once, the k verdicts share it
    again = SelfCritiqueVerifier(small, mode="sample", k=4, max_tokens=2).verify(prompts, pairs)
    assert [[v.score for v in row] for row in again] == [[v.score for v in row] for row in sampled]  # seeded
    with pytest.raises(ConfigError, match="verifier.mode=vote is not valid"):
        SelfCritiqueVerifier(small, mode="vote")
    with pytest.raises(ConfigError, match="reason_tokens=10 must be >= 0 and needs a verdict_cue"):
        SelfCritiqueVerifier(reason_tokens=10)


def _execute(tmp_path, name, overrides):

    from hydra import compose, initialize_config_dir

    from ttc.analysis.outputs import read_csv
    from ttc.harness.cli import CONF_DIR
    from ttc.harness.run import execute

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="config", overrides=["task.per_level=2", "task.levels=[2,3,4]", *overrides])
    execute(cfg, tmp_path / name, quiet=True)
    samples = read_samples(tmp_path / name)
    return samples, read_csv(tmp_path / name / "curves.csv")


def test_sequential_strategies_land_in_curves_beside_best_of_n(tmp_path):
    critique = ["verifier=self_critique"]
    _, bon = _execute(tmp_path, "bon", [*critique, "strategy=best_of_n", "strategy.n=4"])
    assert {(r["series"], r["verifier"]) for r in bon} >= {("best_of_n", "tiny-0.3m-critique-logprob")}
    for parallel, budgets in ((1, {1, 2, 4}), (2, {2, 4})):
        samples, rows = _execute(tmp_path, f"rev{parallel}", [
            *critique, "strategy=revision", "strategy.n=4", f"strategy.parallel={parallel}",
            "strategy.selection=weighted_vote"])
        mine = [r for r in rows if r["series"] == f"revision_p{parallel}" and r["level"] == "all"]
        assert {r["budget"] for r in mine} == budgets
        full = next(r for r in mine if r["budget"] == 4)
        chosen = [s["correct"] for s in samples if s["selected"]]
        assert full["accuracy"] == pytest.approx(sum(chosen) / len(chosen))  # the run's own choice
        assert all(s["verifier_score"] is not None for s in samples)
        flops = [r["flops_per_problem"] for r in sorted(mine, key=lambda r: r["budget"])]
        assert flops == sorted(flops)
        table = {(r["difficulty"], r["attempt"]): r for r in by_attempt(samples)}
        first = [s["correct"] for s in samples if s["info"]["attempt"] == 0]
        assert table[("all", 0)]["accuracy"] == pytest.approx(sum(first) / len(first), abs=1e-4)
        assert table[("all", 3 // parallel)]["n"] == 6 * parallel
    for cap in (8, 64):
        samples, rows = _execute(tmp_path, f"bf{cap}", [
            "verifier=none", "task.mode=think", "strategy=budget_forcing", f"strategy.max_thinking={cap}"])
        [row] = [r for r in rows if r["level"] == "all"]
        assert row["budget_unit"] == "thinking_tokens" and row["budget"] == cap
        assert 0 < row["thinking_tokens_per_problem"] <= cap
        assert all(s["info"]["thinking_tokens"] <= cap for s in samples)


def test_self_critique_refuses_nan_verdicts():
    from ttc.contracts.records import Scored

    class Broken:
        name = "broken"

        def score(self, prompts, continuations):
            return [Scored(logprob=float("nan") if c == " no" else -1.0, tokens=1, flops=1.0)
                    for c in continuations]

    with pytest.raises(ConfigError, match="no finite log-probability"):
        SelfCritiqueVerifier(Broken()).verify(["Q"], [["1. 1+1=2\nAnswer: 2\n"]])
