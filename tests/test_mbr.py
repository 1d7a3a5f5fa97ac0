"""Minimum Bayes risk and rejection sampling: MBR under answer equality is majority vote (exactly, tie-breaks
included), edit/chrF utilities pick the consensus text, rejection sets unanswered candidates aside, and both
get whole budget curves from one pool."""

import random

import pytest
from hydra import compose, initialize_config_dir

from ttc.contracts.mbr import mbr_pick, utility_matrix
from ttc.contracts.records import Completion, Problem, Verdict
from ttc.contracts.rules import select
from ttc.harness.cli import CONF_DIR
from ttc.harness.run import execute
from ttc.strategies.best_of_n import BestOfN
from ttc.tasks.arith import extract_answer
from ttc.contracts.rundir import read_samples


def test_mbr_with_answer_equality_is_majority_vote_tie_breaks_included():
    rng = random.Random(0)
    for trial in range(500):
        n = rng.randint(1, 9)
        answers = [rng.choice(["1", "2", "3", None]) for _ in range(n)]
        u = utility_matrix([""] * n, answers, "answer")
        want = select("majority", answers, [0.0] * n, [0.0] * n, [1] * n, trial, f"p{trial}")
        assert mbr_pick(range(n), u, answers, trial, f"p{trial}") == want, answers


def test_text_utilities_pick_the_consensus():
    texts = ["1. 3+4=7\nAnswer: 7", "1. 3+4=7\nAnswer: 7 ", "1. 9-2=7\nAnswer: 7", "zzzz"]
    for utility in ("edit", "chrf"):
        u = utility_matrix(texts, [None] * 4, utility)
        assert mbr_pick(range(4), u, [None] * 4, 0, "p") in (0, 1)
        assert 0.0 <= min(min(r) for r in u) and max(max(r) for r in u) <= 1.0


class Pool:
    """A fake generator: sample k of every prompt answers k % 3, or writes no answer when k % 4 == 3."""

    name = "fake"

    def generate(self, prompts, params, seeds):
        return [[Completion(index=j, seed=s, text="no idea" if j % 4 == 3 else f"Answer: {j % 3}\n", prompt_tokens=3,
                            cached_tokens=0, generated_tokens=5, logprob=-1.0, finish_reason="stop", flops=5.0)
                 for j, s in enumerate(row)] for row in seeds]


class FondOfSilence:
    """A fake verifier that scores unanswered solutions highest."""

    name = "fond"

    def verify(self, prompts, solutions):
        return [[Verdict(1.0 if "Answer" not in s else 0.1 * i, tokens=1, flops=1.0) for i, s in enumerate(sols)]
                for sols in solutions]


def test_rejection_sets_unanswered_candidates_aside_before_the_rule():
    p = [Problem("p", "Q\n", "1")]
    [plain] = BestOfN(n=8, selection="verifier").run(p, Pool(), FondOfSilence(), extract_answer, 0)
    [kept] = BestOfN(n=8, selection="verifier", reject=True).run(p, Pool(), FondOfSilence(), extract_answer, 0)
    assert plain.candidates[plain.selected].answer is None
    assert kept.candidates[kept.selected].answer == "0" and kept.selected == 6  # the best-scored answered one
    assert [c.info["rejected"] for c in kept.candidates] == [k % 4 == 3 for k in range(8)]


def _run(tmp_path, name, overrides):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="config", overrides=["task.levels=[2,4]", "task.per_level=5", "logger=none",
                                                       "strategy=best_of_n", "strategy.n=8", *overrides])
    rows = execute(cfg, tmp_path / name, quiet=True)
    return {(r["series"], r["budget"]): r for r in rows if r["level"] == "all"}


def test_mbr_and_rejection_curves_from_one_pool(tmp_path):
    rows = _run(tmp_path, "mbr", ["strategy.selection=mbr_answer", "verifier=none"])
    for k in (1, 2, 4, 8):  # exact over k-subsets (C(8, k) <= 70): equal to majority's exact estimator
        assert rows["mbr_answer", k]["accuracy"] == pytest.approx(rows["majority", k]["accuracy"], abs=1e-6)
        assert rows["mbr_answer", k]["estimator"] == "exact"
    edit = _run(tmp_path, "edit", ["strategy.selection=mbr_edit", "verifier=none"])
    assert {k for s, k in edit if s == "mbr_edit"} == {1, 2, 4, 8}
    rej = _run(tmp_path, "rej", ["strategy.selection=verifier", "strategy.reject=true", "verifier=tiny_orm"])
    for k in (1, 2, 4, 8):  # setting unanswered candidates aside never picks a worse one
        assert rej["best_of_n", k]["accuracy"] >= rej["best_of_n_unfiltered", k]["accuracy"] - 1e-9
    lines = read_samples(tmp_path / "rej")
    chosen = [x for x in lines if x["selected"]]  # at k = n the curve is the run's own choice
    assert rej["best_of_n", 8]["accuracy"] == pytest.approx(sum(x["correct"] for x in chosen) / len(chosen), abs=1e-6)
    assert all((x["answer"] is None) == x["info"]["rejected"] for x in lines)
