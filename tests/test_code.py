"""The code sandbox and the code tasks on the real HumanEval/EvalPlus files in ../shared/data."""

import os
from pathlib import Path

import pytest

from ttc.contracts.errors import ConfigError
from ttc.sandbox.programs import extract_code, program
from ttc.tasks.code_task import CodeTask
from ttc.sandbox.process import Limits, interpreter, run_many, run_program
from ttc.verifiers.unit_tests import UnitTestVerifier, public_tests

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
FAST = Limits(wall_s=4.0, cpu_s=4, memory_mb=512)

BROKEN = {
    "wrong answer": "def add(a, b):\n    return a - b\nassert add(2, 2) == 4\n",
    "infinite loop": "while True:\n    pass\n",
    "fork bomb": "import os\nwhile True:\n    os.fork()\n",
    "fork bomb (ctypes)": "import ctypes\nlibc = ctypes.CDLL(None)\nfor _ in range(64):\n    libc.fork()\n"
                          "while True:\n    pass\n",
    "memory hog": "x = bytearray(8 * 1024 ** 3)\n",
    "writes outside": "open('/tmp/ttc-sandbox-escape.txt', 'w').write('x')\nassert False\n",  # /tmp is private
    "reads secrets": "import os\nassert os.environ['TTC_TEST_SECRET'] == 'hunter2'\n",
    "kills its parent": "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\n",
}
if interpreter()[1]:  # only as another user is a raw kill(2) of the parent refused; see the sandbox docstring
    BROKEN["kills its parent (ctypes)"] = "import ctypes, os\nctypes.CDLL(None).kill(os.getppid(), 9)\nassert False\n"


def test_broken_programs_all_fail_without_harming_the_run(monkeypatch):
    monkeypatch.setenv("TTC_TEST_SECRET", "hunter2")
    outcomes = run_many(list(BROKEN.values()), FAST, workers=2)
    for name, outcome in zip(BROKEN, outcomes):
        assert not outcome.passed, name
    assert outcomes[1].status == "timeout" and "MemoryError" in outcomes[4].stderr
    assert not os.path.exists("/tmp/ttc-sandbox-escape.txt")
    assert run_program("assert 1 + 1 == 2\n", FAST).passed  # and the run goes on
    leftovers = os.popen("ps -eo args | grep -c '[t]tc-sandbox-program'").read().strip()
    assert leftovers == "0"


def test_canonical_humaneval_solutions_pass_and_wrong_ones_fail():
    task = CodeTask("humaneval", path=str(DATA / "humaneval" / "HumanEval.jsonl.gz"), workers=2)
    problems = task.problems()
    assert len(problems) == 164 and all(p.public().reference == "" for p in problems)
    assert all(task.grade_many([p.metadata["canonical"] for p in problems], problems))
    wrong = [f"def {p.metadata['entry_point']}(*args, **kwargs):\n    return None\n" for p in problems[:20]]
    assert not any(task.grade_many(wrong, problems[:20]))


@pytest.mark.slow
@pytest.mark.parametrize("dataset,file,expected", [
    ("humaneval_plus", "humaneval/HumanEvalPlus.jsonl.gz", 164),
    ("mbpp_plus", "mbpp/MbppPlus.jsonl.gz", 378),
])
def test_canonical_evalplus_solutions_pass(dataset, file, expected):
    task = CodeTask(dataset, path=str(DATA / file), workers=2)
    problems = task.problems()
    passed = task.grade_many([p.metadata["canonical"] for p in problems], problems)
    assert len(problems) == expected
    assert sum(passed) == expected, [p.id for p, ok in zip(problems, passed) if not ok]
    wrong = [f"def {p.metadata['entry_point']}(*args):\n    return None\n" for p in problems[:30]]
    assert not any(task.grade_many(wrong, problems[:30]))


def test_extraction_and_program_assembly():
    assert extract_code("Here:\n```python\ndef f():\n    return 1\n```\nDone") == "def f():\n    return 1\n"
    assert extract_code("    return x + 1\n") == "    return x + 1\n"
    prompt = 'def f(x):\n    """Add one.\n    >>> f(1)\n    2\n    """\n'
    assert program(prompt, "    return x + 1\n", "f") == prompt + "    return x + 1\n"
    assert program(prompt, "def f(x):\n    return x + 1\n", "f").endswith('"""\n\ndef f(x):\n    return x + 1\n')
    with pytest.raises(ConfigError, match="task.dataset=apps is not valid"):
        CodeTask("apps")
    with pytest.raises(ConfigError, match="no such file"):
        CodeTask("humaneval", path="/no/such.jsonl")


def test_unit_test_verifier_reads_only_public_tests_from_the_prompt():
    task = CodeTask("humaneval", path=str(DATA / "humaneval" / "HumanEval.jsonl.gz"), limit=30)
    problems = [p.public() for p in task.problems()]
    with_tests = [p for p in problems if public_tests(p.prompt)]
    assert len(with_tests) >= 20
    right = [p.metadata["canonical"] for p in task.problems() if public_tests(p.prompt)]
    wrong = "    return None\n"
    verdicts = UnitTestVerifier(workers=2).verify([p.prompt for p in with_tests], [[r, wrong] for r in right])
    good = [v[0].score for v in verdicts]
    bad = [v[1].score for v in verdicts]
    assert sum(s == 1.0 for s in good) >= 0.85 * len(good)
    assert sum(g > b for g, b in zip(good, bad)) >= 0.85 * len(good)


def test_evalplus_inputs_get_the_example_calls_types_back():
    task = CodeTask("mbpp_plus", path=str(DATA / "mbpp" / "MbppPlus.jsonl.gz"))
    by_id = {p.id: p for p in task.problems()}
    chosen = [by_id[i] for i in ("Mbpp/106", "Mbpp/124", "Mbpp/580", "Mbpp/737")]  # tuples, complex, nesting, re.Match
    assert all(task.grade_many([p.metadata["canonical"] for p in chosen], chosen))
