"""`ttc curves`: a published pool replayed through ttc's estimators. A pool in search-and-learn's dataset layout
(built here on MATH-500 problems: problem, completions, per-step PRM scores, completion_tokens and its own
pred_* fields) becomes a run directory whose naive (best-of-n by the last step's score), weighted-vote and
majority curves equal a direct computation: the rule the strategies apply (ttc.contracts.rules) on every
n-subset of each problem's completions, averaged."""

import csv
import itertools
import json
import random
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from ttc.analysis.report import build
from ttc.contracts.errors import ConfigError
from ttc.contracts.rules import select
from ttc.harness.cli import CONF_DIR
from ttc.harness.replay import curves_command
from ttc.tasks.math500 import equivalent, last_boxed

MATH500 = Path(__file__).resolve().parents[2] / "shared" / "data" / "math500" / "test.jsonl"
N = 8
WRONG = ["7", "\\frac{1}{3}", "x^2+1", "-2"]


def _sal_rows(rng: random.Random, count: int) -> list[dict]:
    """search-and-learn rows: the dataset's fields, N completions ending in \\boxed{}, step scores per completion,
    and its pred_naive/weighted/maj@n fields computed the way search-and-learn does (first n completions)."""
    rows = [json.loads(x) for x in MATH500.read_text().splitlines()[:count]]
    for row in rows:
        picks = [rng.choice([row["answer"]] * 2 + WRONG) for _ in range(N)]
        row["completions"] = [f"Step 1: think.\n\nStep 2: so the answer is $\\boxed{{{a}}}$." for a in picks]
        row["completions"][rng.randrange(N)] = "Step 1: I am not sure."  # one completion without an answer
        row["scores"] = [[round(rng.random(), 6) for _ in range(rng.randint(1, 3))] for _ in range(N)]
        row["completion_tokens"] = [rng.randint(20, 60) for _ in range(N)]
        row["agg_scores"] = [s[-1] for s in row["scores"]]
        preds = [last_boxed(c) or "" for c in row["completions"]]
        row["preds"] = preds
        for n in (1, 2, 4, 8):
            pr, sc = preds[:n], row["agg_scores"][:n]
            row[f"pred_naive@{n}"] = pr[max(range(n), key=lambda i: sc[i])]
            totals = Counter()
            for p, s in zip(pr, sc):
                totals[p] += s
            row[f"pred_weighted@{n}"] = max(totals, key=totals.get)
            row[f"pred_maj@{n}"] = Counter(pr).most_common(1)[0][0]
    return rows


def _direct(rows: list[dict], rule: str, n: int) -> float:
    """Mean over problems of the share of n-subsets on which the rule's pick is right (answers graded by
    equivalence with the reference, as the task grades them)."""
    total = 0.0
    for row in rows:
        answers = [last_boxed(c) for c in row["completions"]]
        right = [a is not None and equivalent(a, row["answer"]) for a in answers]
        scores = [s[-1] for s in row["scores"]]
        subsets = list(itertools.combinations(range(N), n))
        hits = 0
        for sub in subsets:
            pick = select(rule, [answers[i] for i in sub], [scores[i] for i in sub], [0.0] * n, [1] * n, 0,
                          row["unique_id"])
            if rule == "verifier":  # best-of-n: the picked candidate itself
                hits += right[sub[pick]]
            else:  # a vote: right when its winning answer is (an abstaining pool's pick is wrong)
                winner = answers[sub[pick]]
                hits += winner is not None and any(answers[i] == winner and right[i] for i in range(N))
        total += hits / len(subsets)
    return total / len(rows)


@pytest.fixture(scope="module")
def replayed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("replay")
    rows = _sal_rows(random.Random(3), 12)
    pool = tmp / "sal_best_of_8.jsonl"
    pool.write_text("".join(json.dumps(r) + "\n" for r in rows))
    curves_command(["task=math500", f"task.path={MATH500}", f"pool={pool}", "model=sal-llama-1b",
                    "verifier=rlhflow-prm", "params=1.2e9"], CONF_DIR)
    return rows, tmp / "sal_best_of_8"


