"""AlphaCode's filter and cluster: the submission rule on a worked example, behaviour signatures from generated
inputs (programs that agree on the public example but not elsewhere are told apart), and n@k in curves.csv."""

import pytest

from ttc.analysis.collect import arm_of
from ttc.analysis.curves import per_problem
from ttc.contracts.clusters import submissions
from ttc.verifiers.unit_tests import UnitTestVerifier, generated_inputs

PROMPT = 'def inc(x):\n    """Add one.\n    >>> inc(1)\n    2\n    """\n'
SOLUTIONS = ["    return x + 1\n", "    return 2\n", "    return x + 1 if x < 100 else 0\n", "    return 1 + x\n",
             "    return x +\n"]


def test_submissions_filter_then_take_the_largest_clusters_first():
    passed = [True, True, False, True, True, False]
    behaviour = ["a", "b", "a", "a", "c", "c"]
    keys = [0.1, 0.9, 0.5, 0.7, 0.2, 0.3]
    # survivors 0, 1, 3, 4: cluster a = {0, 3} (2 members; representative 3, the higher key), then b = {1}, c = {4}
    assert submissions(range(6), passed, behaviour, keys, 10) == [3, 1, 4]
    assert submissions(range(6), passed, behaviour, keys, 1) == [3]
    assert submissions([2, 5], passed, behaviour, keys, 2) == [2, 5]  # none passes: all are clustered (a, c by key)
    assert submissions([0, 2, 5], passed, behaviour, keys, 1) == [0]


@pytest.fixture(scope="module")
def verifier():
    return UnitTestVerifier(timeout_s=10.0, workers=2)


def test_behaviours_tell_apart_programs_the_public_example_cannot(verifier):
    assert generated_inputs(PROMPT, "inc") == ["inc(2)", "inc(0)"]  # 1 + 1, 1 - 1 (and 1 * 2 = 2 again)
    [verdicts] = verifier.verify([PROMPT], [SOLUTIONS])
    assert [v.score for v in verdicts] == [1.0, 1.0, 1.0, 1.0, 0.0]  # the hard-coded answer passes the example
    [sigs] = verifier.behaviours([PROMPT], [SOLUTIONS])
    assert sigs[0] == sigs[2] == sigs[3] != sigs[1]  # the same outputs on the generated inputs, or not
    assert sigs[4] == "crash"


def test_one_and_ten_at_k_come_from_one_pool():
    def line(i, correct, passed, behaviour):
        return {"problem_id": "p", "difficulty": None, "generator": "m", "curve": "pooled", "candidate": i,
                "run_seed": 0, "answer": f"a{i}", "correct": correct, "logprob": -1.0, "generated_tokens": 10,
                "prompt_flops": 1.0, "flops": 2.0, "verifier_flops": 0.0, "verifier_score": float(passed),
                "verifier": "public-tests", "selection": "filter_cluster", "strategy": "best_of_n",
                "budget": 6, "budget_unit": "samples", "info": {"public_pass": passed, "behaviour": behaviour}}
    # the right behaviour "r" is a minority among passing programs: 1@6 misses it, 10@6 submits it
    pool = [line(0, False, True, "w"), line(1, False, True, "w"), line(2, False, True, "w"),
            line(3, True, True, "r"), line(4, False, False, "r"), line(5, False, False, "x")]
    rows = {(r["series"], r["budget"]): r["accuracy"] for r in per_problem(pool)}
    assert rows[("filter_cluster", 6)] == 0.0 and rows[("filter_cluster_10", 6)] == 1.0
    assert rows[("filter_cluster_10", 1)] == pytest.approx(1 / 6)  # one sample: submitted if it is the right one
    assert rows[("oracle_pass_at_n", 6)] == 1.0
    # 1@k is runnable as best-of-k with filter_cluster; 10@k submits ten programs: no one-answer arm reproduces it
    records = {(r["series"], r["budget"]): r for r in per_problem(pool)}
    run_cfg = {"name": "best_of_n", "n": 6, "selection": "filter_cluster"}
    assert arm_of(records[("filter_cluster", 4)], run_cfg) == {**run_cfg, "n": 4}
    assert arm_of(records[("filter_cluster_10", 4)], run_cfg) is None


def test_mbr_under_execution_agreement_picks_the_largest_behaviour(verifier):
    from ttc.contracts.mbr import mbr_pick, utility_matrix

    [sigs] = verifier.behaviours([PROMPT], [SOLUTIONS])
    u = utility_matrix(SOLUTIONS, [None] * 5, "exec", sigs)
    assert u[0][2] == u[0][3] == 1.0 and u[0][1] == 0.0 and u[4][4] == 0.0  # a crash agrees with nothing
    assert mbr_pick(range(5), u, [None] * 5, 0, "p") in (0, 2, 3)
    assert mbr_pick([1, 4], u, [None] * 5, 0, "p") in (1, 4)  # no agreement at all: the seeded tie-break
