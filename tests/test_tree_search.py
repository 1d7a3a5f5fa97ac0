"""REBASE and particle filtering: their allocation and resampling rules, one generator and one verifier call
per round for all problems, an exact ledger (counting fakes), and end to end with the tiny PRM."""

from collections import Counter

import numpy as np
import pytest
from hydra import compose, initialize_config_dir
from test_step_search import PROBLEMS, STEPS, Counting, CountingPRM

from ttc.contracts.errors import ConfigError
from ttc.harness.cli import CONF_DIR
from ttc.harness.run import execute
from ttc.strategies.tree_search import ParticleFilter, Rebase, allocate, logit, resample
from ttc.tasks.arith import extract_answer
from ttc.contracts.rundir import read_samples


def test_rebase_splits_the_width_by_softmax_of_reward_over_temperature():
    assert allocate([0.0, 0.0], 5, 1.0) == [3, 2]  # the remainder goes to the earlier node
    # softmax(2, 0) = (0.881, 0.119): 8.81 and 1.19 of 10
    assert allocate([1.0, 0.0], 10, 0.5) == [9, 1]
    assert allocate([0.9, 0.5, 0.1], 16, 0.1) == [16, 0, 0]  # a low temperature is greedy
    assert allocate([0.9, 0.5, 0.1], 16, 100.0) == [6, 5, 5]  # a high one is uniform
    assert allocate([0.3], 0, 1.0) == [0] and allocate([], 4, 1.0) == []
    rng = np.random.default_rng(0)
    for _ in range(50):
        scores, total = rng.random(5).tolist(), int(rng.integers(1, 40))
        counts = allocate(scores, total, 0.3)
        share = total * np.exp(np.array(scores) / 0.3) / np.exp(np.array(scores) / 0.3).sum()
        assert sum(counts) == total and all(abs(c - s) < 1 for c, s in zip(counts, share))


def test_resampling_is_proportional_and_systematic_keeps_floor_or_ceiling():
    p = np.array([0.5, 0.3, 0.15, 0.05])
    for seed in range(30):
        picks = Counter(resample(np.log(p), 20, "systematic", np.random.default_rng(seed)))
        for i, share in enumerate(20 * p):  # systematic: each count within one of its expectation
            assert np.floor(share) <= picks[i] <= np.ceil(share)
    draws = Counter()
    for seed in range(400):
        draws.update(resample(np.log(p), 20, "multinomial", np.random.default_rng(seed)))
    freq = np.array([draws[i] for i in range(4)]) / 8000
    assert np.abs(freq - p).max() < 0.02  # 8000 draws: standard error <= 0.006
    assert resample([0.0, 0.0], 3, "systematic", np.random.default_rng(1)) == resample(
        [0.0, 0.0], 3, "systematic", np.random.default_rng(1))
    assert logit(0.5) == 0.0 and logit(1.0) == pytest.approx(16.118, abs=1e-3)


def test_rebase_one_call_per_round_children_add_up_and_an_exact_ledger():
    gen, prm = Counting(), CountingPRM()
    results = Rebase(n=8, reward_temperature=0.5).run(PROBLEMS, gen, prm, extract_answer, seed=0)
    assert len(gen.calls) == STEPS + 1  # three step rounds and the answer round, all problems together
    assert gen.calls[0] == (3, [8, 8, 8], 0.8)  # the root sampled n times per problem
    for prompts, fan, _ in gen.calls[1:]:  # nothing completes before the answer: every round spends n
        assert sum(fan) == 3 * 8 and all(k >= 1 for k in fan)
    assert sum(r.ledger.generated_tokens for r in results) == gen.generated
    assert sum(r.ledger.prompt_tokens for r in results) == gen.computed
    assert sum(r.ledger.verifier_tokens for r in results) == prm.read
    for r in results:
        assert len(r.candidates) == 8 and all(c.answer is not None for c in r.candidates)


