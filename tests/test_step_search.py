"""Step-level search (PRM beam search, DVTS, lookahead): call structure and an exact ledger."""

import pytest

from ttc.contracts.errors import ConfigError
from ttc.contracts.records import Completion, Problem, Verdict
from ttc.strategies.step_search import StepSearch
from ttc.tasks.arith import extract_answer
from ttc.contracts.rundir import read_samples

STEPS = 3  # the fake model writes three steps, then the answer line


class Counting:
    """A fake generator: step k+1 of any prefix (or the answer after STEPS); counts everything it returns."""

    name = "fake"

    def __init__(self):
        self.calls, self.generated, self.computed = [], 0, 0

    def generate(self, prompts, params, seeds):
        self.calls.append((len(prompts), [len(s) for s in seeds], params.temperature))
        out = []
        for prompt, row in zip(prompts, seeds):
            k = prompt.split("A:\n", 1)[1].count("\n")
            cs = []
            for j, s in enumerate(row):
                text = f"{k + 1}. {s % 7}+1={s % 7 + 1}" if k < STEPS else f"Answer: {s % 3}"
                stop = "\n" if k < STEPS else None
                cached = len(prompt) if j else 0
                gen = len(text) + (1 if stop else 0)
                self.generated += gen
                self.computed += len(prompt) - cached
                cs.append(Completion(index=j, seed=s, text=text, prompt_tokens=len(prompt), cached_tokens=cached,
                                     generated_tokens=gen, logprob=-1.0, finish_reason="stop", flops=float(gen),
                                     prompt_flops=0.0, stop_reason=stop))
            out.append(cs)
        return out


class CountingPRM:
    name = "fake-prm"

    def __init__(self):
        self.read = 0

    def verify(self, prompts, solutions):
        out = []
        for p, sols in zip(prompts, solutions):
            row = []
            for s in sols:
                self.read += len(s)
                score = (sum(map(ord, s)) % 97) / 97
                row.append(Verdict(score, tokens=len(s), flops=2.0 * len(s), step_scores=(0.5, score)))
            out.append(row)
        return out


PROBLEMS = [Problem(f"q{i}", f"Q: problem {i}\nA:\n", "0") for i in range(3)]


@pytest.mark.parametrize("kind,lookahead", [("beam", 0), ("dvts", 0), ("beam", 1)])
def test_one_call_per_round_and_an_exact_ledger(kind, lookahead):
    gen, prm = Counting(), CountingPRM()
    strategy = StepSearch(n=8, width=2, kind=kind, lookahead=lookahead)
    results = strategy.run(PROBLEMS, gen, prm, extract_answer, seed=0)
    search = [c for c in gen.calls if c[2] > 0]
    rollouts = [c for c in gen.calls if c[2] == 0]
    assert len(search) == STEPS + 1  # three step rounds and the answer round
    live = 1 if kind == "beam" else 4
    assert search[0] == (3 * live, [8 if kind == "beam" else 2] * (3 * live), 0.8)
    for prompts, fan, _ in search[1:]:  # beam: width beams x n/width; dvts: n/width subtrees x width
        assert prompts == 3 * (2 if kind == "beam" else 4) and set(fan) == {4 if kind == "beam" else 2}
    assert len(rollouts) == (lookahead * STEPS if lookahead else 0)
    assert sum(r.ledger.generated_tokens for r in results) == gen.generated  # rollouts included
    assert sum(r.ledger.prompt_tokens for r in results) == gen.computed
    assert sum(r.ledger.verifier_tokens for r in results) == prm.read
    assert sum(r.ledger.verifier_flops for r in results) == 2.0 * prm.read
    for r in results:
        assert len(r.candidates) == 8
        assert all(c.answer is not None and c.info["steps"] == STEPS + 1 for c in r.candidates)
        best = max(range(len(r.candidates)), key=lambda i: (r.candidates[i].verdict.score))
        assert r.candidates[r.selected].verdict.score == r.candidates[best].verdict.score
        if kind == "dvts":
            assert sorted(c.info["tree"] for c in r.candidates) == sorted([0, 1, 2, 3] * 2)


def test_beam_keeps_the_best_partial_solutions():
    gen, prm = Counting(), CountingPRM()
    StepSearch(n=8, width=2, max_steps=1).run(PROBLEMS[:1], gen, prm, extract_answer, seed=0)
    gen2 = Counting()
    kept = []

    class Spy(CountingPRM):
        def verify(self, prompts, solutions):
            out = super().verify(prompts, solutions)
            kept.append([(s, v.step_scores[-1]) for s, v in zip(solutions[0], out[0])])
            return out

    StepSearch(n=8, width=2, max_steps=2).run(PROBLEMS[:1], gen2, Spy(), extract_answer, seed=0)
    first = sorted(kept[0], key=lambda x: -x[1])[:2]
    second_prefixes = {s.split("\n")[0] for s, _ in kept[1]}
    assert second_prefixes == {s.split("\n")[0] for s, _ in first}  # only the two best were expanded


def test_tree_of_thoughts_proposes_k_per_state_from_the_root_on_and_keeps_the_best():
    gen, prm = Counting(), CountingPRM()
    results = StepSearch(n=8, width=2, kind="tot").run(PROBLEMS, gen, prm, extract_answer, seed=0)
    assert [c[:2] for c in gen.calls] == [(3, [4] * 3)] + [(6, [4] * 6)] * STEPS  # k = 4 proposals per state
    assert all(len(r.candidates) == 8 for r in results)  # the last round's 2 states x 4 proposals complete
    assert sum(r.ledger.generated_tokens for r in results) == gen.generated
    assert StepSearch(n=8, width=2, kind="tot").name == "tot_bfs_w2"


def test_bad_settings_and_no_verifier():
    with pytest.raises(ConfigError, match="strategy.width=3 must be at least 1 and divide strategy.n=8"):
        StepSearch(n=8, width=3)
    with pytest.raises(ConfigError, match="strategy.kind=bfs is not valid"):
        StepSearch(kind="bfs")
    with pytest.raises(ConfigError, match="is guided by a verifier"):
        StepSearch().run(PROBLEMS, Counting(), None, extract_answer, seed=0)


def test_prm_search_lands_in_curves_beside_best_of_n(tmp_path):

    from hydra import compose, initialize_config_dir

    from ttc.harness.cli import CONF_DIR
    from ttc.harness.run import execute

    def run(name, overrides):
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            cfg = compose(config_name="config", overrides=["task.levels=[3]", "task.per_level=2", *overrides])
        rows = execute(cfg, tmp_path / name, quiet=True)
        return rows, read_samples(tmp_path / name)

    bon, _ = run("bon", ["strategy=best_of_n", "strategy.n=4", "verifier=tiny_orm"])
    assert any(r["series"] == "best_of_n" and r["verifier"] == "tiny-orm" and r["budget"] == 4 for r in bon)
    for strategy in ("prm_beam", "dvts", "lookahead", "tot"):
        rows, lines = run(strategy, [f"strategy={strategy}", "strategy.n=4", "strategy.width=2", "verifier=tiny_prm"])
        [row] = [r for r in rows if r["level"] == "all"]
        assert row["verifier"] == "tiny-prm" and row["budget"] == 4 and row["flops_per_problem"] > 0
        assert all(len(x["step_scores"]) == 1 for x in lines)  # the newest step only
        chosen = [x for x in lines if x["selected"]]
        assert row["accuracy"] == sum(x["correct"] for x in chosen) / len(chosen)
        assert all(x["ledger"]["verifier_tokens"] > 0 for x in lines)
