"""The tiny world's noisy step oracle: it reads the problem from the prompt, labels steps exactly, and its
scores have the step-level AUROC it is set to; search strategies gain from a better one."""

import random

import pytest
from hydra import compose, initialize_config_dir
from scipy.stats import mannwhitneyu

from ttc.contracts.errors import ConfigError
from ttc.harness.cli import CONF_DIR
from ttc.harness.run import execute
from ttc.tasks import arith
from ttc.tasks.arith_oracle import NoisyStepOracle, parse_prompt, step_labels


def _solutions(count=300):
    """(prompt, solution, labels) for right solutions and for ones with one wrong result at a random step."""
    rng, out = random.Random(0), []
    for i in range(count):
        p = arith.make_problem("test", 1 + i % 5, i // 5)
        steps = p.steps()
        out.append((arith.prompt(p), arith.solution_text(steps)))
        at = rng.randrange(len(steps))
        bad = steps[:at] + [arith.Step(steps[at].left, steps[at].op, steps[at].right, steps[at].result + 1)]
        out.append((arith.prompt(p), arith.solution_text(bad)))
    return out


def test_the_prompt_alone_gives_the_problem_and_the_labels_are_exact():
    for level in arith.LEVELS:
        for i in range(10):
            p = arith.make_problem("test", level, i)
            q = parse_prompt(arith.prompt(p))
            assert (q.start, q.events) == (p.start, p.events)
            right = arith.solution_text(p.steps("backward"))
            assert step_labels(q, right) == [True] * (len(p.events) + 1)
            assert step_labels(q, arith.solution_text(p.steps(), answer=p.answer + 1))[-1] is False
            partial = "".join(s.text(k) + "\n" for k, s in enumerate(p.steps()[:1], 1))
            assert step_labels(q, partial) == [True]
    with pytest.raises(ConfigError, match="reads tiny-world prompts only"):
        parse_prompt("Question: what is 2+2?\n")


@pytest.mark.parametrize("quality", [0.6, 0.8, 0.95])
def test_step_scores_have_the_auroc_they_are_set_to(quality):
    oracle = NoisyStepOracle(quality)
    right, wrong = [], []
    for prompt, text in _solutions():
        labels = step_labels(parse_prompt(prompt), text)
        for ok, s in zip(labels, oracle.score_steps(prompt, text)):
            (right if ok else wrong).append(s)
    auroc = mannwhitneyu(right, wrong).statistic / (len(right) * len(wrong))
    assert len(right) > 1000 and len(wrong) > 500
    assert auroc == pytest.approx(quality, abs=0.03)  # ~2000 steps: standard error ~0.013


def test_a_prefix_scores_the_same_alone_and_inside_a_longer_solution():
    oracle = NoisyStepOracle(0.8)
    prompt, text = _solutions(1)[0]
    full = oracle.score_steps(prompt, text)
    first_two = "\n".join(text.split("\n")[:2]) + "\n"
    assert oracle.score_steps(prompt, first_two) == full[:2]
    [[v]] = oracle.verify([prompt], [[text]])
    assert v.score == full[-1] and v.tokens == 0 and v.flops == 0.0
    assert NoisyStepOracle(0.8, seed=1).score_steps(prompt, text) != full
    with pytest.raises(ConfigError, match=r"verifier.quality=1.2 must be in \[0.5, 1\)"):
        NoisyStepOracle(1.2)


def test_beam_search_gains_more_from_a_better_oracle(tmp_path):
    def accuracy(quality):
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            cfg = compose(config_name="config", overrides=[
                "task.levels=[4,5]", "task.per_level=12", "strategy=prm_beam", "strategy.n=8", "strategy.width=2",
                "verifier=noisy_oracle", f"verifier.quality={quality}", "logger=none"])
        rows = execute(cfg, tmp_path / str(quality), quiet=True)
        [row] = [r for r in rows if r["level"] == "all"]
        assert row["verifier"] == f"oracle-auroc{quality:g}"
        return row["accuracy"]

    weak, strong = accuracy(0.55), accuracy(0.99)
    assert strong > weak + 0.15, (weak, strong)