def test_a_search_and_learn_pool_replays_to_the_direct_computation(replayed):
    rows, run = replayed
    curves = {(r["series"], int(r["budget"])): r for r in csv.DictReader(open(run / "curves.csv")) if r["level"] == "all"}
    for series, rule in (("best_of_n", "verifier"), ("weighted_vote", "weighted_vote"), ("majority", "majority")):
        for n in (1, 2, 4, 8):
            row = curves[(series, n)]
            assert row["estimator"] == "exact" and int(row["n_problems"]) == 12
            assert float(row["accuracy"]) == pytest.approx(_direct(rows, rule, n), abs=1e-6), (series, n)
            assert row["verifier"] == ("rlhflow-prm" if series != "majority" else "none")
    assert not any(s.startswith("best_of_n_logprob") for s, _ in curves)  # the pool has no log-probabilities
    # compute: 2 x 1.2e9 FLOPs a generated token, the mean completion's tokens times n
    mean_tokens = sum(sum(r["completion_tokens"]) for r in rows) / (12 * N)
    assert float(curves[("majority", 4)]["flops_per_problem"]) == pytest.approx(2 * 1.2e9 * 4 * mean_tokens, rel=1e-5)


def test_the_replayed_pool_is_a_run_the_report_reads(replayed):
    _, run = replayed
    data = build([str(run)], n_bins=3)
    assert data["runs"] == [str(run)] and not data["incomplete"]
    assert {r["series"] for r in data["curves"]} >= {"best_of_n", "weighted_vote", "majority", "oracle_pass_at_n"}
    assert data["calibration"][0]["n_candidates"] == 12 * N


def test_bad_pools_are_one_line(tmp_path):
    pool = tmp_path / "p.jsonl"
    pool.write_text(json.dumps({"unique_id": "test/nowhere/1.json", "completions": ["\\boxed{1}"]}) + "\n")
    with pytest.raises(ConfigError, match=r"problem 'test/nowhere/1.json' is not a problem of task math500"):
        curves_command(["task=math500", f"task.path={MATH500}", f"pool={pool}"], CONF_DIR)
    pool.write_text(json.dumps({"text": "\\boxed{1}"}) + "\n")
    with pytest.raises(ConfigError, match=r"line 1 has no problem id \(one of id, problem_id, unique_id\)"):
        curves_command(["task=math500", f"task.path={MATH500}", f"pool={pool}"], CONF_DIR)
    with pytest.raises(ConfigError, match="agg=median is not one of last, min, prod, mean"):
        curves_command(["task=math500", f"pool={pool}", "agg=median"], CONF_DIR)
    out = subprocess.run([sys.executable, "-m", "ttc.harness.cli", "curves", "task=math500"], capture_output=True,
                         text=True)
    assert out.returncode == 2 and out.stderr.strip().startswith("ttc: error: usage: ttc curves task=NAME pool=FILE.jsonl")


def test_a_pool_of_one_line_per_sample_replays(tmp_path):
    """The flat layout: problem id, the completion (or its answer alone), a score and a log-probability; the
    task grades every completion, and the pool's logprob rules appear."""
    task = ["task=arith", "task.per_level=1", "task.levels=[1,2]"]
    lines = [{"id": "test-L1-0", "text": "4 more.\nAnswer: 12\n", "score": 0.9, "logprob": -1.0, "tokens": 5},
             {"id": "test-L1-0", "text": "Answer: 11\n", "score": 0.2, "logprob": -3.0, "tokens": 3},
             {"id": "test-L1-0", "answer": "11", "score": 0.1, "logprob": -2.0, "tokens": 4},
             {"id": "test-L2-0", "answer": "10", "score": 0.3, "logprob": -0.5, "tokens": 6},
             {"id": "test-L2-0", "text": "no answer here", "score": 0.8, "logprob": -0.1, "tokens": 2},
             {"id": "test-L2-0", "text": "Answer: 10\n", "score": 0.4, "logprob": -0.7, "tokens": 6}]
    pool = tmp_path / "flat.jsonl"
    pool.write_text("".join(json.dumps(x) + "\n" for x in lines))
    curves_command([*task, f"pool={pool}", f"out={tmp_path / 'run'}"], CONF_DIR)
    rows = {(r["series"], int(r["budget"])): float(r["accuracy"])
            for r in csv.DictReader(open(tmp_path / "run" / "curves.csv")) if r["level"] == "all"}
    assert rows[("oracle_pass_at_n", 3)] == 1.0 and rows[("sample", 1)] == pytest.approx((1 / 3 + 2 / 3) / 2, abs=1e-6)
    assert rows[("majority", 3)] == 0.5  # L1: 11 twice beats 12; L2: 10 twice (the unanswered one abstains)
    assert rows[("best_of_n", 3)] == 0.5  # L1: 0.9 picks 12 (right); L2: 0.8 picks the unanswered one (wrong)
    assert rows[("best_of_n_logprob", 3)] == 0.5  # L1: -1.0 picks 12 (right); L2: -0.1 picks the unanswered one