def test_rebase_follows_the_reward():
    gen = Counting()
    seen = []

    class Spy(CountingPRM):
        def verify(self, prompts, solutions):
            out = super().verify(prompts, solutions)
            seen.append([(s, v.step_scores[-1]) for s, v in zip(solutions[0], out[0])])
            return out

    Rebase(n=8, reward_temperature=0.05, max_steps=2).run(PROBLEMS[:1], gen, Spy(), extract_answer, seed=0)
    best = max(seen[0], key=lambda x: x[1])[0]
    children = [s for s, _ in seen[1]]
    assert sum(s.startswith(best) for s in children) >= 6  # at T=0.05 the best node takes most of the width


def test_particle_filter_one_call_per_round_resamples_and_an_exact_ledger():
    gen, prm = Counting(), CountingPRM()
    results = ParticleFilter(n=8).run(PROBLEMS, gen, prm, extract_answer, seed=0)
    assert len(gen.calls) == STEPS + 1
    for prompts, fan, _ in gen.calls:  # every live particle extended by one step, all problems in one call
        assert prompts == 3 * 8 and set(fan) == {1}
    assert sum(r.ledger.generated_tokens for r in results) == gen.generated
    assert sum(r.ledger.verifier_tokens for r in results) == prm.read
    for r in results:
        assert len(r.candidates) == 8 and all(c.answer is not None for c in r.candidates)
        scores = [c.verdict.score for c in r.candidates]
        assert r.candidates[r.selected].verdict.score == max(scores)
    texts = [c.completion.text for r in results for c in r.candidates]
    assert len(set(texts)) < len(texts), "resampling duplicates the heavier particles"


def test_bad_settings_and_no_verifier():
    with pytest.raises(ConfigError, match="strategy.resampling=stratified is not valid"):
        ParticleFilter(resampling="stratified")
    with pytest.raises(ConfigError, match="strategy.reward_temperature=0 must be positive"):
        Rebase(reward_temperature=0)
    with pytest.raises(ConfigError, match="is guided by a verifier"):
        Rebase().run(PROBLEMS, Counting(), None, extract_answer, seed=0)


@pytest.mark.parametrize("strategy", ["rebase", "particle_filter"])
def test_tree_search_runs_from_ttc_with_the_tiny_prm(tmp_path, strategy):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="config", overrides=["task.levels=[3]", "task.per_level=2", f"strategy={strategy}",
                                                       "strategy.n=4", "verifier=tiny_prm", "logger=none"])
    rows = execute(cfg, tmp_path / strategy, quiet=True)
    [row] = [r for r in rows if r["level"] == "all"]
    assert row["series"] == strategy and row["verifier"] == "tiny-prm" and row["budget"] == 4
    lines = read_samples(tmp_path / strategy)
    chosen = [x for x in lines if x["selected"]]
    assert len(chosen) == 2 and row["accuracy"] == sum(x["correct"] for x in chosen) / 2
    assert all(x["ledger"]["verifier_tokens"] > 0 and x["ledger"]["generated_tokens"] > 0 for x in lines)


class Uneven(Counting):
    """Counting, except that problem q0 reaches its answer after one step (the others after three)."""

    def generate(self, prompts, params, seeds):
        out = super().generate(prompts, params, seeds)
        for prompt, row in zip(prompts, out):
            if "problem 0" in prompt and prompt.split("A:\n", 1)[1].count("\n") >= 1:
                for j, c in enumerate(row):
                    row[j] = type(c)(**{**c.__dict__, "text": f"Answer: {c.seed % 3}", "stop_reason": None})
        return out


def test_a_finished_problem_is_not_resampled_while_others_run():
    alone = ParticleFilter(n=8, resampling="multinomial").run(PROBLEMS[:1], Uneven(), CountingPRM(), extract_answer, 0)
    batched = ParticleFilter(n=8, resampling="multinomial").run(PROBLEMS, Uneven(), CountingPRM(), extract_answer, 0)
    assert [c.completion.text for c in alone[0].candidates] == [c.completion.text for c in batched[0].candidates]
    assert alone[0].selected == batched[0].selected
