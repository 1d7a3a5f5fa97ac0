"""The tiny PRM's labels come from rollouts (never the grader at inference), and its quality metrics are right."""

import importlib.util
from pathlib import Path

import pytest

from ttc.contracts.records import Completion
from ttc.tasks import arith

spec = importlib.util.spec_from_file_location("train_prm", Path(__file__).parents[1] / "scripts" / "train_prm.py")
train_prm = importlib.util.module_from_spec(spec)
spec.loader.exec_module(train_prm)


class Rollouts:
    """Continues any prefix with a fixed text: the right remaining steps when `fix`, else a wrong answer."""

    def __init__(self, problem, fix):
        self.problem, self.fix, self.asked = problem, fix, []

    def generate(self, prompts, params, seeds):
        self.asked += prompts
        steps = self.problem.steps()
        out = []
        for prompt, row in zip(prompts, seeds):
            done = prompt.count("\n") - arith.prompt(self.problem).count("\n")
            right = "".join(s.text(k) + "\n" for k, s in enumerate(steps[done:], done + 1)) + f"Answer: {self.problem.answer}\n"
            text = right if self.fix(done) else "Answer: -1\n"
            out.append([Completion(j, s, text, 1, 0, 1, 0.0, "stop", 1.0) for j, s in enumerate(row)])
        return out


def test_step_labels_are_whether_any_rollout_reaches_the_answer():
    p = arith.make_problem("train", 3, 0)
    wrong = arith.solution_text(p.steps()[:2] + [p.steps()[2]], answer=p.answer + 1)
    right = arith.solution_text(p.steps())
    policy = Rollouts(p, fix=lambda done: done <= 1)  # from the first step the policy recovers, later it does not
    examples = train_prm.label(policy, [p], [[right, wrong]], rollouts=2, seed=0)
    whole = [e["good"] for e in examples if e["query"] == "Check:"]
    assert whole == [True, False]  # the outcome label: whether the solution's own answer is right
    of_right = {e["query"]: e["good"] for e in examples[1:4]}
    of_wrong = {e["query"]: e["good"] for e in examples[5:]}
    assert of_right == {"Check 1:": True, "Check 2:": True, "Check 3:": True}
    assert of_wrong == {"Check 1:": True, "Check 2:": False, "Check 3:": False}  # recoverable only from step 1
    assert len(policy.asked) == 3 and all(a.endswith("\n") for a in policy.asked)  # rollouts only where needed


def test_auroc_and_prefixes():
    assert train_prm.auroc([0.9, 0.8, 0.1], [True, True, False]) == 1.0
    assert train_prm.auroc([0.5, 0.5], [True, False]) == 0.5
    assert train_prm.auroc([0.1, 0.9], [True, False]) == 0.0
    assert train_prm._within([0.9, 0.1, 0.2, 0.8], [True, False, True, False], [1, 1, 2, 2]) == pytest.approx(0.5)
    assert train_prm.step_prefixes("1. 2+3=5\n2. 5-1=4\nAnswer: 4\n") == ["1. 2+3=5\n", "1. 2+3=5\n2. 5-1=4\n"]
