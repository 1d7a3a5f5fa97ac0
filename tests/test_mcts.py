"""MCTS: PUCT selection and back-propagation against a worked example, the call structure and an exact
ledger with counting fakes, and a run from ttc with the tiny PRM."""


import pytest
from hydra import compose, initialize_config_dir
from test_step_search import PROBLEMS, Counting, CountingPRM

from ttc.contracts.errors import ConfigError
from ttc.harness.cli import CONF_DIR
from ttc.harness.run import execute
from ttc.strategies.mcts import MCTS, Node, backpropagate, most_visited, select_leaf
from ttc.tasks.arith import extract_answer
from ttc.contracts.rundir import read_samples


def test_puct_and_backpropagation_on_a_worked_example():
    """Root with leaves A (prior 0.6, value 0.2) and B (prior 0.4, value 0.9), c = 1, four simulations:
    1. N=0: no exploration term, tie -> higher prior: A.              A: N1 W0.2
    2. A: 0.2 + 0.6*1/2 = 0.50; B: 0 + 0.4*1/1 = 0.40 -> A.          A: N2 W0.4
    3. A: 0.2 + 0.6*1.414/3 = 0.483; B: 0.4*1.414 = 0.566 -> B.     B: N1 W0.9
    4. A: 0.2 + 0.6*1.732/3 = 0.546; B: 0.9 + 0.4*1.732/2 = 1.246 -> B. B: N2 W1.8
    """
    root = Node("", [])
    a, b = Node("A", [], prior=0.6, parent=root), Node("B", [], prior=0.4, parent=root)
    root.children = [a, b]
    values = {"A": 0.2, "B": 0.9}
    order = []
    for k in range(4):
        leaf = select_leaf(root, 1.0)
        order.append(leaf.text)
        backpropagate(leaf, values[leaf.text], k)
    assert order == ["A", "A", "B", "B"]
    assert (a.visits, b.visits, root.visits) == (2, 2, 4)
    assert a.q == pytest.approx(0.2) and b.q == pytest.approx(0.9) and root.value == pytest.approx(2.2)
    assert most_visited(root) is b and b.rollouts == [2, 3] and root.rollouts == [0, 1, 2, 3]


def test_each_simulation_is_two_generator_and_two_verifier_calls_with_an_exact_ledger():
    gen = Counting()
    calls = []

    class Spy(CountingPRM):
        def verify(self, prompts, solutions):
            calls.append([len(s) for s in solutions])
            return super().verify(prompts, solutions)

    spy = Spy()
    results = MCTS(simulations=5, expand=2).run(PROBLEMS, gen, spy, extract_answer, seed=0)
    sampled = [c for c in gen.calls if c[2] > 0]
    rollouts = [c for c in gen.calls if c[2] == 0]
    assert len(sampled) == 5 and len(rollouts) <= 5  # a complete pick needs no rollout
    assert all(p <= 3 and set(f) <= {2} for p, f, _ in sampled)
    priors = [c for c in calls if set(c) == {2}]  # the new children's priors: expand=2 per problem
    values = [c for c in calls if set(c) == {1}]  # one rollout or complete node per problem not valued before
    assert len(priors) + len(values) == len(calls) and len(values) <= 5 and all(len(c) <= 3 for c in values)
    assert sum(r.ledger.generated_tokens for r in results) == gen.generated
    assert sum(r.ledger.verifier_tokens for r in results) == spy.read
    assert sum(len(r.candidates) for r in results) == sum(len(c) for c in values)  # one per valuation
    by_value = MCTS(simulations=5, expand=2, selection="value").run(PROBLEMS, Counting(), CountingPRM(),
                                                                  extract_answer, seed=0)
    for r in by_value:
        assert r.candidates[r.selected].verdict.score == max(c.verdict.score for c in r.candidates)
    with pytest.raises(ConfigError, match="strategy.selection=best is not valid"):
        MCTS(selection="best")
    with pytest.raises(ConfigError, match="is guided by a verifier"):
        MCTS().run(PROBLEMS, Counting(), None, extract_answer, seed=0)


def test_a_complete_node_selected_again_is_not_valued_again():
    prm = CountingPRM()
    root = Node("", [])
    leaf = Node("1. 2+2=4\nAnswer: 4", [], prior=0.9, complete=True, parent=root)
    root.children = [leaf]
    cands = [[]]
    from ttc.contracts.records import Ledger

    ledgers = [Ledger()]
    for _ in range(3):
        MCTS()._simulate(PROBLEMS[:1], Counting(), prm, [leaf], cands, ledgers)
    assert len(cands[0]) == 1 and leaf.visits == 3 and root.visits == 3  # valued once, back-propagated thrice
    assert leaf.rollouts == [0, 0, 0] and prm.read == len(leaf.text) and ledgers[0].verifier_tokens == prm.read
    assert leaf.q == pytest.approx(cands[0][0][2].score)


def test_mcts_runs_from_ttc_with_the_tiny_prm(tmp_path):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="config", overrides=["task.levels=[3]", "task.per_level=2", "strategy=mcts",
                                                       "strategy.simulations=4", "verifier=tiny_prm", "logger=none"])
    rows = execute(cfg, tmp_path / "m", quiet=True)
    [row] = [r for r in rows if r["level"] == "all"]
    assert row["series"] == "mcts" and row["budget"] == 4 and row["budget_unit"] == "simulations"
    lines = read_samples(tmp_path / "m")
    assert len(lines) == 2 * 4 and all(x["ledger"]["verifier_tokens"] > 0 for x in lines)
